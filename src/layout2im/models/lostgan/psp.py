"""Pyramid pooling (Zhao et al., "Pyramid Scene Parsing Network", CVPR 2017), as the authors'
``PSPModule`` in ``model/resnet_generator_v2.py``.

The features are average-pooled to 1 x 1, 2 x 2, 3 x 3 and 6 x 6 (``nn.AdaptiveAvgPool2d``),
each pooled map goes through a 1 x 1 convolution (no bias), a BatchNorm and a ReLU and is
resized back with ``F.interpolate(mode="bilinear", align_corners=True)`` (the original passes
``align_corners=True``); the four maps and the features are concatenated and a 3 x 3
convolution (no bias), a BatchNorm, a ReLU and ``Dropout2d(0.1)`` (identity in eval mode) give
``out_channels`` features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

POOL_SIZES = (1, 2, 3, 6)


class PyramidPooling(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, sizes: tuple[int, ...] = POOL_SIZES):
        super().__init__()
        self.pools = nn.ModuleList(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(size),
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(),
            )
            for size in sizes
        )
        self.fuse = nn.Sequential(
            nn.Conv2d(
                in_channels + len(sizes) * out_channels, out_channels, 3, padding=1, bias=False
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Dropout2d(0.1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_channels, H, W). Returns (B, out_channels, H, W)."""
        size = x.shape[-2:]
        priors = [
            F.interpolate(pool(x), size=size, mode="bilinear", align_corners=True)
            for pool in self.pools
        ]
        return self.fuse(torch.cat([*priors, x], dim=1))
