"""Baseline generators derived from a trained one, for what-does-this-part-add comparisons.

:class:`ZeroLatentGenerator` is the trained generator with every object code replaced by zero
(the prior's mean): a deterministic layout-to-image model. Evaluated beside the real model it
shows what the latent path adds: its diversity is zero by construction, and re-generating an
image from the estimated codes of its objects cannot carry their colour over.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from ..layout import LayoutBatch


class ZeroLatentGenerator(nn.Module):
    """``generator`` with ``z = 0`` for every object.

    Exposes what the evaluation harness uses of a :class:`Layout2ImGenerator`: ``config``,
    ``decode`` (codes ignored) and ``encode_objects`` (the wrapped estimator, unchanged, so a
    reconstruction still estimates codes, which ``decode`` then drops). ``train``/``eval``
    reach the wrapped generator.
    """

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    @property
    def config(self) -> ModelConfig:
        return self.generator.config

    def encode_objects(
        self, images: torch.Tensor, layout: LayoutBatch
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """As :meth:`Layout2ImGenerator.encode_objects`: crops (N, 3, S, S), mu, logvar."""
        return self.generator.encode_objects(images, layout)

    def decode(self, layout: LayoutBatch, z: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W), ImageNet-normalised, from ``layout`` alone; ``z`` (N, z_dim)
        only gives the shape of the zero codes used instead."""
        return self.generator.decode(layout, torch.zeros_like(z))
