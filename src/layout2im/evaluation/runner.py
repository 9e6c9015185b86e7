"""Evaluate a generator: generate a protocol's images and compute the chosen metrics on them.

:func:`evaluate_generator` is the entry point for training (a generator in memory) and
:func:`evaluate_model` for a model folder (the CLI); :func:`score_images` scores images however
they were made (:mod:`layout2im.evaluation.external` reads another system's). All return the
results dict that
:func:`~layout2im.evaluation.report.write_results` saves as JSON and
:func:`~layout2im.evaluation.report.format_table` prints: the protocol, the data split and
number of layouts, the number of images, the networks used (path and sha256) and, per metric,
``{"status": "ok", "values": {...}}`` or ``{"status": "skipped", "reason": ...}``. How the
images are made: :mod:`layout2im.evaluation.generation`.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..architectures import Architecture, get_architecture
from ..config import ConfigError, DataConfig
from ..errors import quote
from ..pipeline import Layout2ImPipeline, resolve_model
from ..schema.config import MAX_IMAGE_SIZE
from ..vocab import Vocabulary
from . import weight_files
from .context import EvalContext
from .generation import EvalLayouts, generate_images, load_layouts
from .options import ScoringOptions
from .protocols import Protocol, get_protocol
from .registry import Metric, MetricSkipped, get_metric

log = logging.getLogger(__name__)

RESULTS_FORMAT = "layout2im-eval"
RESULTS_VERSION = 1


def scoring_protocol(options: ScoringOptions, data_config: DataConfig) -> Protocol:
    """The protocol ``options`` name (default: the dataset's), checked against the dataset."""
    proto = get_protocol(options.protocol, data_config.name)
    proto.check_dataset(data_config.name)
    return proto


def check_image_size(protocol: Protocol, size: int, source: str) -> None:
    """Refuse images of ``size`` under a protocol fixed to another size (``source`` says where
    the size came from, e.g. "this model makes"), and any size outside ``model.image_size``'s
    bounds (8 to :data:`~layout2im.schema.config.MAX_IMAGE_SIZE`), before anything is
    allocated."""
    if not isinstance(size, int) or not 8 <= size <= MAX_IMAGE_SIZE:
        raise ConfigError(f"image size must be from 8 to {MAX_IMAGE_SIZE}, got {quote(size)}")
    if protocol.image_size is not None and protocol.image_size != size:
        raise ConfigError(
            f"protocol {protocol.name!r} is for {protocol.image_size}x{protocol.image_size} "
            f"images; {source} {size}x{size}"
        )


def resolve_metrics(names: Sequence[str] | None, protocol: Protocol) -> list[Metric]:
    chosen = list(protocol.metrics) if not names else list(dict.fromkeys(names))
    return [get_metric(name) for name in chosen]


def samples_needed(metrics: Sequence[Metric], protocol: Protocol) -> int:
    k = protocol.samples_per_layout
    if any(m.samples_per_layout > 1 for m in metrics):
        k = max(k, protocol.diversity_samples)
    return k


def run_metrics(ctx: EvalContext, metrics: Sequence[Metric]) -> dict[str, dict]:
    """Compute each metric; a metric whose files are missing, or that needs more images per
    layout than ``ctx`` holds, is recorded as skipped with the reason."""
    out: dict[str, dict] = {}
    given = ctx.fake.shape[1]
    for metric in metrics:
        if metric.samples_per_layout > given:
            out[metric.name] = {
                "status": "skipped",
                "reason": f"needs {metric.samples_per_layout} images per layout; there are "
                f"{given} for every scored layout",
            }
            continue
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


def score_images(
    protocol: Protocol,
    layouts: EvalLayouts,
    fake: torch.Tensor,
    data_config: DataConfig,
    options: ScoringOptions,
    metrics: Sequence[Metric],
    made: dict[str, Any],
    generator=None,
) -> dict:
    """Run ``metrics`` on ``fake`` (uint8 (L, K, 3, H, W), the images of ``layouts`` under
    one split of ``protocol``) and return the results dict. ``made``: how the images were made
    (``rescale``, ``seed``), recorded under ``images``. ``generator``: the model, for the
    metrics that need more than its images."""
    ctx = EvalContext(protocol, layouts, fake, data_config, options, generator)
    scored = run_metrics(ctx, metrics)
    return {
        "format": RESULTS_FORMAT,
        "version": RESULTS_VERSION,
        "protocol": protocol.to_dict(),
        "data": {
            "config": data_config.model_dump(),
            "split": protocol.split,
            "layouts": len(layouts),
            "layouts_in_split": layouts.available,
            "image_size": int(fake.shape[-1]),
            "objects": int(sum(len(t) for t in layouts.labels)),
            "layouts_selected": layouts.selection,
        },
        "images": {
            "generated": int(fake.shape[0] * fake.shape[1]),
            "samples_per_layout_generated": int(fake.shape[1]),
            "samples_per_layout_scored": protocol.samples_per_layout,
            "real": len(layouts),
            **made,
        },
        "networks": ctx.networks,
        "settings": {
            "device": str(ctx.device),
            "batch_size": options.batch_size,
            "num_images": options.num_images,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "metrics": scored,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def evaluate_generator(
    generator,
    data_config: DataConfig,
    options: ScoringOptions | None = None,
    vocab: Vocabulary | None = None,
    architecture: str | Architecture = "layout2im",
) -> dict:
    """Evaluate a generator in memory (training calls this periodically).

    ``generator``: a generator of ``architecture`` (a registered name or entry; put in eval
    mode while generating, its mode restored). ``options``: the protocol, metrics, number of
    layouts, device, ... (see :class:`ScoringOptions`; default: the dataset's protocol on the
    CPU). ``vocab``: the generator's vocabulary, checked against the data's. Returns the
    results dict (see the module docstring).
    """
    options = options or ScoringOptions()
    proto = scoring_protocol(options, data_config)
    if proto.skill_splits:
        parts = {
            p.split: evaluate_generator(
                generator,
                data_config,
                dataclasses.replace(options, protocol=p),
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
    check_image_size(proto, size, "this model makes")
    chosen = resolve_metrics(options.metrics, proto)
    start = time.perf_counter()
    layouts = load_layouts(data_config, size, proto, options.num_images)
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
    fake = generate_images(
        generator,
        layouts.labels,
        layouts.boxes,
        samples_needed(chosen, proto),
        proto.seed,
        proto.rescale,
        options.device,
        options.batch_size,
        options.progress,
        architecture,
        proto.jpeg_quality,
    )
    generation_seconds = time.perf_counter() - start
    made = {"rescale": proto.rescale, "seed": proto.seed}
    if proto.jpeg_quality is not None:
        made["jpeg_quality"] = proto.jpeg_quality
    # reconstructions estimate codes from photos: only an architecture with that capability
    encoder = generator if architecture.capabilities.style else None
    results = score_images(proto, layouts, fake, data_config, options, chosen, made, encoder)
    results["settings"]["generation_seconds"] = round(generation_seconds, 2)
    return results


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
    model_dir: str | Path, data_config: DataConfig, options: ScoringOptions | None = None
) -> dict:
    """Evaluate a saved model folder (``config.json``, ``model.safetensors``, ``vocab.json``)
    or a shipped model by name (see :func:`~layout2im.pipeline.resolve_model`)."""
    options = options or ScoringOptions()
    model_dir = resolve_model(model_dir)
    pipe = Layout2ImPipeline.from_pretrained(model_dir, device=options.device)
    results = evaluate_generator(
        pipe.generator, data_config, options, vocab=pipe.vocab, architecture=pipe.architecture
    )
    weights = Path(model_dir) / "model.safetensors"
    results["model"] = {
        "path": str(model_dir),
        "architecture": pipe.architecture.name,
        "weights_sha256": weight_files.sha256_of(weights),
        "config": pipe.architecture.config_to_dict(pipe.config),
    }
    return results
