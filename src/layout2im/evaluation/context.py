"""What metrics read: :class:`EvalContext` holds the layouts, the real and generated pixels, the
networks an evaluation has loaded (each once, shared between metrics) and the real images'
feature statistics (cached on disk).

The context knows no concrete network: each network family provides its loader, which asks
:meth:`EvalContext.network` (``features.inception_pool3``, ``features.inception_logits``,
``lpips.lpips_network``, ``dataset_networks.object_classifier`` and ``scene_network``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..config import DataConfig
from ..vocab import Vocabulary
from . import weight_files
from .feature_stats import GaussianStats, load_stats, save_stats, stats_path
from .generation import EvalLayouts, progress_bar, reconstruct_images
from .options import EvalFiles, ScoringOptions
from .protocols import Protocol

log = logging.getLogger(__name__)


@dataclass
class EvalContext:
    """What metrics read: the (resolved) protocol, layouts, real and generated pixels, the
    scoring options (device, batch size, progress, the networks' files). Networks are loaded
    once and shared between metrics."""

    protocol: Protocol
    layouts: EvalLayouts
    fake: torch.Tensor  # uint8 (L, K, 3, H, W)
    data: DataConfig
    options: ScoringOptions = field(default_factory=ScoringOptions)
    generator: Any = None  # the Layout2ImGenerator, for metrics that need more than its images
    networks: dict[str, Any] = field(default_factory=dict)
    _loaded: dict[str, Any] = field(default_factory=dict)

    @property
    def files(self) -> EvalFiles:
        return self.options.files

    @property
    def device(self) -> torch.device:
        return self.options.device

    @property
    def batch_size(self) -> int:
        return self.options.batch_size

    @property
    def progress(self) -> bool:
        return self.options.progress

    @property
    def real(self) -> torch.Tensor:
        return self.layouts.real

    @property
    def vocab(self) -> Vocabulary:
        return self.layouts.vocab

    def generated(self, samples: int | None = None) -> torch.Tensor:
        """uint8 (L * samples, 3, H, W), layout-major; ``samples`` defaults to the protocol's."""
        k = self.protocol.samples_per_layout if samples is None else samples
        if k > self.fake.shape[1]:
            raise RuntimeError(f"{k} samples per layout asked, {self.fake.shape[1]} generated")
        return self.fake[:, :k].reshape(-1, *self.fake.shape[2:])

    def sample_pair(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples 0 and 1 of every layout: two uint8 (L, 3, H, W)."""
        if self.fake.shape[1] < 2:
            raise RuntimeError("diversity needs two samples per layout")
        return self.fake[:, 0], self.fake[:, 1]

    def layouts_repeated(self, samples: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Labels and boxes matching :meth:`generated` (``samples``) image by image."""
        labels = [t for t in self.layouts.labels for _ in range(samples)]
        boxes = [t for t in self.layouts.boxes for _ in range(samples)]
        return labels, boxes

    def bar(self, total: int, desc: str):
        return progress_bar(total, desc, self.progress)

    def reconstructions(self) -> torch.Tensor:
        """uint8 (L, 3, H, W): every real image re-generated from its own objects' estimated
        codes (the latent estimator's posterior mean of each box crop), pixels made with the
        protocol's ``rescale``. Needs ``generator``; computed once."""
        if self.generator is None:
            raise RuntimeError("reconstructions need the generator")
        return self.network(
            "reconstructions",
            lambda: reconstruct_images(
                self.generator,
                self.layouts.labels,
                self.layouts.boxes,
                self.real,
                self.protocol.rescale,
                self.device,
                self.batch_size,
                self.progress,
            ),
        )

    # -- features -------------------------------------------------------------------------

    def features(
        self, fn: Callable[..., np.ndarray], images: torch.Tensor, desc: str
    ) -> np.ndarray:
        """``fn(images, batch_size=, progress=)`` with a progress bar."""
        with self.bar(images.shape[0], desc) as bar:
            return fn(images, batch_size=self.batch_size, progress=bar.update)

    def real_stats(
        self, kind: str, network_sha256: str, fn, settings: dict | None = None
    ) -> GaussianStats:
        """Statistics of the real images' features, cached per dataset, split, layouts (and
        which of them, for a subset), image size, network, (for Inception) resize and the
        metric's own ``settings``; written atomically."""
        meta = {
            "kind": kind,
            "network_sha256": network_sha256,
            "data": self.data.model_dump(exclude={"num_workers"}),
            "split": self.protocol.split,
            "num_layouts": len(self.layouts),
            "image_size": int(self.real.shape[-1]),
            "real_images": self.protocol.real_images,
        }
        if kind == "inception":
            meta["resize"] = self.protocol.resize
            meta["inception_size"] = self.protocol.inception_size
        if self.layouts.selection is not None:
            meta["layouts_selected"] = self.layouts.selection
        meta.update(settings or {})
        path = None
        if self.files.use_cache:
            cache = self.files.cache_dir or weight_files.default_cache_dir()
            path = stats_path(cache, f"{self.data.name}-{self.protocol.split}-{kind}", meta)
            cached = load_stats(path, meta)
            if cached is not None:
                log.info("real %s statistics from %s", kind, path)
                self.networks.setdefault("real_stats", {})[kind] = str(path)
                return cached
        stats = GaussianStats.of(self.features(fn, self.real, f"real {kind}"))
        if path is not None:
            save_stats(path, stats, meta)
            self.networks.setdefault("real_stats", {})[kind] = str(path)
        return stats

    # -- networks -------------------------------------------------------------------------

    def network(self, key: str, load: Callable[[], Any]) -> Any:
        """What ``load()`` returns (a network, or anything computed once per evaluation),
        called the first time ``key`` is asked for and shared by every later caller. Loaders
        record the files they used in :attr:`networks`."""
        if key not in self._loaded:
            self._loaded[key] = load()
        return self._loaded[key]
