"""The metric registry shared by the CLI and by evaluation during training.

A metric is a class registered under a name with :func:`register_metric`. It declares
``requires`` (the networks / files it needs, for the table and the JSON) and
``samples_per_layout`` (images it needs per layout beyond the protocol's, e.g. 2 for
diversity), and implements ``compute(ctx) -> dict[str, float]`` of named numbers. A metric
whose files are absent raises :class:`MetricSkipped` (or lets ``MissingWeightsError``
through); the runner records it as skipped with the reason and carries on.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from ..errors import Layout2ImError, quote

if TYPE_CHECKING:
    from .context import EvalContext


class MetricSkipped(Exception):
    """The metric cannot run here; the message is the reason recorded in the results."""


class UnknownMetricError(Layout2ImError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class Metric:
    """Base class: subclasses set ``name`` (by :func:`register_metric`), ``description``,
    ``requires`` and implement :meth:`compute`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    samples_per_layout: ClassVar[int] = 1

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        raise NotImplementedError


_REGISTRY: dict[str, type[Metric]] = {}

# the modules whose metrics are built in (a new metric family adds its module here)
BUILTIN_MODULES = (
    "fid",
    "diversity",
    "fidelity",
    "inception_score",
    "object_accuracy",
    "object_colours",
    "scene_fid",
)


def register_metric(name: str) -> Callable[[type[Metric]], type[Metric]]:
    """Class decorator: register ``cls`` under ``name`` (names are unique)."""

    def wrap(cls: type[Metric]) -> type[Metric]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"metric {quote(name)} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def _ensure_builtin() -> None:
    """Import the modules of :data:`BUILTIN_MODULES`: importing one registers its metrics.
    Done on first use rather than at import time because those modules import this one."""
    for module in BUILTIN_MODULES:
        importlib.import_module(f"{__package__}.{module}")


def get_metric(name: str) -> Metric:
    """A new instance of the metric registered as ``name``."""
    _ensure_builtin()
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise UnknownMetricError(
            f"unknown metric {quote(name)}; metrics: {', '.join(metric_names())}"
        ) from None


def metric_names() -> list[str]:
    _ensure_builtin()
    return list(_REGISTRY)
