"""Object classification accuracy (the paper's): a classifier trained on real object crops
labels the same boxes cropped from the generated images.

Reported: the accuracy on generated crops (every sample of every layout the protocol generates)
and, as its ceiling, on the real images' crops of the same layouts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .dataset_networks import classify_objects, object_classifier
from .registry import Metric, register_metric

if TYPE_CHECKING:
    from .context import EvalContext


def accuracy(predictions: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> float:
    """Fraction of ``predictions`` (N,) equal to ``labels`` (N,)."""
    p, y = np.asarray(predictions), np.asarray(labels)
    if p.shape != y.shape or p.size == 0:
        raise ValueError(f"need equal, non-empty shapes, got {p.shape} and {y.shape}")
    return float((p == y).mean())


@register_metric("object-accuracy")
class ObjectAccuracy(Metric):
    description = "object classification accuracy of a classifier trained on real object crops"
    requires = ("object_classifier",)

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        net = object_classifier(ctx)
        k = ctx.protocol.samples_per_layout
        gen_pred, gen_true = classify_objects(ctx, net, ctx.generated(k), ctx.layouts_repeated(k))
        real_pred, real_true = classify_objects(ctx, net, ctx.real, ctx.layouts_repeated(1))
        return {
            "object_acc_generated": accuracy(gen_pred, gen_true),
            "object_acc_real": accuracy(real_pred, real_true),
            "objects_generated": float(len(gen_true)),
        }
