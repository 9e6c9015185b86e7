"""Diversity: how different two images generated from the same layout are.

For every layout, samples 0 and 1 (different object codes) are compared; the score is the mean
over layouts and its standard deviation (ddof 0), as the Layout2Im paper reports it
("0.15 +- 0.06" on COCO).

- ``diversity``: LPIPS (AlexNet, v0.1 linear layers) between the two images.
- ``diversity-shapes``: without external weights: the mean absolute pixel difference (pixels
  in [0, 1]) and the Euclidean distance between the unit-normalised features of the dataset's
  scene network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .dataset_networks import network_features, scene_network
from .lpips import LPIPS, lpips_network, summarize, uint8_to_signed
from .registry import Metric, register_metric

if TYPE_CHECKING:
    from .context import EvalContext


def pixel_l1(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Per-pair mean absolute difference of uint8 images (N, 3, H, W), in [0, 1] units."""
    return ((a.float() - b.float()).abs().mean(dim=(1, 2, 3)) / 255.0).double().numpy()


def feature_distance(fa: np.ndarray, fb: np.ndarray) -> np.ndarray:
    """Per-pair Euclidean distance between unit-normalised feature rows (N, D); in [0, 2]."""
    fa = fa / np.maximum(np.linalg.norm(fa, axis=1, keepdims=True), 1e-12)
    fb = fb / np.maximum(np.linalg.norm(fb, axis=1, keepdims=True), 1e-12)
    return np.linalg.norm(fa - fb, axis=1)


@register_metric("diversity")
class LPIPSDiversity(Metric):
    description = "diversity score: LPIPS (AlexNet v0.1) between two samples of each layout"
    requires = ("lpips",)
    samples_per_layout = 2

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        net: LPIPS = lpips_network(ctx)
        a, b = ctx.sample_pair()
        distances = []
        with torch.no_grad(), ctx.bar(a.shape[0], "LPIPS pairs") as bar:
            for start in range(0, a.shape[0], ctx.batch_size):
                sl = slice(start, start + ctx.batch_size)
                xa = uint8_to_signed(a[sl]).to(ctx.device)
                xb = uint8_to_signed(b[sl]).to(ctx.device)
                distances.append(net(xa, xb).double().cpu().numpy())
                bar.update(xa.shape[0])
        return summarize(np.concatenate(distances), "ds")


@register_metric("diversity-shapes")
class ShapesDiversity(Metric):
    description = "diversity without external weights: pixel L1 and scene-feature distance"
    requires = ("scene_features",)
    samples_per_layout = 2

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        net, _ = scene_network(ctx)
        fn = network_features(ctx, net)
        a, b = ctx.sample_pair()
        fa = ctx.features(fn, a, "scene features (sample 0)")
        fb = ctx.features(fn, b, "scene features (sample 1)")
        return {
            **summarize(pixel_l1(a, b), "ds_shapes_pixel_l1"),
            **summarize(feature_distance(fa, fb), "ds_shapes_feature"),
        }
