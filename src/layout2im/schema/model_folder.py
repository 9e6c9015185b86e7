"""The metadata of a model folder: its ``config.json``.

::

    {"format": "layout2im", "format_version": 2,
     "architecture": "layout2im",          # a registered architecture (layout2im.architectures)
     "model": {...},                       # that architecture's model config
     "max_objects": 8,                     # objects per image the model was trained with
     "data": {"preset": "paper-coco64",    # the data it was trained on: the preset, if any,
              "config": {...}},            #   and the data section of the config
     "provenance": {...}}                  # optional: conversion, averaging

Version 1 (folders written before architectures were registered: the shipped ``shapes32``,
training exports, ``convert-original``) has neither ``architecture`` nor ``data``: it is read
as ``layout2im``, with the data unknown. Other versions and unknown keys are refused, so a
folder from a newer release is never half-understood.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

FORMAT = "layout2im"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MAX_LAYOUT_OBJECTS = 128
"""Most objects per image a model folder may declare (as ``data.max_objects`` is bounded)."""


class TrainedData(BaseModel):
    """The data a model was trained on: ``config`` is the config's ``data`` section (what
    ``evaluate --model`` scores against); ``preset`` names the preset it came from, if any."""

    model_config = ConfigDict(extra="forbid")

    preset: StrictStr | None = None
    config: dict[str, Any]


class ModelFolderMeta(BaseModel):
    """A model folder's ``config.json`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["layout2im"]
    format_version: StrictInt
    architecture: StrictStr = "layout2im"
    model: dict[str, Any] = Field(default_factory=dict)
    max_objects: StrictInt = Field(8, ge=1, le=MAX_LAYOUT_OBJECTS)
    data: TrainedData | None = None
    provenance: Any = None

    @field_validator("format_version")
    @classmethod
    def _readable(cls, value: int) -> int:
        if value not in READABLE_VERSIONS:
            raise ValueError(
                f"format_version {value} is not one this version of layout2im reads "
                f"({', '.join(map(str, READABLE_VERSIONS))}); a newer layout2im wrote it"
            )
        return value

    def to_json(self) -> dict[str, Any]:
        """The JSON object written as ``config.json`` (unset optional keys left out)."""
        return self.model_dump(exclude_none=True)
