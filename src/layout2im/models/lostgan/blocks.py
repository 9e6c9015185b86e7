"""The generator's stages: an upsampling residual block with ISLA-Norm, and the heads that
predict each stage's semantic masks.

:class:`ISLAResBlock` (the authors' ``ResBlock`` in ``model/resnet_generator_v2.py``)::

    residual = conv2(relu(norm2(conv1(up(relu(norm1(x)))))))
    out      = residual + shortcut(up(x))

with ``up`` nearest-neighbour x2 upsampling (``F.interpolate(scale_factor=2,
mode="nearest")``, the same rule in every PyTorch version), 3 x 3 convolutions ``conv1``,
``conv2`` and the 1 x 1 ``shortcut`` under the classic spectral norm with eps 1e-4 (the
authors' ``conv2d`` helper), and both norms ISLA-Norms on the same object masks.

A mask head turns a block's output into logits for each of ``mask_classes`` (184) semantic
classes: :class:`MaskHead` (3 x 3 conv, BatchNorm, ReLU, 1 x 1 conv) after every block but the
last, :class:`PyramidMaskHead` (pyramid pooling, 1 x 1 conv) after the fourth block of the 128
generator. The convolutions of the heads are plain (no spectral norm), with biases.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..spectral_norm import spectral_norm
from .isla_norm import ISLANorm
from .psp import PyramidPooling

#: eps of the spectral norm in the authors' ``conv2d`` helper (the generator's convolutions).
CONV_SN_EPS = 1e-4


def sn_conv(in_channels: int, out_channels: int, kernel_size: int) -> nn.Conv2d:
    """A same-padded convolution with bias under the classic spectral norm, eps 1e-4."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, 1, kernel_size // 2)
    return spectral_norm(conv, "classic", eps=CONV_SN_EPS)


def upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class ISLAResBlock(nn.Module):
    """Doubles the resolution: (B, in_channels, H, W) -> (B, out_channels, 2H, 2W)."""

    def __init__(self, in_channels: int, out_channels: int, latent_dim: int):
        super().__init__()
        self.norm1 = ISLANorm(in_channels, latent_dim)
        self.conv1 = sn_conv(in_channels, out_channels, 3)
        self.norm2 = ISLANorm(out_channels, latent_dim)
        self.conv2 = sn_conv(out_channels, out_channels, 3)
        self.shortcut = sn_conv(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, latents: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """x: (B, in_channels, H, W); latents: (B, O, latent_dim); masks: (B, O, h, w) in
        [0, 1], resized by each norm to its input. Returns (B, out_channels, 2H, 2W)."""
        h = upsample(F.relu(self.norm1(x, latents, masks)))
        h = self.conv2(F.relu(self.norm2(self.conv1(h), latents, masks)))
        return h + self.shortcut(upsample(x))


class MaskHead(nn.Module):
    """(B, in_channels, H, W) -> (B, mask_classes, H, W) logits."""

    def __init__(self, in_channels: int, hidden: int, mask_classes: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, hidden, 3, 1, 1)
        self.norm = nn.BatchNorm2d(hidden)
        self.classify = nn.Conv2d(hidden, mask_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(F.relu(self.norm(self.conv(x))))


class PyramidMaskHead(nn.Module):
    """(B, in_channels, H, W) -> (B, mask_classes, H, W) logits, through pyramid pooling."""

    def __init__(self, in_channels: int, hidden: int, mask_classes: int):
        super().__init__()
        self.pyramid = PyramidPooling(in_channels, hidden)
        self.classify = nn.Conv2d(hidden, mask_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.pyramid(x))
