"""Per-object colour metrics: reconstruction from estimated codes, and per-object diversity.

Both compare the **mean colour inside each box** (pixels of the box rectangle, as
:func:`box_masks` rasterises it; RGB in [0, 1]); a colour error is the mean over the three
channels of the absolute difference of two such means, averaged over objects (0: same colour,
1: black against white).

- ``reconstruction-colour``: each real image's objects are encoded by the generator's object
  latent estimator (the posterior mean ``mu`` of each box crop) and the layout is re-generated
  from those codes. ``recon_colour_error`` compares the reconstruction's box colours with the
  real image's; ``sampled_colour_error`` does the same for sample 0 (codes drawn from the
  prior), the reference a reconstruction should beat; ``recon_pixel_l1`` is the whole-image
  mean absolute difference. Needs the generator (not only its images).
- ``diversity-objects``: the colour error and the mean absolute pixel difference inside each
  box between samples 0 and 1 of a layout (different codes): how much an object's colour and
  texture change from sample to sample. Mean ± std over objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..models.layers import box_masks
from .lpips import summarize
from .registry import Metric, MetricSkipped, register_metric

if TYPE_CHECKING:
    from .context import EvalContext


def _box_masks_of(boxes: Sequence[torch.Tensor], height: int, width: int) -> list[torch.Tensor]:
    return [box_masks(b.float(), height, width)[:, 0] for b in boxes]


def box_mean_colours(images: torch.Tensor, boxes: Sequence[torch.Tensor]) -> np.ndarray:
    """Mean RGB in [0, 1] inside every box: uint8 ``images`` (N, 3, H, W), ``boxes[i]``
    (O_i, 4) normalised xyxy of image ``i``. Returns float64 (sum O_i, 3), image-major."""
    if images.shape[0] != len(boxes):
        raise ValueError(f"{images.shape[0]} images but {len(boxes)} box sets")
    h, w = images.shape[-2:]
    out = []
    for image, masks in zip(images, _box_masks_of(boxes, h, w), strict=True):
        x = image.double() / 255.0  # (3, H, W)
        m = masks.double()  # (O, H, W)
        sums = torch.einsum("ohw,chw->oc", m, x)
        out.append((sums / m.sum(dim=(1, 2))[:, None]).numpy())
    return np.concatenate(out)


def colour_errors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-object colour error between mean colours ``a`` and ``b`` (N, 3) in [0, 1]: the
    mean absolute channel difference, (N,) in [0, 1]."""
    return np.abs(np.asarray(a) - np.asarray(b)).mean(axis=1)


def box_pixel_l1(a: torch.Tensor, b: torch.Tensor, boxes: Sequence[torch.Tensor]) -> np.ndarray:
    """Per-object mean absolute pixel difference in [0, 1] inside the box between uint8 images
    ``a`` and ``b`` (N, 3, H, W) of the same layouts. Returns (sum O_i,)."""
    h, w = a.shape[-2:]
    out = []
    for xa, xb, masks in zip(a, b, _box_masks_of(boxes, h, w), strict=True):
        diff = (xa.double() - xb.double()).abs().mean(dim=0) / 255.0  # (H, W)
        m = masks.double()
        out.append(((m * diff).sum(dim=(1, 2)) / m.sum(dim=(1, 2))).numpy())
    return np.concatenate(out)


@register_metric("reconstruction-colour")
class ReconstructionColour(Metric):
    description = (
        "objects re-generated from their own estimated codes: mean colour error inside boxes "
        "against the real image (and, as reference, a sample from the prior)"
    )
    requires = ("generator",)

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        if ctx.generator is None:
            raise MetricSkipped("needs the generator itself (its latent estimator), not images")
        boxes = ctx.layouts.boxes
        real = box_mean_colours(ctx.real, boxes)
        recon_images = ctx.reconstructions()
        recon = box_mean_colours(recon_images, boxes)
        sampled = box_mean_colours(ctx.fake[:, 0], boxes)
        l1 = (recon_images.double() - ctx.real.double()).abs().mean() / 255.0
        return {
            "recon_colour_error": float(colour_errors(recon, real).mean()),
            "sampled_colour_error": float(colour_errors(sampled, real).mean()),
            "recon_pixel_l1": float(l1),
            "objects_reconstructed": float(len(real)),
        }


@register_metric("diversity-objects")
class ObjectDiversity(Metric):
    description = (
        "per-object diversity: mean colour change and pixel L1 inside each box between two "
        "samples of a layout"
    )
    requires = ()
    samples_per_layout = 2

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        a, b = ctx.sample_pair()
        boxes = ctx.layouts.boxes
        change = colour_errors(box_mean_colours(a, boxes), box_mean_colours(b, boxes))
        return {
            **summarize(change, "ds_object_colour"),
            **summarize(box_pixel_l1(a, b, boxes), "ds_object_pixel_l1"),
        }
