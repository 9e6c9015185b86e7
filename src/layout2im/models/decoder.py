"""Image decoder: the fused layout feature map -> an image.

Residual blocks (conv3x3-BN-ReLU-conv3x3-BN plus identity, no conv bias), a 3x3 conv widening
with BN and ReLU, stride-2 4x4 transposed convolutions each with BN and ReLU, and a final 7x7
conv with bias to 3 channels. There is **no tanh**: outputs live in ImageNet-normalised space.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ImageDecoder(nn.Module):
    def __init__(self, in_channels: int, num_res_blocks: int, channels: list[int]):
        super().__init__()
        self.res_blocks = nn.Sequential(
            *(ResidualBlock(in_channels) for _ in range(num_res_blocks))
        )
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, channels[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(),
        ]
        for c_in, c_out in itertools.pairwise(channels):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
        layers.append(nn.Conv2d(channels[-1], 3, 7, padding=3, bias=True))
        self.up = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h: (B, C, h, w) fused layout features. Returns images (B, 3, h*2^k, w*2^k)."""
        return self.up(self.res_blocks(h))
