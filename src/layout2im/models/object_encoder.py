"""Object encoder: each object's box map -> a small feature map.

A 1x1 convolution **with padding=1** (as in the original, so 64x64 maps become 66x66), then
stride-2 4x4 convolutions (66 -> 33 -> 16 -> 8 at the paper's size), each followed by
class-conditional BatchNorm; ReLU after every layer but the last.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConditionalBatchNorm2d, box_masks


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
        """maps: (N, C_in, H, W), composer output; labels: (N,). Returns (N, channels[-1], h, w)."""
        return self._layers(self.convs[0](maps), labels)

    def forward_from_vectors(
        self, vectors: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, image_size: int
    ) -> torch.Tensor:
        """The same result as ``forward(composer maps)`` without building the wide maps.

        A composer map is one vector inside a box and zero elsewhere, and the first layer is a
        bias-free 1x1 convolution with zero padding 1, so its output is ``W @ vector`` inside
        the box (shifted by the padding) and zero elsewhere: apply ``W`` to the vectors, then
        broadcast into the padded box masks.

        vectors: (N, C_in); boxes: (N, 4) normalised xyxy. Returns (N, channels[-1], h, w).
        """
        first = self.convs[0]
        projected = F.linear(vectors, first.weight.flatten(1))  # (N, channels[0])
        masks = F.pad(box_masks(boxes, image_size, image_size), (1, 1, 1, 1)).to(projected.dtype)
        return self._layers(projected[:, :, None, None] * masks, labels)

    def _layers(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        last = len(self.convs) - 1
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            if i > 0:
                x = conv(x)
            x = norm(x, labels)
            if i < last:
                x = torch.relu(x)
        return x
