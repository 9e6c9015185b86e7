"""SNGAN-style ResNet discriminators with spectral norm on every conv and linear layer
(classic or modern iteration order, see :mod:`.spectral_norm`).

Image D: an optimised first block and down blocks (64-128-256-512-1024, 64 -> 2), ReLU, sum
pooling, linear to one logit without bias. Object D: the same body on 32x32 crops whose first
block does not downsample, with a real/fake head (``src``) and an auxiliary classifier.

A trap kept from the original: its down blocks start with an in-place ReLU, so the learnable
shortcut sees ReLU(x), not x. :class:`DownBlock` computes exactly that.

Fast path ``pooled_convolutions`` (see :mod:`.computation`): a 3x3 convolution (padding 1)
followed by 2x2 average pooling is one stride-2 4x4 convolution whose kernel is the 3x3 kernel
convolved with the 2x2 averaging box (16 taps per output instead of 4 x 9), and the 1x1 shortcut
commutes with average pooling, so it runs on the pooled map (4x fewer positions). On inputs
smaller than :data:`MIN_POOLED_SIZE` the two-step form is kept (faster there on CPUs).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from .computation import FastPathsMixin
from .spectral_norm import spectral_norm as _sn

# Inputs at least this wide take the fused conv+pool (a CPU measurement: oneDNN's strided 4x4
# convolutions are slower than 3x3 + pooling on 4x4 inputs, faster from 8x8 up).
MIN_POOLED_SIZE = 8


def pooled_kernel(weight: torch.Tensor) -> torch.Tensor:
    """The 4x4 kernel of ``avg_pool2d(conv2d(x, weight, padding=1), 2)`` as one convolution
    with stride 2 and padding 1. weight: (C_out, C_in, 3, 3). Returns (C_out, C_in, 4, 4)."""
    return (
        F.pad(weight, (0, 1, 0, 1))
        + F.pad(weight, (1, 0, 0, 1))
        + F.pad(weight, (0, 1, 1, 0))
        + F.pad(weight, (1, 0, 1, 0))
    ) * 0.25


def conv_then_pool(conv: nn.Conv2d, x: torch.Tensor, fused: bool) -> torch.Tensor:
    """``avg_pool2d(conv(x), 2)`` for a 3x3, padding-1 ``conv``; one stride-2 convolution when
    ``fused`` and x is at least MIN_POOLED_SIZE wide. x: (B, C_in, H, W) -> (B, C_out, H/2, W/2).
    """
    if fused and min(x.shape[-2:]) >= MIN_POOLED_SIZE:
        # one access to conv.weight: one spectral-norm power iteration, as conv(x) does
        return F.conv2d(x, pooled_kernel(conv.weight), conv.bias, stride=2, padding=1)
    return F.avg_pool2d(conv(x), 2)


def _sn_conv(c_in: int, c_out: int, k: int, sn: str) -> nn.Module:
    return _sn(nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=True), sn)


class OptimizedBlock(nn.Module):
    """First block: conv3x3-ReLU-conv3x3 (+ avg-pool) plus a pooled 1x1-conv shortcut."""

    FAST_PATHS = ("pooled_convolutions",)

    def __init__(self, c_in: int, c_out: int, downsample: bool, sn: str = "modern"):
        super().__init__()
        self.conv1 = _sn_conv(c_in, c_out, 3, sn)
        self.conv2 = _sn_conv(c_out, c_out, 3, sn)
        self.shortcut = _sn_conv(c_in, c_out, 1, sn)
        self.downsample = downsample
        self.fast_paths = frozenset(self.FAST_PATHS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1(x))
        if not self.downsample:
            return self.conv2(h) + self.shortcut(x)
        fused = "pooled_convolutions" in self.fast_paths
        return conv_then_pool(self.conv2, h, fused) + self.shortcut(F.avg_pool2d(x, 2))


class DownBlock(nn.Module):
    """ReLU-conv3x3-ReLU-conv3x3 (+ avg-pool); the 1x1 shortcut reads ReLU(x), then pools."""

    FAST_PATHS = ("pooled_convolutions",)

    def __init__(self, c_in: int, c_out: int, downsample: bool = True, sn: str = "modern"):
        super().__init__()
        self.conv1 = _sn_conv(c_in, c_in, 3, sn)
        self.conv2 = _sn_conv(c_in, c_out, 3, sn)
        self.shortcut = _sn_conv(c_in, c_out, 1, sn)
        self.downsample = downsample
        self.fast_paths = frozenset(self.FAST_PATHS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)  # the original's in-place ReLU: the shortcut below sees this too
        h = F.relu(self.conv1(x))
        if not self.downsample:
            return self.conv2(h) + self.shortcut(x)
        if "pooled_convolutions" in self.fast_paths:
            # pooling commutes with the 1x1 shortcut (bias included)
            return conv_then_pool(self.conv2, h, True) + self.shortcut(F.avg_pool2d(x, 2))
        return F.avg_pool2d(self.conv2(h), 2) + F.avg_pool2d(self.shortcut(x), 2)


def _body(channels: list[int], downsample_first: bool, sn: str) -> nn.Sequential:
    blocks: list[nn.Module] = [OptimizedBlock(3, channels[0], downsample_first, sn)]
    blocks += [DownBlock(a, b, sn=sn) for a, b in itertools.pairwise(channels)]
    return nn.Sequential(*blocks)


class ImageDiscriminator(FastPathsMixin, nn.Module):
    """``spectral_norm``: ``classic`` or ``modern`` iteration order (see :mod:`.spectral_norm`;
    the ``paper-*`` presets use the classic one, as the authors' code)."""

    def __init__(self, channels: list[int], spectral_norm: str = "modern"):
        super().__init__()
        sn = spectral_norm
        self.body = _body(channels, downsample_first=True, sn=sn)
        self.head = _sn(nn.Linear(channels[-1], 1, bias=False), sn)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, 3, H, W). Returns real/fake logits (B,)."""
        h = F.relu(self.body(images)).sum(dim=(2, 3))
        return self.head(h).view(-1)


class ObjectDiscriminator(FastPathsMixin, nn.Module):
    """See :class:`ImageDiscriminator` for ``spectral_norm``."""

    def __init__(self, channels: list[int], num_classes: int, spectral_norm: str = "modern"):
        super().__init__()
        sn = spectral_norm
        self.body = _body(channels, downsample_first=False, sn=sn)
        self.head_src = _sn(nn.Linear(channels[-1], 1), sn)
        self.head_cls = _sn(nn.Linear(channels[-1], num_classes), sn)

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """crops: (N, 3, S, S). Returns real/fake logits (N,) and class logits (N, classes)."""
        h = F.relu(self.body(crops)).sum(dim=(2, 3))
        return self.head_src(h).view(-1), self.head_cls(h)
