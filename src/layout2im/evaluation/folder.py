"""Reading a folder of another system's images for a protocol, defensively.

:func:`scan_folder` lists the folder once (at most ``max_entries`` entries, no recursion) and
matches names to layouts (:mod:`layout2im.evaluation.exchange` documents the naming);
:func:`read_folder` decodes the images a protocol scores. A folder that cannot be scored at all
(not a folder, too many entries, a symbolic link leading out of it) raises
:class:`FolderError`. Single bad files do not stop the reading: each is reported by name and
reason, as missing, extra (a name that is no layout's), unreadable (not PNG/JPEG, truncated,
over :data:`MAX_FILE_BYTES` or :data:`MAX_PIXELS`: decompression bombs are refused before
decoding) or wrongly sized (not square, or under :data:`MIN_SIDE` pixels a side). Square
images of another size are resized to the protocol's image size (``Protocol.image_files``).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import Layout2ImError
from .exchange import IMAGE_NAME, layout_id

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
    given = Path(folder)
    if not given.is_dir():
        raise FolderError(f"{given} is not a folder")
    root = given.resolve()
    scan = FolderScan(root, 0)
    try:
        with os.scandir(root) as it:
            for entry in it:
                scan.entries += 1
                if scan.entries > max_entries:
                    raise FolderError(
                        f"{given} holds more than {max_entries:,} entries; a protocol's images "
                        "belong in a folder of their own"
                    )
                _add(scan, entry, root, layouts)
    except OSError as exc:
        raise FolderError(f"cannot list {given}: {exc.strerror or exc}") from None
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
