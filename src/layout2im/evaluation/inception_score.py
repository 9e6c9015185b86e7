"""Inception Score from class logits (Salimans et al. 2016).

``IS = exp(E_x KL(p(y|x) || p(y)))`` computed on ``splits`` consecutive, equal parts of the
images (``part i = rows [i*N//splits, (i+1)*N//splits)``, no shuffling, as the original code);
the score is the mean over parts and the spread their standard deviation (``np.std``, ddof 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .features import inception_logits
from .registry import Metric, register_metric

if TYPE_CHECKING:
    from .context import EvalContext


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """(mean, std) of the Inception Score of (N, C) ``logits`` over ``splits`` parts."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"logits must be (N, C), got shape {logits.shape}")
    n = logits.shape[0]
    if splits < 1 or n < splits:
        raise ValueError(f"need at least one image per split: {n} images, {splits} splits")
    probs = softmax(logits)
    scores = []
    for i in range(splits):
        part = probs[i * n // splits : (i + 1) * n // splits]
        marginal = part.mean(axis=0, keepdims=True)
        # p log(p / m), with 0 where p underflowed to 0 (p log p -> 0); m >= p / len(part) > 0
        seen = part > 0
        ratio = np.where(seen, part, 1.0) / np.where(seen, marginal, 1.0)
        kl = (part * np.log(ratio)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


# ----------------------------------------------------------------------------- metric


@register_metric("is")
class InceptionScore(Metric):
    description = "Inception Score (Inception-v3 2015-12-05 logits, 1008 classes)"
    requires = ("inception_logits",)

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        net = inception_logits(ctx)
        logits = ctx.features(net.logits, ctx.generated(), "IS logits")
        mean, std = inception_score(logits, ctx.protocol.is_splits)
        return {"is_mean": mean, "is_std": std}
