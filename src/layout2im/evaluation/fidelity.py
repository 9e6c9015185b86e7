"""Layout fidelity: is each object found where its box says, by the dataset's object classifier
run on windows around the box?

For an object of category ``c`` with box ``b`` (width ``w``, height ``h``) the classifier scores
the windows of :data:`WINDOWS`: ``b`` shifted by up to 15% of its side in x and y (a 3 x 3
grid) and ``b`` scaled by 0.8 and 1.25 about its centre, each clipped to the image. Every
window overlaps ``b`` with an IoU above 0.5 (the usual criterion for a correct detection). The
object is **found in its box** when the classifier gives ``c`` a probability of at least
:data:`THRESHOLD` on at least one window: a small search that tolerates an object drawn a few
pixels off, but not one drawn elsewhere, too small to fill the box, or not at all.

Reported: the fraction of generated objects found (every sample the protocol scores) and, as
the ceiling, of the real images' objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..layout import LayoutBatch
from ..models.layers import crop_boxes
from ..visualize import normalize
from .dataset_networks import object_classifier
from .registry import Metric, register_metric

if TYPE_CHECKING:
    from .classifier import SmallResNet
    from .context import EvalContext

THRESHOLD = 0.5
_SHIFT = 0.15
WINDOWS: tuple[tuple[float, float, float], ...] = (
    *((1.0, dx, dy) for dy in (-_SHIFT, 0.0, _SHIFT) for dx in (-_SHIFT, 0.0, _SHIFT)),
    (0.8, 0.0, 0.0),
    (1.25, 0.0, 0.0),
)
"""(scale, shift x, shift y): window side = scale * box side, centre = box centre + shift *
box side."""


def window_boxes(
    boxes: torch.Tensor, windows: Sequence[tuple[float, float, float]] = WINDOWS
) -> torch.Tensor:
    """Windows around ``boxes`` (N, 4) normalised xyxy: (N, len(windows), 4), clipped to
    [0, 1]."""
    spec = torch.tensor(windows, dtype=boxes.dtype, device=boxes.device)  # (W, 3)
    wh = boxes[:, 2:] - boxes[:, :2]  # (N, 2)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    c = centre[:, None, :] + spec[None, :, 1:] * wh[:, None, :]
    half = spec[None, :, :1] * wh[:, None, :] / 2
    return torch.cat([c - half, c + half], dim=-1).clamp(0.0, 1.0)


@torch.no_grad()
def found_in_boxes(
    net: SmallResNet,
    images: torch.Tensor,
    layout: LayoutBatch,
    threshold: float = THRESHOLD,
    windows: Sequence[tuple[float, float, float]] = WINDOWS,
) -> torch.Tensor:
    """Bool (N,) per real object of ``layout`` (row-major): whether the object classifier
    ``net`` finds its category in one of the windows around its box with probability >=
    ``threshold``. ``images``: (B, 3, H, W) ImageNet-normalised."""
    objects = layout.flat()
    n, k = objects.labels.shape[0], len(windows)
    wins = window_boxes(objects.boxes, windows).reshape(n * k, 4)
    crops = crop_boxes(images, wins, objects.obj_to_img.repeat_interleave(k), net.config.input_size)
    probs = net(crops).softmax(dim=1).reshape(n, k, -1)
    p_true = probs.gather(2, objects.labels[:, None, None].expand(n, k, 1))[..., 0]
    return p_true.max(dim=1).values >= threshold


@register_metric("layout-fidelity")
class LayoutFidelity(Metric):
    description = (
        "fraction of objects the object classifier finds in a window around their box "
        "(IoU > 0.5, probability >= 0.5)"
    )
    requires = ("object_classifier",)

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        net = object_classifier(ctx)
        k = ctx.protocol.samples_per_layout
        generated = _found(ctx, net, ctx.generated(k), ctx.layouts_repeated(k), "fidelity")
        real = _found(ctx, net, ctx.real, ctx.layouts_repeated(1), "fidelity (real)")
        return {
            "layout_fidelity_generated": float(generated.mean()),
            "layout_fidelity_real": float(real.mean()),
            "objects_generated": float(len(generated)),
        }


def _found(
    ctx: EvalContext,
    net: SmallResNet,
    images: torch.Tensor,
    layouts: tuple[list[torch.Tensor], list[torch.Tensor]],
    desc: str,
) -> np.ndarray:
    labels, boxes = layouts
    out = []
    with ctx.bar(images.shape[0], desc) as bar:
        for start in range(0, images.shape[0], ctx.batch_size):
            stop = min(images.shape[0], start + ctx.batch_size)
            layout = LayoutBatch.from_lists(labels[start:stop], boxes[start:stop]).to(ctx.device)
            x = normalize(images[start:stop].to(ctx.device).float() / 255.0)
            out.append(found_in_boxes(net, x, layout).cpu().numpy())
            bar.update(stop - start)
    return np.concatenate(out)
