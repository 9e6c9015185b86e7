"""Maps of boxes: binary rectangles, and regressed object masks pasted into their boxes.

Boxes here are the authors' format: ``[x0, y0, w, h]``, normalised to the image (0..1), as
their data loaders give them; a padding object's box ``[-0.6, -0.6, 0.5, 0.5]`` maps to all
zeros in both functions (it lies wholly outside the image).

Sampling semantics, as the authors' code computed them under PyTorch 1.0:

- **Pixel positions** are ``linspace(0, 1, size)``: pixel centres at 0 and 1 for the first
  and last pixel. PyTorch 1.0 computed a float32 ``linspace`` on the CPU (where the authors'
  code builds it before moving it) as ``start + i * step`` in float32, with
  ``step = (end - start) / (size - 1)`` rounded to float32; :func:`unit_linspace` does the same
  (later versions count the second half down from ``end``, which rounds some values
  differently, and a box edge on a pixel position then flips that pixel of a rectangle).
- **Pasting** (:func:`paste_masks`, the authors' ``masks_to_layout``) samples each mask with
  ``F.grid_sample(mode="bilinear", padding_mode="zeros")`` with ``align_corners=True``: before
  PyTorch 1.3 ``grid_sample`` had no such argument and always aligned corners (grid -1 and 1
  are the centres of the mask's first and last pixels). The grid is computed in the boxes'
  dtype and then cast to float32, as the authors' ``.to(boxes)`` did (their COCO-Stuff loader
  hands over float64 boxes, their Visual Genome loader float32).
- **Rectangles** (:func:`rectangle_masks`, the authors' ``bbox_mask``) are computed in float32
  from float32 boxes: a pixel is inside when ``(p - x0) / w`` and ``(p - y0) / h`` are both
  within [0, 1]; a NaN (a zero-width box at a pixel's exact position) counts as inside, as
  the original's two comparisons gave.

``F.affine_grid`` (the original's ``stn``) is not used by the generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def unit_linspace(size: int, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """``linspace(0, 1, size)`` with PyTorch 1.0's CPU rounding: ``i * step`` in float32 with
    ``step = float32(1) / (size - 1)``, then converted to ``dtype``. Returns (size,)."""
    values = torch.arange(size, dtype=torch.float32)
    if size > 1:
        values = values * (torch.tensor(1.0, dtype=torch.float32) / (size - 1))
    return values.to(device=device, dtype=dtype)


def rectangle_masks(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Binary masks of the boxes at ``size`` x ``size``.

    boxes: (B, O, 4) normalised ``[x0, y0, w, h]`` (any float dtype; computed in float32).
    Returns (B, O, size, size) float32: 1 inside the box, 0 outside."""
    b = boxes.float()
    positions = unit_linspace(size, device=boxes.device)  # (size,)
    x0, y0, w, h = (b[..., i, None] for i in range(4))  # each (B, O, 1)
    xs = (positions - x0) / w  # (B, O, size)
    ys = (positions - y0) / h
    outside_x = (xs < 0) | (xs > 1)
    outside_y = (ys < 0) | (ys > 1)
    outside = outside_y[..., :, None] | outside_x[..., None, :]  # (B, O, size, size)
    return (~outside).float()


def paste_masks(masks: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each object's mask resampled into its box on a ``size`` x ``size`` map, zero outside.

    masks: (B, O, M, M), values in [0, 1]; boxes: (B, O, 4) normalised ``[x0, y0, w, h]``, whose
    dtype sets the precision of the sampling grid (see the module docstring).
    Returns (B, O, size, size) float32."""
    batch, objects, m = masks.shape[0], masks.shape[1], masks.shape[-1]
    n = batch * objects
    flat = boxes.reshape(n, 4, 1, 1)
    x0, y0, w, h = flat[:, 0], flat[:, 1], flat[:, 2], flat[:, 3]  # each (N, 1, 1)
    positions = unit_linspace(size, dtype=boxes.dtype, device=boxes.device)
    xs = (positions.view(1, 1, size) - x0) / w  # (N, 1, size)
    ys = (positions.view(1, size, 1) - y0) / h  # (N, size, 1)
    grid = torch.stack((xs.expand(n, size, size), ys.expand(n, size, size)), dim=3)
    grid = grid.mul(2).sub(1).float()  # (N, size, size, 2) in grid_sample's [-1, 1]
    pasted = F.grid_sample(
        masks.float().reshape(n, 1, m, m),
        grid,
        mode="bilinear",
        padding_mode="zeros",
        align_corners=True,
    )
    return pasted.view(batch, objects, size, size)
