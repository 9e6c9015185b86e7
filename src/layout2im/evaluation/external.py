"""Scoring another system's images: a protocol's layouts out as JSON lines, a folder of images
in, scored exactly as :func:`~layout2im.evaluation.runner.evaluate_generator` scores a model's.

:func:`export_layouts` writes the layouts another system should draw; :func:`score_folder`
reads the images back and runs the protocol's metrics on them through the runner's
:func:`~layout2im.evaluation.runner.score_images`: same layouts, same real images, same
networks, same cached real statistics. Metrics that need the model itself
(``reconstruction-colour``) or more images per layout than the folder has (diversity needs
two) are recorded as skipped with the reason.

**Layouts file** (``layout2im evaluate layouts``): JSON lines. The first line is a header::

    {"format": "layout2im-layouts", "version": 1, "protocol": {...}, "layouts": 2000,
     "image_size": 32, "samples_per_layout": 1, "naming": "..."}

then one line per layout, in the protocol's order::

    {"id": "000000", "split": "val", "index": 0, "real_image_id": 1000000,
     "width": 32, "height": 32,
     "objects": [{"category": "star", "category_id": 5,
                  "box": [0.125, 0.25, 0.5, 0.75],           # x0, y0, x1, y1 in [0, 1]
                  "box_pixels": [4, 8, 16, 24]}, ...]}      # the same box times the size

``category_id`` is the row of the model's vocabulary (``vocab.json``); ``box_pixels`` are
``box * size`` (fractions where the real boxes are fractional). Protocols with skill splits
prefix the id with the split (``ood-size-000041``).

**Image names** (``layout2im evaluate images``): one image per layout is ``<id>.png``; several
are ``<id>_<k>.png`` with ``k`` = 0, 1, ... (``<id>.png`` counts as ``<id>_0.png``). ``.jpg``
and ``.jpeg`` are read too. A layout's samples ``0..K-1`` are scored, ``K`` the protocol's
``samples_per_layout`` (more are used for diversity, which compares samples 0 and 1).

**Reading a folder**, defensively: :func:`scan_folder` lists it once (at most ``max_entries``
entries, no recursion) and matches names to layouts; :func:`read_folder` decodes the images a
protocol scores. A folder that cannot be scored at all (not a folder, too many entries, a
symbolic link leading out of it) raises :class:`FolderError`. Single bad files do not stop the
reading: each is reported by name and reason, as missing, extra (a name that is no layout's),
unreadable (not PNG/JPEG, truncated, over :data:`MAX_FILE_BYTES` or :data:`MAX_PIXELS`:
decompression bombs are refused before decoding) or wrongly sized (not square, or under
:data:`MIN_SIDE` pixels a side). Square images of another size are resized to the protocol's
image size (``Protocol.image_files``).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..config import ConfigError, DataConfig
from ..errors import Layout2ImError, short_path
from ..fsutil import atomic_write
from ..readers import check_path_text
from .generation import EvalLayouts, load_layouts
from .options import ScoringOptions
from .protocols import Protocol, get_protocol
from .runner import (
    check_image_size,
    combine_splits,
    resolve_metrics,
    score_images,
    scoring_protocol,
)

# ----------------------------------------------------------------------------- the layouts file

LAYOUTS_FORMAT = "layout2im-layouts"
LAYOUTS_VERSION = 1
NAMING = (
    "one image per layout: <id>.png; several: <id>_<k>.png with k = 0, 1, ...; PNG or JPEG "
    "(.png, .jpg, .jpeg), square, any size (resized to image_size by the protocol's rule)"
)
IMAGE_NAME = re.compile(
    r"^(?:(?P<split>[a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*)-)?(?P<index>\d{6})"
    r"(?:_(?P<sample>\d{1,3}))?\.(?P<ext>png|jpe?g)$",
    re.IGNORECASE,
)


def id_prefix(protocol: Protocol, split: str) -> str:
    """What layout ids of ``split`` start with: ``"<split>-"`` for a protocol with skill
    splits, else nothing."""
    return f"{split}-" if protocol.skill_splits else ""


def layout_id(prefix: str, index: int) -> str:
    return f"{prefix}{index:06d}"


def layout_records(
    layouts: EvalLayouts, split: str, prefix: str, image_size: int
) -> Iterator[dict]:
    """One JSON-ready record per layout (see the module docstring)."""
    for i, (labels, boxes) in enumerate(zip(layouts.labels, layouts.boxes, strict=True)):
        objects = []
        for label, box in zip(labels.tolist(), boxes.tolist(), strict=True):
            objects.append(
                {
                    "category": layouts.vocab.names[label],
                    "category_id": int(label),
                    "box": [round(v, 6) for v in box],
                    "box_pixels": [round(v * image_size, 4) for v in box],
                }
            )
        yield {
            "id": layout_id(prefix, i),
            "split": split,
            "index": i,
            "real_image_id": layouts.image_ids[i] if layouts.image_ids else None,
            "width": image_size,
            "height": image_size,
            "objects": objects,
        }


def write_layouts(
    path: str | Path,
    protocol: Protocol,
    parts: list[tuple[Protocol, EvalLayouts]],
    image_size: int,
    command: list[str] | None = None,
) -> dict:
    """Write the layouts file (header line, then every layout of every split of ``parts``,
    in order) atomically; returns the header."""
    header = {
        "format": LAYOUTS_FORMAT,
        "version": LAYOUTS_VERSION,
        "protocol": protocol.to_dict(),
        "layouts": sum(len(layouts) for _, layouts in parts),
        "layouts_per_split": {p.split: len(layouts) for p, layouts in parts},
        "image_size": image_size,
        "samples_per_layout": protocol.samples_per_layout,
        "naming": NAMING,
        "command": command,
    }
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for proto, layouts in parts:
            prefix = id_prefix(protocol, proto.split)
            for record in layout_records(layouts, proto.split, prefix, image_size):
                f.write(json.dumps(record) + "\n")
    return header


# ----------------------------------------------------------------------------- reading a folder

MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
MIN_SIDE = 8
MAX_SAMPLES = 64  # sample numbers beyond are no layout's (reported as extra)
DIVERSITY_SAMPLES = 2  # samples read beyond the required ones: diversity compares two
DEFAULT_MAX_ENTRIES = 1_000_000
SHOWN = 20  # names listed per kind of problem in messages


class FolderError(Layout2ImError):
    """A folder of images that cannot be scored (or, unless allowed, is incomplete)."""


@dataclass
class FolderScan:
    """What a folder holds: ``files[(prefix, index)][sample]`` the path of each image,
    ``extra`` names no layout has, ``duplicates`` second names of one image."""

    folder: Path
    entries: int
    files: dict[tuple[str, int], dict[int, Path]] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve(strict=True).relative_to(folder)
    except (OSError, ValueError, RuntimeError):
        return False
    return True


def scan_folder(
    folder: str | Path, layouts: dict[str, int], max_entries: int = DEFAULT_MAX_ENTRIES
) -> FolderScan:
    """Match the names in ``folder`` to layouts: ``layouts`` maps an id prefix (``""`` for
    a one-split protocol) to its number of layouts. Raises :class:`FolderError` for a folder
    that is missing, unreadable, holds more than ``max_entries`` entries, or holds a symbolic
    link that leads outside it."""
    given = check_path_text(folder, "image folder", FolderError)
    if not given.is_dir():
        raise FolderError(f"{short_path(given)} is not a folder")
    root = given.resolve()
    scan = FolderScan(root, 0)
    try:
        with os.scandir(root) as it:
            for entry in it:
                scan.entries += 1
                if scan.entries > max_entries:
                    raise FolderError(
                        f"{short_path(given)} holds more than {max_entries:,} entries; a "
                        "protocol's images "
                        "belong in a folder of their own"
                    )
                _add(scan, entry, root, layouts)
    except OSError as exc:
        raise FolderError(f"cannot list {short_path(given)}: {exc.strerror or exc}") from None
    return scan


def _add(scan: FolderScan, entry: os.DirEntry, root: Path, layouts: dict[str, int]) -> None:
    name = entry.name
    if entry.is_symlink() and not _inside(Path(entry.path), root):
        raise FolderError(
            f"{name} in {root.name} is a symbolic link leading outside the folder (or "
            "nowhere); copy the images in instead"
        )
    match = IMAGE_NAME.match(name)
    if match is None or not entry.is_file():
        scan.extra.append(name)
        return
    prefix = f"{match['split']}-" if match["split"] else ""
    index = int(match["index"])
    sample = int(match["sample"]) if match["sample"] is not None else 0
    if prefix not in layouts or index >= layouts[prefix] or sample >= MAX_SAMPLES:
        scan.extra.append(name)
        return
    samples = scan.files.setdefault((prefix, index), {})
    if sample in samples:
        scan.duplicates.append(name)
        return
    samples[sample] = Path(entry.path)


def read_image(path: Path, size: int) -> tuple[np.ndarray | None, str, tuple[int, int] | None]:
    """(uint8 (size, size, 3) or None, problem, original (width, height)). ``problem`` is ""
    when the image was read, else ``unreadable: ...`` or ``wrong size: ...``."""
    try:
        nbytes = path.stat().st_size
        if nbytes > MAX_FILE_BYTES:
            return None, f"unreadable: {nbytes:,} bytes, more than {MAX_FILE_BYTES:,}", None
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.format not in ("PNG", "JPEG"):
                    return None, f"unreadable: {im.format or 'unknown'} is not PNG or JPEG", None
                w, h = im.size
                if w * h > MAX_PIXELS:
                    return None, f"unreadable: {w}x{h}, more than {MAX_PIXELS:,} pixels", None
                if w != h or w < MIN_SIDE:
                    return None, f"wrong size: {w}x{h}, not square of {MIN_SIDE}+ px", (w, h)
                rgb = im.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return None, f"unreadable: more than {MAX_PIXELS:,} pixels (decompression bomb)", None
    except (OSError, ValueError, SyntaxError) as exc:
        return None, f"unreadable: {str(exc)[:80] or type(exc).__name__}", None
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8), "", (w, h)


@dataclass
class FolderImages:
    """The images of one split: ``fake`` uint8 (L', K, 3, H, W) of the ``scored`` layout
    indices, and the report of what was found."""

    fake: torch.Tensor | None
    scored: list[int]
    report: dict


def read_folder(
    scan: FolderScan, prefix: str, num_layouts: int, required: int, size: int
) -> FolderImages:
    """Decode the images of the layouts ``prefix``+``000000`` .. ``num_layouts - 1``: samples
    ``0..K-1`` of every layout that has the ``required`` first ones readable, ``K`` the
    fewest such samples any of them has (samples beyond ``max(required, 2)`` are not read, so
    memory stays bounded by the protocol). Everything else is reported."""
    missing, unreadable, wrong = [], [], []
    sizes: Counter = Counter()
    images: dict[int, list[np.ndarray]] = {}
    for index in range(num_layouts):
        files = scan.files.get((prefix, index), {})
        ident = layout_id(prefix, index)
        got = []
        for k in range(max(required, min(len(files), DIVERSITY_SAMPLES))):
            path = files.get(k)
            if path is None:
                if k < required:
                    missing.append(f"{ident}.png" if required == 1 else f"{ident}_{k}.png")
                break
            pixels, problem, original = read_image(path, size)
            if original is not None:
                sizes[f"{original[0]}x{original[1]}"] += 1
            if problem:
                (wrong if problem.startswith("wrong") else unreadable).append(
                    f"{path.name} ({problem})"
                )
                break
            got.append(pixels)
        if len(got) >= required:
            images[index] = got
    scored = sorted(images)
    k = min((len(v) for v in images.values()), default=0)
    fake = None
    if scored:
        stacked = np.stack([np.stack(images[i][:k]) for i in scored])  # (L, K, H, W, 3)
        fake = torch.from_numpy(stacked).permute(0, 1, 4, 2, 3).contiguous()
    report = {
        "layouts": num_layouts,
        "layouts_scored": len(scored),
        "samples_per_layout_found": k,
        "images_read": int(sum(len(v) for v in images.values())),
        "image_sizes": dict(sizes.most_common(5)),
        "resized": int(sum(n for s, n in sizes.items() if s != f"{size}x{size}")),
        "missing": _listing(missing),
        "unreadable": _listing(unreadable),
        "wrong_size": _listing(wrong),
    }
    return FolderImages(fake, scored, report)


def _listing(names: list[str]) -> dict:
    return {"count": len(names), "names": names[:SHOWN]}


def problems(report: dict) -> str:
    """One line per kind of problem in a split's ``report`` (empty when complete)."""
    lines = []
    for kind in ("missing", "unreadable", "wrong_size", "extra", "duplicates"):
        entry = report.get(kind)
        if entry and entry["count"]:
            more = entry["count"] - len(entry["names"])
            shown = ", ".join(entry["names"]) + (f", ... ({more} more)" if more > 0 else "")
            lines.append(f"{entry['count']} {kind.replace('_', ' ')}: {shown}")
    return "\n".join(lines)


def folder_extras(scan: FolderScan) -> dict:
    """The folder-wide part of the report: names that are no layout's, and duplicates."""
    return {
        "folder": scan.folder.name,
        "entries": scan.entries,
        "extra": _listing(sorted(scan.extra)),
        "duplicates": _listing(sorted(scan.duplicates)),
    }


# ----------------------------------------------------------------------------- scoring


def _image_size(protocol: Protocol, image_size: int | None) -> int:
    size = image_size or protocol.image_size
    if size is None:
        raise ConfigError(
            f"protocol {protocol.name!r} does not fix an image size; give --image-size"
        )
    check_image_size(protocol, size, "asked for")
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
    options: ScoringOptions | None = None,
    allow_missing: bool = False,
    image_size: int | None = None,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> dict:
    """Score the images in ``folder`` under ``options`` (protocol, metrics, ...: see
    :class:`ScoringOptions`); the results dict has the shape of
    :func:`~layout2im.evaluation.runner.evaluate_generator`'s, with ``images.folder`` the
    report of what was found. Raises :class:`FolderError` for a folder that cannot be read,
    and for an incomplete one (missing, unreadable or wrongly sized images) unless
    ``allow_missing``; then only the complete layouts are scored."""
    options = options or ScoringOptions()
    proto = scoring_protocol(options, data)
    size = _image_size(proto, image_size)
    chosen = resolve_metrics(options.metrics, proto)
    parts = protocol_layouts(data, proto, size, options.num_images)
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
            f"{short_path(folder)} is incomplete for protocol {proto.name}:\n{incomplete}\n"
            "score the complete layouts only with --allow-missing"
        )
    results = {}
    made = {"rescale": "files (uint8 as read)", "seed": None}
    for p, layouts in parts:
        got = read[p.split]
        if len(got.scored) < 2:
            raise FolderError(
                f"{short_path(folder)}: {len(got.scored)} complete layout(s) of split {p.split}; "
                "statistics need at least two"
            )
        scored_layouts = layouts.subset(got.scored)
        part = score_images(p, scored_layouts, got.fake, data, options, chosen, made)
        part["data"]["layouts_in_protocol"] = len(layouts)
        part["images"]["folder"] = {**extras, **got.report}
        results[p.split] = part
    if proto.skill_splits:
        return combine_splits(proto, results)
    return next(iter(results.values()))
