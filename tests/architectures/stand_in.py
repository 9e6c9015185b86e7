"""A tiny stand-in architecture, registered by tests to show that a second architecture needs
no edit to the pipeline, the editor, the CLI or evaluation.

It has what Layout2Im lacks (an image code, per-object masks, truncated-normal codes, a tanh
output with its own pixel rule) and lacks what Layout2Im has (style from a photo, training).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from layout2im.architectures import (
    IMAGE_CODE,
    OBJECT_CODE,
    Architecture,
    Capabilities,
    LatentCode,
    LatentCodes,
)
from layout2im.config import ConfigError
from layout2im.layout import LayoutBatch
from layout2im.seeding import Normal

NAME = "stand-in"


@dataclass
class StandInConfig:
    image_size: int = 16
    num_classes: int = 10
    z_dim: int = 4
    image_z_dim: int = 3
    channels: int = 8


def config_from_dict(data: dict) -> StandInConfig:
    names = {f.name for f in dataclasses.fields(StandInConfig)}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"model.{key}: unknown key")
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 64:
            raise ConfigError(f"model.{key} must be an integer between 1 and 64, got {value!r}")
    return StandInConfig(**data)


def box_masks(boxes: torch.Tensor, valid: torch.Tensor, size: int) -> torch.Tensor:
    """(B, O, size, size) in {0, 1}: each box (B, O, 4, normalised xyxy) filled; padding 0."""
    centres = (torch.arange(size, device=boxes.device, dtype=torch.float32) + 0.5) / size
    x0, y0, x1, y1 = (boxes[..., i, None] for i in range(4))
    inside_x = (centres >= x0) & (centres < x1)  # (B, O, W)
    inside_y = (centres >= y0) & (centres < y1)  # (B, O, H)
    masks = inside_y[..., :, None] & inside_x[..., None, :]
    return (masks & valid[..., None, None]).float()


class StandInGenerator(nn.Module):
    """Category embedding and code per box, summed through the box masks, two convolutions,
    plus the image code as a per-channel bias; tanh output."""

    def __init__(self, config: StandInConfig):
        super().__init__()
        self.config = config
        c = config.channels
        self.embedding = nn.Embedding(config.num_classes, c)
        self.objects = nn.Linear(c + config.z_dim, c)
        self.background = nn.Linear(config.image_z_dim, c)
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.to_rgb = nn.Conv2d(c, 3, 3, padding=1)

    def forward(
        self, layout: LayoutBatch, z: torch.Tensor, image_z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        masks = box_masks(layout.boxes, layout.mask, self.config.image_size)
        vectors = self.objects(torch.cat([self.embedding(layout.labels), z], -1))  # (B, O, C)
        maps = torch.einsum("boc,bohw->bchw", vectors, masks)
        h = torch.relu(self.conv(maps) + self.background(image_z)[:, :, None, None])
        return torch.tanh(self.to_rgb(h)), masks


def generate(generator, layout, codes):
    return generator(layout, codes[OBJECT_CODE], codes[IMAGE_CODE])


def to_uint8(images: torch.Tensor, rescale: str) -> np.ndarray:
    x = images.detach().float().cpu() * 0.5 + 0.5
    if rescale == "minmax":
        lo = x.amin(dim=(1, 2, 3), keepdim=True)
        x = (x - lo) / (x.amax(dim=(1, 2, 3), keepdim=True) - lo).clamp_min(1e-8)
    x = (x.clamp(0, 1) * 255.0).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def _state_size(config: StandInConfig) -> int:
    with torch.device("meta"):
        return sum(t.numel() for t in StandInGenerator(config).state_dict().values())


def _parameters(config: StandInConfig) -> dict[str, int]:
    with torch.device("meta"):
        return {"generator": sum(p.numel() for p in StandInGenerator(config).parameters())}


TRUNCATED = Normal(2.0)

ARCHITECTURE = Architecture(
    name=NAME,
    description="a few convolutions, for tests",
    config_from_dict=config_from_dict,
    config_to_dict=dataclasses.asdict,
    build_generator=StandInGenerator,
    state_size=_state_size,
    parameter_counts=_parameters,
    latent_codes=lambda c: LatentCodes(
        objects=LatentCode(OBJECT_CODE, c.z_dim, TRUNCATED),
        image=LatentCode(IMAGE_CODE, c.image_z_dim, TRUNCATED),
    ),
    generate=generate,
    to_uint8=to_uint8,
    rescale_modes=("clamp", "minmax"),
    default_rescale=lambda c: "minmax",
    image_size=lambda c: c.image_size,
    num_classes=lambda c: c.num_classes,
    capabilities=Capabilities(masks=True, image_code=True),
    object_limit=16,
)
