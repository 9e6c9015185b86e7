"""Object encoder: each object's box map -> a small feature map.

A 1x1 convolution **with padding=1** (as in the original, so 64x64 maps become 66x66), then
stride-2 4x4 convolutions (66 -> 33 -> 16 -> 8 at the paper's size), each followed by
class-conditional BatchNorm; ReLU after every layer but the last.

Its input, a composer map, is one vector inside a box and zero elsewhere, which two fast paths
exploit (the generator's ``object_vectors`` and this module's ``analytic_object_encoder``, see
:mod:`.computation`):

- :meth:`ObjectEncoder.forward_from_vectors` projects the vectors by the first (1x1) layer and
  broadcasts them into the padded box masks instead of convolving the wide maps;
- with ``analytic_object_encoder`` the first layer's output never exists as a map either. After
  the first BatchNorm and ReLU each object's map takes two values per channel: ``a_n`` inside
  its (shifted) box and ``b_n`` outside (``b_n`` depends on the object through the class's
  scale and shift). The BatchNorm statistics follow from the vectors and the box areas, and the
  second convolution of such a map is ``conv(b_n everywhere) + conv((a_n - b_n) * box)``: the
  kernel contracted with ``b_n`` over the taps that fall inside the image plus the kernel
  contracted with ``a_n - b_n`` over the taps that fall inside the box, one batched matrix
  product with the unfolded box masks (about 30x fewer multiply-adds at the paper's size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import box_masks, downsampling_convs


class ObjectEncoder(nn.Module):
    FAST_PATHS = ("analytic_object_encoder",)

    def __init__(self, in_channels: int, channels: list[int], num_classes: int):
        super().__init__()
        # the original's 1x1 conv with padding=1 (64 -> 66), then 4x4 stride 2 (66 -> 33 -> 16 -> 8)
        self.convs, self.norms = downsampling_convs(in_channels, channels, 1, 1, num_classes)
        self.fast_paths = frozenset(self.FAST_PATHS)

    def forward(
        self, maps: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """maps: (N, C_in, H, W), composer output; labels: (N,); valid: BoolTensor (N,) or None,
        the real rows (padding enters no BatchNorm statistic). Returns (N, channels[-1], h, w)."""
        return self._layers(self.convs[0](maps), labels, 0, valid)

    def forward_from_vectors(
        self,
        vectors: torch.Tensor,
        boxes: torch.Tensor,
        labels: torch.Tensor,
        image_size: int,
        valid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The same result as ``forward(composer maps)`` without building the wide maps.

        A composer map is one vector inside a box and zero elsewhere, and the first layer is a
        bias-free 1x1 convolution with zero padding 1, so its output is ``W @ vector`` inside
        the box (shifted by the padding) and zero elsewhere: apply ``W`` to the vectors, then
        broadcast into the padded box masks.

        vectors: (N, C_in); boxes: (N, 4) normalised xyxy; valid: as in :meth:`forward`.
        Returns (N, channels[-1], h, w).
        """
        first = self.convs[0]
        projected = F.linear(vectors, first.weight.flatten(1))  # (N, channels[0])
        masks = F.pad(box_masks(boxes, image_size, image_size), (1, 1, 1, 1))  # (N, 1, S, S)
        if "analytic_object_encoder" in self.fast_paths and self._analytic_applies():
            second = self._analytic_second_conv(projected, masks, labels, valid)
            return self._layers(second, labels, 1, valid)
        maps = projected[:, :, None, None] * masks.to(projected.dtype)
        return self._layers(maps, labels, 0, valid)

    def _analytic_applies(self) -> bool:
        """The analytic second layer needs a second layer and a plain BatchNorm after the first
        (a SyncBatchNorm's statistics span processes: the map path handles those)."""
        return len(self.convs) > 1 and type(self.norms[0].bn) is nn.BatchNorm2d

    def _analytic_second_conv(
        self,
        projected: torch.Tensor,
        masks: torch.Tensor,
        labels: torch.Tensor,
        valid: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The second convolution's output, from the first layer's projected vectors.

        projected: (N, C0), the first (1x1) layer applied to each object's vector; masks:
        (N, 1, S, S) float 0/1, the box masks padded by the first layer's padding; labels: (N,).
        Returns (N, C1, h, w), what ``convs[1](relu(norms[0](first-layer maps)))`` gives.
        """
        inside, outside = self._first_norm_two_values(projected, masks, labels, valid)
        conv = self.convs[1]
        n, c0 = inside.shape
        c1, _, kh, kw = conv.weight.shape
        size = masks.shape[-2:]
        unfold = dict(kernel_size=(kh, kw), stride=conv.stride, padding=conv.padding)
        # (1, kh*kw, L): 1 where a tap of output position l falls inside the S x S map (not in
        # the zero padding); (N, kh*kw, L): 1 where it falls inside object n's box
        taps_valid = F.unfold(masks.new_ones(1, 1, *size), **unfold)
        taps_inside = F.unfold(masks, **unfold)
        out_h = (size[0] + 2 * conv.padding[0] - kh) // conv.stride[0] + 1
        out_w = (size[1] + 2 * conv.padding[1] - kw) // conv.stride[1] + 1
        # the kernel contracted with the two values: (N, C1, kh*kw) each
        weight = conv.weight.permute(1, 0, 2, 3).reshape(c0, c1 * kh * kw)
        w_outside = torch.mm(outside, weight).view(n, c1, kh * kw)
        w_step = torch.mm(inside - outside, weight).view(n, c1, kh * kw)
        kernels = torch.cat([w_outside, w_step], dim=2)  # (N, C1, 2*kh*kw)
        taps = torch.cat([taps_valid.expand(n, -1, -1), taps_inside], dim=1).to(kernels.dtype)
        return torch.bmm(kernels, taps).view(n, c1, out_h, out_w)

    def _first_norm_two_values(
        self,
        projected: torch.Tensor,
        masks: torch.Tensor,
        labels: torch.Tensor,
        valid: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The first class-conditional BatchNorm and ReLU on maps that are ``projected[n]``
        inside box n and 0 elsewhere, as two values per object and channel.

        Follows ``nn.BatchNorm2d`` exactly: batch statistics (biased variance) in training
        mode, whose running averages get the unbiased variance with the module's momentum (or
        the cumulative average when momentum is None); running statistics in eval mode.
        Statistics are computed in float32 at least (also under autocast), over the ``valid``
        rows only when given. Returns (inside, outside), each (N, C0).
        """
        norm = self.norms[0]
        bn = norm.bn
        dtype = torch.promote_types(projected.dtype, torch.float32)
        p = projected.to(dtype)
        pixels = masks[0].numel()  # S * S per object
        area = masks.flatten(1).sum(dim=1).to(dtype)  # (N,) pixels inside each box
        if valid is None:
            count = p.shape[0] * pixels
            weight = torch.ones_like(area)
        else:  # padding rows count neither inside nor outside their boxes
            weight = valid.to(dtype)
            area = area * weight
            count = weight.sum() * pixels

        factor = 0.0 if bn.momentum is None else bn.momentum
        if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
            factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
        use_batch = bn.training or (bn.running_mean is None and bn.running_var is None)
        if use_batch:
            mean = (area[:, None] * p).sum(dim=0) / count  # (C0,)
            outside_pixels = (pixels * weight - area).sum()
            var = (
                (area[:, None] * (p - mean).square()).sum(dim=0) + outside_pixels * mean.square()
            ) / count
            if bn.training and bn.running_mean is not None:
                with torch.no_grad():
                    bn.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                    unbiased = var.detach() * (count / (count - 1))
                    bn.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)
        else:
            mean, var = bn.running_mean, bn.running_var
        scale = torch.rsqrt(var + bn.eps)
        gamma, beta = norm.embed(labels).to(dtype).chunk(2, dim=1)  # (N, C0) each
        inside = torch.relu(gamma * ((p - mean) * scale) + beta)
        outside = torch.relu(gamma * (-mean * scale) + beta)
        return inside, outside

    def _layers(
        self, x: torch.Tensor, labels: torch.Tensor, start: int, valid: torch.Tensor | None
    ) -> torch.Tensor:
        """Layers from ``start`` on; ``x`` is convolution ``start``'s output."""
        last = len(self.convs) - 1
        for i in range(start, len(self.convs)):
            if i > start:
                x = self.convs[i](x)
            x = self.norms[i](x, labels, valid)
            if i < last:
                x = torch.relu(x)
        return x
