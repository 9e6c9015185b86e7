"""Fréchet distance between Gaussian fits of two feature sets; the ``fid`` and ``fid-shapes``
metrics.

``FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2))`` with ``S`` the unbiased
covariance (``np.cov(rowvar=False)``, ddof 1) of the features, all in float64.

The matrix square root uses only symmetric eigendecompositions: for symmetric PSD ``A``, ``B``,
``sqrt(A B) = A^1/2 (A^1/2 B A^1/2)^1/2 A^-1/2`` and ``tr sqrt(A B) = tr (A^1/2 B A^1/2)^1/2``
(``A B`` and ``A^1/2 B A^1/2`` share their eigenvalues). The trace form, used for FID, also
holds when the covariances are singular (fewer images than feature dimensions) and never has
an imaginary part to discard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .dataset_networks import network_features, scene_network
from .feature_stats import GaussianStats
from .features import inception_pool3
from .registry import Metric, register_metric

if TYPE_CHECKING:
    from .context import EvalContext


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    """The square root of symmetric PSD ``m``, negative round-off eigenvalues clipped."""
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr sqrt(sigma1 @ sigma2)`` for symmetric PSD matrices, in float64."""
    s1 = np.asarray(sigma1, dtype=np.float64)
    s2 = np.asarray(sigma2, dtype=np.float64)
    root1 = _psd_sqrt(s1)
    middle = root1 @ s2 @ root1
    w = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(w, 0.0, None)).sum())


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(np.float64(mu1)), np.atleast_1d(np.float64(mu2))
    sigma1, sigma2 = np.atleast_2d(np.float64(sigma1)), np.atleast_2d(np.float64(sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            f"shapes differ: {mu1.shape} vs {mu2.shape}, {sigma1.shape} vs {sigma2.shape}"
        )
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2)
    value -= 2.0 * trace_sqrt_product(sigma1, sigma2)
    return float(max(value, 0.0))


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    a, b = GaussianStats.of(real), GaussianStats.of(fake)
    return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)


# ----------------------------------------------------------------------------- metrics


@register_metric("fid")
class FID(Metric):
    description = "Fréchet Inception Distance (Inception-v3 pool3, TTUR / pytorch-fid weights)"
    requires = ("inception",)

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        net = inception_pool3(ctx)
        real = ctx.real_stats("inception", net.sha256, net.features)
        fake = GaussianStats.of(ctx.features(net.features, ctx.generated(), "FID features"))
        return {"fid": frechet_distance(real.mu, real.sigma, fake.mu, fake.sigma)}


@register_metric("fid-shapes")
class FIDShapes(Metric):
    description = "Fréchet distance in the features of the dataset's scene network"
    requires = ("scene_features",)

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        net, sha = scene_network(ctx)
        fn = network_features(ctx, net)
        real = ctx.real_stats("scene-features", sha, fn)
        fake = GaussianStats.of(ctx.features(fn, ctx.generated(), "scene features"))
        return {"fid_shapes": frechet_distance(real.mu, real.sigma, fake.mu, fake.sigma)}
