"""Building blocks shared by the generator's modules.

- :class:`ConditionalBatchNorm2d`: BatchNorm without affine, then a per-class scale and shift.
- :func:`crop_boxes`: differentiable bilinear crops of boxes (the original's ``crop_bbox_batch``).
- :func:`box_masks`: binary filled-rectangle masks of boxes (the original data loader's masks).
- :class:`ConvLSTMCell`: one convolutional LSTM step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConditionalBatchNorm2d(nn.Module):
    """Class-conditional BatchNorm: ``gamma[y] * BN(x) + beta[y]``.

    The per-class embedding holds ``[gamma | beta]``; gamma starts at N(1, 0.02), beta at 0.

    x: (N, C, H, W); y: LongTensor (N,) of category rows. Returns (N, C, H, W).
    """

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.num_features = num_features
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.embed = nn.Embedding(num_classes, num_features * 2)
        with torch.no_grad():
            self.embed.weight[:, :num_features].normal_(1.0, 0.02)
            self.embed.weight[:, num_features:].zero_()

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``valid``: BoolTensor (N,) or None; rows marked False (padding of the static-shape
        path) enter no statistic (see :func:`masked_batch_norm`)."""
        gamma, beta = self.embed(y).chunk(2, dim=1)
        normed = self.bn(x) if valid is None else masked_batch_norm(self.bn, x, valid)
        return gamma[:, :, None, None] * normed + beta[:, :, None, None]


def downsampling_convs(
    in_channels: int, channels: list[int], first_kernel: int, first_padding: int, num_classes: int
) -> tuple[nn.ModuleList, nn.ModuleList]:
    """The conv stack both object encoders of the paper use: a first ``first_kernel`` conv at
    stride 1, then 4x4 stride-2 convs (each halving the size), all without bias, each followed by
    a :class:`ConditionalBatchNorm2d`. Returns ``(convs, norms)``; ``channels[i]`` is the i-th
    conv's output width."""
    convs, norms = [], []
    in_ch = in_channels
    for i, out_ch in enumerate(channels):
        kernel, stride, padding = (first_kernel, 1, first_padding) if i == 0 else (4, 2, 1)
        convs.append(nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=padding, bias=False))
        norms.append(ConditionalBatchNorm2d(out_ch, num_classes))
        in_ch = out_ch
    return nn.ModuleList(convs), nn.ModuleList(norms)


def masked_batch_norm(bn: nn.BatchNorm2d, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``bn(x[valid])`` computed on every row of x: in training mode the batch statistics (and
    the running statistics' update) come from the valid rows only, and every row is normalised
    with them; in eval mode the running statistics are used, as ``bn`` does. Affine-free
    BatchNorm2d only (as in :class:`ConditionalBatchNorm2d`). Statistics in float32 at least.

    x: (N, C, H, W); valid: BoolTensor (N,), at least two valid values per channel. Returns
    (N, C, H, W) in x's dtype.
    """
    if bn.affine or type(bn) is not nn.BatchNorm2d:
        raise ValueError("masked_batch_norm takes an affine-free nn.BatchNorm2d")
    use_batch = bn.training or bn.running_mean is None
    if not use_batch:
        return bn(x)
    dtype = torch.promote_types(x.dtype, torch.float32)
    xf = x.to(dtype)
    weight = valid.to(dtype)[:, None, None, None]  # (N, 1, 1, 1)
    count = weight.sum() * (x.shape[2] * x.shape[3])
    mean = (xf * weight).sum(dim=(0, 2, 3)) / count  # (C,)
    centred = xf - mean[None, :, None, None]
    var = (centred.square() * weight).sum(dim=(0, 2, 3)) / count
    if bn.training and bn.track_running_stats:
        factor = 0.0 if bn.momentum is None else bn.momentum
        if bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
            if bn.momentum is None:
                factor = 1.0 / float(bn.num_batches_tracked)
        with torch.no_grad():
            bn.running_mean.mul_(1 - factor).add_(mean.detach() * factor)
            unbiased = var.detach() * (count / (count - 1))
            bn.running_var.mul_(1 - factor).add_(unbiased * factor)
    out = centred * torch.rsqrt(var + bn.eps)[None, :, None, None]
    return out.to(x.dtype)


def crop_boxes(
    images: torch.Tensor, boxes: torch.Tensor, obj_to_img: torch.Tensor, size: int
) -> torch.Tensor:
    """Bilinearly crop each box from its image and resize it to ``size`` x ``size``.

    Sample points are ``linspace(x0, x1, size)`` x ``linspace(y0, y1, size)`` in normalised
    coordinates, read with ``grid_sample(align_corners=True)`` (normalised 0 and 1 are the centres
    of the first and last pixels), zeros outside the image: exactly the original's crops.

    images: (B, C, H, W); boxes: (N, 4) normalised xyxy; obj_to_img: LongTensor (N,) in [0, B).
    Returns (N, C, size, size). Differentiable with respect to ``images``.
    """
    steps = torch.linspace(0.0, 1.0, size, device=boxes.device, dtype=boxes.dtype)
    x0, y0, x1, y1 = boxes.unbind(dim=1)
    xs = x0[:, None] + (x1 - x0)[:, None] * steps  # (N, size)
    ys = y0[:, None] + (y1 - y0)[:, None] * steps
    n = boxes.shape[0]
    grid = torch.stack(
        (xs[:, None, :].expand(n, size, size), ys[:, :, None].expand(n, size, size)), dim=-1
    )
    grid = grid * 2.0 - 1.0
    return F.grid_sample(
        images[obj_to_img], grid.to(images.dtype), mode="bilinear", align_corners=True
    )


def box_masks(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Filled-rectangle masks of boxes, at least one pixel each.

    Rows ``round(y0*H) : max(round(y0*H) + 1, round(y1*H))`` (and the same for columns) are 1,
    as in the original data loader; the start is clamped so a box touching the far edge still
    covers its last pixel.

    boxes: (N, 4) normalised xyxy. Returns a float mask (N, 1, H, W) of zeros and ones.
    """
    x0, y0, x1, y1 = boxes.unbind(dim=1)

    def span(a: torch.Tensor, b: torch.Tensor, length: int) -> torch.Tensor:
        start = torch.round(a * length).clamp(max=length - 1)
        stop = torch.maximum(start + 1, torch.round(b * length))
        idx = torch.arange(length, device=boxes.device, dtype=boxes.dtype)
        return (idx[None, :] >= start[:, None]) & (idx[None, :] < stop[:, None])

    rows = span(y0, y1, height)  # (N, H)
    cols = span(x0, x1, width)  # (N, W)
    return (rows[:, :, None] & cols[:, None, :]).unsqueeze(1).to(boxes.dtype)


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step: gates from a convolution over ``[input, hidden]``.

    x: (B, C_in, H, W); state (h, c), each (B, C_hidden, H, W). Returns the new (h, c).
    """

    def __init__(self, input_dim: int, hidden_dim: int, kernel_size: int, bias: bool = True):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.conv = nn.Conv2d(
            input_dim + hidden_dim, 4 * hidden_dim, kernel_size, padding=kernel_size // 2, bias=bias
        )

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        gates = self.conv(torch.cat([x, h], dim=1))
        i, f, o, g = torch.split(gates, self.hidden_dim, dim=1)
        c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_next = torch.sigmoid(o) * torch.tanh(c_next)
        return h_next, c_next

    def zero_state(self, batch: int, height: int, width: int, like: torch.Tensor):
        shape = (batch, self.hidden_dim, height, width)
        return like.new_zeros(shape), like.new_zeros(shape)
