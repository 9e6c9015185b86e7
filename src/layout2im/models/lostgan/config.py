"""The sizes of a LostGAN-v2 generator (Sun and Wu, TPAMI 2021; WillSuen/LostGANs).

The defaults are the authors' ``ResnetGenerator128`` for COCO-Stuff;
:meth:`LostGANConfig.for_dataset` gives the four released combinations (COCO-Stuff or Visual
Genome, 128 or 256). ``channels`` is the authors' width multiplier ``ch`` (64): the blocks have
``16ch, 16ch, 8ch, 4ch, 2ch, ch`` channels at 128 and ``16ch, 16ch, 8ch, 8ch, 4ch, 2ch, ch`` at
256; tests use a small value.

The layout rules of the authors' data loaders are part of the config, because the trained
weights expect them:

- ``object_slots``: the loaders pad every layout to this many objects (8 for COCO-Stuff, 31 for
  Visual Genome), each padding object with label 0 (``__image__``) and the box
  ``PADDING_BOX``, which lies outside the image.
- ``image_object``: the Visual Genome loader puts one ``__image__`` object with the box
  ``[0, 0, 1, 1]`` after the real objects (so at most ``object_slots - 1`` real ones); the
  COCO-Stuff loader does not.
- ``box_dtype``: the COCO-Stuff loader hands the boxes over as float64 (numpy), the Visual
  Genome loader as float32; the mask pasting computes its sampling grid in that precision
  (see :mod:`.box_maps`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: ``[x0, y0, w, h]`` of the padding objects of the authors' loaders: entirely outside the image.
PADDING_BOX = (-0.6, -0.6, 0.5, 0.5)
#: The row of ``__image__`` in both vocabularies (the padding objects' label).
IMAGE_LABEL = 0

DATASET_CLASSES = {"coco": 184, "vg": 179}
DATASET_SLOTS = {"coco": 8, "vg": 31}


class LostGANConfig(BaseModel):
    """One LostGAN-v2 generator's sizes and its data's layout rules (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resolution: Literal[128, 256] = 128
    num_classes: int = Field(184, ge=2, description="rows of the label embedding")
    z_dim: int = Field(128, ge=1, description="per-object and image code size")
    embedding_dim: int = Field(180, ge=1, description="label embedding size")
    channels: int = Field(64, ge=1, description="the authors' width multiplier ch")
    mask_classes: int = Field(
        184, ge=2, description="rows of the stage mask heads and blend weights (184 for VG too)"
    )
    mask_map_size: int = Field(64, ge=4, description="side of the pasted box-mask map")
    mask_channels: int = Field(256, ge=1, description="width of the mask regression network")
    mask_head_channels: int = Field(100, ge=1, description="width of the stage mask heads")
    object_slots: int = Field(8, ge=1, description="objects per layout after padding")
    image_object: bool = Field(False, description="add an __image__ object over the image")
    box_dtype: Literal["float64", "float32"] = "float64"

    @property
    def latent_dim(self) -> int:
        """Per-object vector the ISLA norms and the mask regression read: code + embedding."""
        return self.z_dim + self.embedding_dim

    @property
    def block_channels(self) -> tuple[int, ...]:
        """Input width of each upsampling block, then the output width of the last."""
        c = self.channels
        if self.resolution == 128:
            return (16 * c, 16 * c, 8 * c, 4 * c, 2 * c, c)
        return (16 * c, 16 * c, 8 * c, 8 * c, 4 * c, 2 * c, c)

    @property
    def num_blocks(self) -> int:
        return len(self.block_channels) - 1

    @property
    def box_mask_size(self) -> int:
        """Side of the binary box rectangles: half the image (64 at 128, 128 at 256)."""
        return self.resolution // 2

    @property
    def max_real_objects(self) -> int:
        """Most objects a layout may bring before the slots are full."""
        return self.object_slots - (1 if self.image_object else 0)

    @classmethod
    def for_dataset(cls, dataset: str, resolution: int = 128, **sizes) -> LostGANConfig:
        """The authors' generator for ``dataset`` (``coco`` or ``vg``) at ``resolution``."""
        if dataset not in DATASET_CLASSES:
            raise ValueError(f"dataset must be coco or vg, got {dataset!r}")
        return cls(
            resolution=resolution,
            num_classes=DATASET_CLASSES[dataset],
            object_slots=DATASET_SLOTS[dataset],
            image_object=dataset == "vg",
            box_dtype="float64" if dataset == "coco" else "float32",
            **sizes,
        )
