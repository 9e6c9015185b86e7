"""Evaluate a generator: generate a protocol's images and compute the chosen metrics on them.

:func:`evaluate_generator` is the entry point for training (a generator in memory) and
:func:`evaluate_model` for a model folder (the CLI). Both return the results dict that
:func:`~layout2im.evaluation.report.write_results` saves as JSON and
:func:`~layout2im.evaluation.report.format_table` prints: the protocol, the data split and
number of layouts, the number of images, the networks used (path and sha256) and, per metric,
``{"status": "ok", "values": {...}}`` or ``{"status": "skipped", "reason": ...}``. How the
images are made: :mod:`layout2im.evaluation.generation`.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ..architectures import Architecture, get_architecture
from ..config import ConfigError, DataConfig
from ..devices import parse_device
from ..pipeline import Layout2ImPipeline, resolve_model
from ..vocab import Vocabulary
from . import weight_files
from .context import EvalContext, EvalFiles
from .generation import generate_images, load_layouts
from .protocols import Protocol, get_protocol
from .registry import Metric, MetricSkipped, get_metric

log = logging.getLogger(__name__)

RESULTS_FORMAT = "layout2im-eval"
RESULTS_VERSION = 1


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
        except (
            MetricSkipped,
            weight_files.MissingWeightsError,
            weight_files.WeightsChecksumError,
        ) as exc:
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
    architecture: str | Architecture = "layout2im",
) -> dict:
    """Evaluate a generator in memory (training calls this periodically).

    ``generator``: a generator of ``architecture`` (a registered name or entry; put in eval
    mode while generating, its mode restored). ``protocol``: a name or :class:`Protocol`
    (default: the dataset's). ``metrics``: names (default: the protocol's). ``num_images``: use
    only the first that many layouts of the split. ``vocab``: the generator's vocabulary,
    checked against the data's.
    Returns the results dict (see the module docstring).
    """
    if num_images is not None and num_images < 2:
        raise ConfigError(f"num_images must be at least 2 (statistics need two), got {num_images}")
    proto = get_protocol(protocol, data_config.name)
    proto.check_dataset(data_config.name)
    if proto.skill_splits:
        parts = {
            p.split: evaluate_generator(
                generator,
                data_config,
                p,
                metrics,
                device,
                num_images,
                files,
                batch_size,
                progress,
                vocab,
                architecture,
            )
            for p in proto.splits()
        }
        return combine_splits(proto, parts)
    if isinstance(architecture, str):
        architecture = get_architecture(architecture)
    size = architecture.image_size(generator.config)
    rows = architecture.num_classes(generator.config)
    if proto.image_size is not None and proto.image_size != size:
        raise ConfigError(
            f"protocol {proto.name!r} is for {proto.image_size}x{proto.image_size} images; "
            f"this model makes {size}x{size}"
        )
    chosen = resolve_metrics(metrics, proto)
    device = parse_device(device, "device")
    files = files or EvalFiles()
    start = time.perf_counter()
    layouts = load_layouts(data_config, size, proto, num_images)
    if vocab is not None and vocab != layouts.vocab:
        raise ConfigError(
            f"the model's vocabulary ({len(vocab)} rows) is not the {data_config.name} data's "
            f"({len(layouts.vocab)} rows)"
        )
    if len(layouts.vocab) != rows:
        raise ConfigError(
            f"the {data_config.name} vocabulary has {len(layouts.vocab)} rows but the model has "
            f"{rows} classes"
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
        architecture,
    )
    generation_seconds = time.perf_counter() - start
    encoder = generator if architecture.capabilities.style else None
    ctx = EvalContext(
        proto, layouts, fake, data_config, files, device, batch_size, progress, encoder
    )
    results = run_metrics(ctx, chosen)
    return {
        "format": RESULTS_FORMAT,
        "version": RESULTS_VERSION,
        "protocol": proto.to_dict(),
        "data": {
            "config": data_config.model_dump(),
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


def combine_splits(protocol: Protocol, parts: dict[str, dict]) -> dict:
    """The results of a protocol with skill splits: each split's results dict under
    ``splits``, the protocol, and what the splits share (networks, settings) at the top."""
    first = next(iter(parts.values()))
    networks: dict = {}
    for part in parts.values():
        networks.update(part["networks"])
    return {
        "format": RESULTS_FORMAT,
        "version": RESULTS_VERSION,
        "protocol": protocol.to_dict(),
        "data": {
            "config": first["data"]["config"],
            "splits": list(parts),
            "layouts": {name: part["data"]["layouts"] for name, part in parts.items()},
            "objects": {name: part["data"]["objects"] for name, part in parts.items()},
            "image_size": first["data"]["image_size"],
        },
        "networks": networks,
        "settings": first["settings"],
        "splits": parts,
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
        architecture=pipe.architecture,
    )
    weights = Path(model_dir) / "model.safetensors"
    results["model"] = {
        "path": str(model_dir),
        "architecture": pipe.architecture.name,
        "weights_sha256": weight_files.sha256_of(weights),
        "config": pipe.architecture.config_to_dict(pipe.config),
    }
    return results
