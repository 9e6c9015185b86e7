"""Object encoder: each object's box map -> a small feature map.

A 1x1 convolution **with padding=1** (as in the original, so 64x64 maps become 66x66), then
stride-2 4x4 convolutions (66 -> 33 -> 16 -> 8 at the paper's size), each followed by
class-conditional BatchNorm; ReLU after every layer but the last.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import ConditionalBatchNorm2d


class ObjectEncoder(nn.Module):
    def __init__(self, in_channels: int, channels: list[int], num_classes: int):
        super().__init__()
        convs, norms = [], []
        in_ch = in_channels
        for i, out_ch in enumerate(channels):
            if i == 0:
                convs.append(nn.Conv2d(in_ch, out_ch, 1, stride=1, padding=1, bias=False))
            else:
                convs.append(nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1, bias=False))
            norms.append(ConditionalBatchNorm2d(out_ch, num_classes))
            in_ch = out_ch
        self.convs = nn.ModuleList(convs)
        self.norms = nn.ModuleList(norms)

    def forward(self, maps: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """maps: (N, C_in, H, W); labels: (N,). Returns (N, channels[-1], h, w)."""
        x = maps
        last = len(self.convs) - 1
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            x = norm(conv(x), labels)
            if i < last:
                x = torch.relu(x)
        return x
