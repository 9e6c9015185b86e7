"""SNGAN-style ResNet discriminators with spectral norm on every conv and linear layer.

Image D: an optimised first block and down blocks (64-128-256-512-1024, 64 -> 2), ReLU, sum
pooling, linear to one logit without bias. Object D: the same body on 32x32 crops whose first
block does not downsample, with a real/fake head (``src``) and an auxiliary classifier.

A trap kept from the original: its down blocks start with an in-place ReLU, so the learnable
shortcut sees ReLU(x), not x. :class:`DownBlock` computes exactly that.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def _sn_conv(c_in: int, c_out: int, k: int) -> nn.Module:
    return spectral_norm(nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=True))


class OptimizedBlock(nn.Module):
    """First block: conv3x3-ReLU-conv3x3 (+ avg-pool) plus a pooled 1x1-conv shortcut."""

    def __init__(self, c_in: int, c_out: int, downsample: bool):
        super().__init__()
        self.conv1 = _sn_conv(c_in, c_out, 3)
        self.conv2 = _sn_conv(c_out, c_out, 3)
        self.shortcut = _sn_conv(c_in, c_out, 1)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(x)))
        s = x
        if self.downsample:
            h = F.avg_pool2d(h, 2)
            s = F.avg_pool2d(s, 2)
        return h + self.shortcut(s)


class DownBlock(nn.Module):
    """ReLU-conv3x3-ReLU-conv3x3 (+ avg-pool); the 1x1 shortcut reads ReLU(x), then pools."""

    def __init__(self, c_in: int, c_out: int, downsample: bool = True):
        super().__init__()
        self.conv1 = _sn_conv(c_in, c_in, 3)
        self.conv2 = _sn_conv(c_in, c_out, 3)
        self.shortcut = _sn_conv(c_in, c_out, 1)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)  # the original's in-place ReLU: the shortcut below sees this too
        h = self.conv2(F.relu(self.conv1(x)))
        s = self.shortcut(x)
        if self.downsample:
            h = F.avg_pool2d(h, 2)
            s = F.avg_pool2d(s, 2)
        return h + s


def _body(channels: list[int], downsample_first: bool) -> nn.Sequential:
    blocks: list[nn.Module] = [OptimizedBlock(3, channels[0], downsample_first)]
    blocks += [DownBlock(a, b) for a, b in itertools.pairwise(channels)]
    return nn.Sequential(*blocks)


class ImageDiscriminator(nn.Module):
    def __init__(self, channels: list[int]):
        super().__init__()
        self.body = _body(channels, downsample_first=True)
        self.head = spectral_norm(nn.Linear(channels[-1], 1, bias=False))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, 3, H, W). Returns real/fake logits (B,)."""
        h = F.relu(self.body(images)).sum(dim=(2, 3))
        return self.head(h).view(-1)


class ObjectDiscriminator(nn.Module):
    def __init__(self, channels: list[int], num_classes: int):
        super().__init__()
        self.body = _body(channels, downsample_first=False)
        self.head_src = spectral_norm(nn.Linear(channels[-1], 1))
        self.head_cls = spectral_norm(nn.Linear(channels[-1], num_classes))

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """crops: (N, 3, S, S). Returns real/fake logits (N,) and class logits (N, classes)."""
        h = F.relu(self.body(crops)).sum(dim=(2, 3))
        return self.head_src(h).view(-1), self.head_cls(h)
