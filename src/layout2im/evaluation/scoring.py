"""Score a folder of any system's images under a protocol, and export the protocol's layouts.

:func:`export_layouts` writes the layouts another system should draw
(:mod:`layout2im.evaluation.exchange` documents the file and the image names);
:func:`score_folder` reads the images back (:mod:`layout2im.evaluation.folder`) and runs the
protocol's metrics on them exactly as :func:`~layout2im.evaluation.runner.evaluate_generator`
runs them on a model's images: same layouts, same real images, same networks, same cached real
statistics. Metrics that need the model itself (``reconstruction-colour``) or more images per
layout than the folder has (diversity needs two) are recorded as skipped with the reason.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ..config import ConfigError, DataConfig
from ..devices import parse_device
from .context import EvalContext, EvalFiles
from .exchange import id_prefix, write_layouts
from .folder import (
    DEFAULT_MAX_ENTRIES,
    FolderError,
    folder_extras,
    problems,
    read_folder,
    scan_folder,
)
from .generation import EvalLayouts, load_layouts
from .protocols import Protocol, get_protocol
from .runner import RESULTS_FORMAT, RESULTS_VERSION, combine_splits, resolve_metrics, run_metrics


def _image_size(protocol: Protocol, image_size: int | None) -> int:
    size = image_size or protocol.image_size
    if size is None:
        raise ConfigError(
            f"protocol {protocol.name!r} does not fix an image size; give --image-size"
        )
    if protocol.image_size is not None and size != protocol.image_size:
        raise ConfigError(
            f"protocol {protocol.name!r} is for {protocol.image_size}x{protocol.image_size} "
            f"images, not {size}x{size}"
        )
    return size


def protocol_layouts(
    data: DataConfig, protocol: Protocol, image_size: int, num_images: int | None = None
) -> list[tuple[Protocol, EvalLayouts]]:
    """Each split's protocol and its layouts (with real images), in the protocol's order."""
    protocol.check_dataset(data.name)
    return [(p, load_layouts(data, image_size, p, num_images)) for p in protocol.splits()]


def export_layouts(
    path: str | Path,
    data: DataConfig,
    protocol: str | Protocol | None = None,
    image_size: int | None = None,
    num_images: int | None = None,
    command: list[str] | None = None,
) -> dict:
    """Write the protocol's layouts to ``path`` (JSON lines); returns the header."""
    proto = get_protocol(protocol, data.name)
    size = _image_size(proto, image_size)
    parts = protocol_layouts(data, proto, size, num_images)
    return write_layouts(path, proto, parts, size, command)


def score_folder(
    folder: str | Path,
    data: DataConfig,
    protocol: str | Protocol | None = None,
    metrics: Sequence[str] | None = None,
    device: str | torch.device = "cpu",
    num_images: int | None = None,
    files: EvalFiles | None = None,
    batch_size: int = 64,
    progress: bool = False,
    allow_missing: bool = False,
    image_size: int | None = None,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> dict:
    """Score the images in ``folder`` under ``protocol``; the results dict has the shape of
    :func:`~layout2im.evaluation.runner.evaluate_generator`'s, with ``images.folder`` the
    report of what was found. Raises :class:`FolderError` for a folder that cannot be read,
    and for an incomplete one (missing, unreadable or wrongly sized images) unless
    ``allow_missing``; then only the complete layouts are scored."""
    if num_images is not None and num_images < 2:
        raise ConfigError(f"num_images must be at least 2 (statistics need two), got {num_images}")
    proto = get_protocol(protocol, data.name)
    proto.check_dataset(data.name)
    size = _image_size(proto, image_size)
    chosen = resolve_metrics(metrics, proto)
    device = parse_device(device, "device")
    files = files or EvalFiles()
    parts = protocol_layouts(data, proto, size, num_images)
    counts = {id_prefix(proto, p.split): len(layouts) for p, layouts in parts}
    scan = scan_folder(folder, counts, max_entries)
    extras = folder_extras(scan)
    read = {}
    for p, layouts in parts:
        prefix = id_prefix(proto, p.split)
        read[p.split] = read_folder(scan, prefix, len(layouts), proto.samples_per_layout, size)
    incomplete = "\n".join(
        f"{split}: {text}" if proto.skill_splits else text
        for split, got in read.items()
        if (text := problems(got.report))
    )
    if incomplete and not allow_missing:
        raise FolderError(
            f"{folder} is incomplete for protocol {proto.name}:\n{incomplete}\n"
            "score the complete layouts only with --allow-missing"
        )
    results = {}
    for p, layouts in parts:
        got = read[p.split]
        if len(got.scored) < 2:
            raise FolderError(
                f"{folder}: {len(got.scored)} complete layout(s) of split {p.split}; "
                "statistics need at least two"
            )
        chosen_layouts = layouts.subset(got.scored)
        ctx = EvalContext(p, chosen_layouts, got.fake, data, files, device, batch_size, progress)
        scored = run_metrics(ctx, [m for m in chosen if _fits(m, got.fake.shape[1])])
        for m in chosen:
            if not _fits(m, got.fake.shape[1]):
                scored[m.name] = {
                    "status": "skipped",
                    "reason": f"needs {m.samples_per_layout} images per layout; the folder "
                    f"has {got.fake.shape[1]} for every scored layout",
                }
        scored = {m.name: scored[m.name] for m in chosen}
        results[p.split] = _results(p, data, chosen_layouts, layouts, got, ctx, scored, size)
        results[p.split]["images"]["folder"] = {**extras, **got.report}
    if proto.skill_splits:
        return combine_splits(proto, results)
    return next(iter(results.values()))


def _fits(metric, samples: int) -> bool:
    return metric.samples_per_layout <= samples and "generator" not in metric.requires


def _results(proto, data, scored_layouts, layouts, got, ctx, metrics, size) -> dict:
    return {
        "format": RESULTS_FORMAT,
        "version": RESULTS_VERSION,
        "protocol": proto.to_dict(),
        "data": {
            "config": data.model_dump(),
            "split": proto.split,
            "layouts": len(scored_layouts),
            "layouts_in_protocol": len(layouts),
            "layouts_in_split": layouts.available,
            "image_size": size,
            "objects": int(sum(len(t) for t in scored_layouts.labels)),
            "layouts_selected": scored_layouts.selection,
        },
        "images": {
            "generated": int(got.fake.shape[0] * got.fake.shape[1]),
            "samples_per_layout_generated": int(got.fake.shape[1]),
            "samples_per_layout_scored": proto.samples_per_layout,
            "real": len(scored_layouts),
            "rescale": "files (uint8 as read)",
            "seed": None,
        },
        "networks": ctx.networks,
        "settings": {
            "device": str(ctx.device),
            "batch_size": ctx.batch_size,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "metrics": metrics,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
