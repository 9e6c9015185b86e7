"""Gaussian fits of feature sets, and the on-disk cache of the real images' fits.

A fit is the mean and the unbiased covariance (``np.cov(rowvar=False)``, ddof 1) of (N, D)
features in float64. Cached fits are ``.npz`` files under ``<cache>/real-stats/`` named by a
hash of everything that determines them (``meta``: dataset, split, layouts, image size,
network, resize, ...); a file computed with other settings is ignored, never reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fsutil import atomic_write
from ..readers import parse_json

log = logging.getLogger(__name__)


@dataclass
class GaussianStats:
    """mu (D,), sigma (D, D) float64, and the number of feature vectors ``n``."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int

    @classmethod
    def of(cls, features: np.ndarray) -> GaussianStats:
        """Fit (N, D) features; needs N >= 2."""
        feats = np.asarray(features, dtype=np.float64)
        if feats.ndim != 2 or feats.shape[0] < 2:
            raise ValueError(f"need at least 2 feature vectors (N, D), got shape {feats.shape}")
        return cls(feats.mean(axis=0), np.cov(feats, rowvar=False), feats.shape[0])


def stats_key(meta: dict) -> str:
    """A short hash of everything that determines a set of real statistics."""
    text = json.dumps(meta, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stats_path(cache_dir: str | Path, prefix: str, meta: dict) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in prefix)
    return Path(cache_dir) / "real-stats" / f"{safe}-{stats_key(meta)}.npz"


def save_stats(path: str | Path, stats: GaussianStats, meta: dict) -> Path:
    """Write ``stats`` and ``meta`` (JSON) to ``path`` atomically."""
    path = Path(path)
    with atomic_write(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, mu=stats.mu, sigma=stats.sigma, n=np.int64(stats.n), meta=json.dumps(meta))
    return path


def load_stats(path: str | Path, meta: dict) -> GaussianStats | None:
    """The cached statistics at ``path`` if they were computed with exactly ``meta``."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            saved = parse_json(str(data["meta"]), "its settings record")  # InputError: ValueError
            if saved != json.loads(json.dumps(meta, default=str)):
                log.warning("ignoring %s: computed with other settings", path)
                return None
            return GaussianStats(data["mu"], data["sigma"], int(data["n"]))
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring unreadable statistics cache %s: %s", path, exc)
        return None
