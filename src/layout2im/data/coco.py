"""COCO-Stuff 2017 and any COCO-format dataset: parse, filter, index.

A source is an instances JSON (``images``, ``annotations``, ``categories``; ``bbox`` is
``[x, y, w, h]`` in pixels), an optional stuff JSON in the same format (COCO-Stuff's
``stuff_*2017.json``: annotations and categories, ids 92..183) and an image folder.

**Filters** (Layout2Im's COCO-Stuff loader, itself sg2im's; each is a ``data.*`` setting):

- objects: a box whose area is at most ``min_box_area`` (0.02) of the image is dropped, as is
  the category named ``other`` (COCO-Stuff id 183) unless ``include_other``; crowd boxes are
  kept as in the paper unless ``drop_crowd``;
- images: with ``stuff_only`` only images that have at least one stuff annotation are kept
  (it does not apply without a stuff JSON: an info line says so); then images with
  ``min_objects..max_objects`` (3..8) objects left are kept.

Beyond the paper (real files are messy): boxes are clipped to the image (counted), boxes
with zero or negative width or height, or nothing left after clipping, are dropped (counted),
and annotations of an image id missing from ``images`` are dropped (counted, with a warning).
Malformed JSON, missing keys, wrong types, duplicate image ids, unknown category ids and
``file_name`` values that leave the image folder (absolute, or with ``..``) raise
:class:`DatasetError` naming the file and the annotation. Duplicate annotation ids are kept
and counted (``data inspect`` reports them).

**Vocabulary**: indexed by category id, so labels are category ids and exported models keep
them: ``max id + 1`` rows, row 0 ``__image__`` (unless a category uses id 0), the JSON's
category names, ``None`` for unused ids. COCO-Stuff has 184 rows (80 things, 91 stuff, other).
"""

from __future__ import annotations

import array
import logging
import math
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from ..errors import quote, short_path
from ..schema.config import CocoConfig, DatasetSettings
from .errors import DatasetError
from .jsonstream import read_members
from .layout_index import IMAGE_ROW_NAME, LayoutIndex
from .values import MAX_COORDINATE, MAX_IMAGE_SIDE, is_coordinate, is_id, is_int, is_number, is_side

log = logging.getLogger(__name__)

MAX_CATEGORY_ID = 100_000  # the vocabulary has max id + 1 rows


class CocoFilters(DatasetSettings, CocoConfig):
    """The filter settings that shape a COCO index (``data.coco`` with
    ``data.min/max_objects``, ``CocoFilters.of(cfg)``); part of its cache key."""

    SOURCE_KEYS = frozenset(
        {"instances_json", "stuff_json", "val_instances_json", "val_stuff_json", "val_fraction"}
    )


@dataclass(frozen=True)
class CocoSource:
    """The files of one COCO-format split."""

    instances: Path
    stuff: Path | None = None


# ----------------------------------------------------------------------------- parsing


class _Annotations:
    """Per-annotation columns, compact (``array`` of machine numbers, not Python objects)."""

    def __init__(self) -> None:
        self.ids = array.array("q")
        self.image_ids = array.array("q")
        self.category_ids = array.array("q")
        self.x = array.array("d")
        self.y = array.array("d")
        self.w = array.array("d")
        self.h = array.array("d")
        self.crowd = array.array("b")
        self.source = array.array("b")  # 0: instances JSON, 1: stuff JSON

    def __len__(self) -> int:
        return len(self.ids)

    def handler(self, path: Path, source: int):
        columns = (self.ids, self.image_ids, self.category_ids, self.x, self.y, self.w, self.h)

        def add(index: int, ann: Any) -> None:
            n = len(self.ids)
            try:
                x, y, w, h = ann["bbox"]
                self.ids.append(ann["id"])
                self.image_ids.append(ann["image_id"])
                self.category_ids.append(ann["category_id"])
                self.x.append(x)
                self.y.append(y)
                self.w.append(w)
                self.h.append(h)
                crowd = ann.get("iscrowd", 0)
                if (
                    type(crowd) is not int
                    or crowd not in (0, 1)
                    or bool in set(map(type, ann["bbox"]))
                ):
                    raise ValueError  # booleans pass array.append as numbers
                self.crowd.append(crowd)
                self.source.append(source)
            except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
                for column in columns:
                    del column[n:]
                raise DatasetError(_annotation_problem(path, index, ann)) from None

        return add

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "ids": np.frombuffer(self.ids, dtype=np.int64),
            "image_ids": np.frombuffer(self.image_ids, dtype=np.int64),
            "category_ids": np.frombuffer(self.category_ids, dtype=np.int64),
            "x": np.frombuffer(self.x, dtype=np.float64),
            "y": np.frombuffer(self.y, dtype=np.float64),
            "w": np.frombuffer(self.w, dtype=np.float64),
            "h": np.frombuffer(self.h, dtype=np.float64),
            "crowd": np.frombuffer(self.crowd, dtype=np.int8).astype(bool),
            "source": np.frombuffer(self.source, dtype=np.int8),
        }


def _annotation_problem(path: Path, index: int, ann: Any) -> str:
    """The message for an annotation the fast path could not read."""
    where = f"{short_path(path)}: annotations[{index}]"
    if not isinstance(ann, dict):
        return f"{where} must be an object, got {type(ann).__name__}"
    if is_int(ann.get("id")):
        where = f"{short_path(path)}: annotation id {quote(ann['id'])}"
    for key in ("id", "image_id", "category_id", "bbox"):
        if key not in ann:
            return f"{where} has no {key!r} key"
    for key in ("id", "image_id", "category_id"):
        if not is_id(ann[key]):
            return f"{where}: {key!r} must be an integer, got {quote(ann[key])}"
    bbox = ann["bbox"]
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(map(is_number, bbox)):
        return f"{where}: 'bbox' must be [x, y, width, height] numbers, got {quote(bbox)}"
    if not all(map(is_coordinate, bbox)):
        return (
            f"{where}: 'bbox' numbers must be finite and at most {MAX_COORDINATE:g} in "
            f"magnitude, got {quote(bbox)}"
        )
    return f"{where}: 'iscrowd' must be 0 or 1, got {quote(ann.get('iscrowd'))}"


class _Images:
    def __init__(self) -> None:
        self.ids = array.array("q")
        self.widths = array.array("q")
        self.heights = array.array("q")
        self.file_names: list[str] = []

    def handler(self, path: Path):
        def add(index: int, image: Any) -> None:
            if not isinstance(image, dict):
                raise DatasetError(
                    f"{short_path(path)}: images[{index}] must be an object, got "
                    f"{type(image).__name__}"
                )
            where = f"{short_path(path)}: images[{index}]"
            for key in ("id", "file_name", "width", "height"):
                if key not in image:
                    with_id = f" (id {quote(image['id'])})" if "id" in image else ""
                    raise DatasetError(f"{where}{with_id} has no {key!r} key")
            image_id, name = image["id"], image["file_name"]
            width, height = image["width"], image["height"]
            if not is_id(image_id):
                raise DatasetError(f"{where}: 'id' must be an integer, got {quote(image_id)}")
            if not isinstance(name, str) or not name:
                raise DatasetError(
                    f"{short_path(path)}: image id {image_id}: bad 'file_name' {quote(name)}"
                )
            if escapes_folder(name):
                raise DatasetError(
                    f"{short_path(path)}: image id {image_id}: 'file_name' {quote(name)} "
                    "leaves the image "
                    "folder (absolute, or with '..'); file names must be relative paths inside "
                    "the image folder"
                )
            if not (is_side(width) and is_side(height)):
                raise DatasetError(
                    f"{short_path(path)}: image id {image_id}: 'width' and 'height' must be "
                    "integers from 1 "
                    f"to {MAX_IMAGE_SIDE}, got {quote(width)} x {quote(height)}"
                )
            self.ids.append(image_id)
            self.widths.append(width)
            self.heights.append(height)
            self.file_names.append(name)

        return add


def escapes_folder(name: str) -> bool:
    """Whether a relative file name from a dataset file could point outside its folder: an
    absolute path (POSIX or Windows, drive or UNC), a ``..`` component, or a NUL byte."""
    if "\0" in name or PurePosixPath(name).is_absolute():
        return True
    windows = PureWindowsPath(name)
    if windows.drive or windows.root:
        return True
    return any(part == ".." for part in name.replace("\\", "/").split("/"))


def _categories_handler(path: Path, names: dict[int, str], files: dict[int, Path]):
    def add(index: int, category: Any) -> None:
        where = f"{short_path(path)}: categories[{index}]"
        if not isinstance(category, dict):
            raise DatasetError(f"{where} must be an object, got {type(category).__name__}")
        for key in ("id", "name"):
            if key not in category:
                raise DatasetError(f"{where} has no {key!r} key")
        cat_id, name = category["id"], category["name"]
        if not is_int(cat_id) or not 0 <= cat_id <= MAX_CATEGORY_ID:
            raise DatasetError(
                f"{where}: 'id' must be an integer in 0..{MAX_CATEGORY_ID} (the vocabulary is "
                f"indexed by category id), got {quote(cat_id)}"
            )
        if not isinstance(name, str) or not name:
            raise DatasetError(f"{where}: 'name' must be a non-empty string, got {quote(name)}")
        if cat_id in names and names[cat_id] != name:
            raise DatasetError(
                f"{where}: category id {cat_id} is {quote(name)} here but "
                f"{quote(names[cat_id])} in {short_path(files[cat_id])}"
            )
        names[cat_id] = name
        files[cat_id] = path

    return add


def _read(path: Path, handlers: dict[str, Any], required: tuple[str, ...]) -> None:
    keys = read_members(path, handlers, skip_key="segmentation")
    for key in required:
        if key not in keys:
            raise DatasetError(
                f"{short_path(path)}: no {key!r} list at the top level (not a COCO JSON?)"
            )


def vocabulary_names(categories: dict[int, str], path: Path) -> list[str | None]:
    """Category-id-indexed names: row 0 ``__image__`` unless a category has id 0."""
    if not categories:
        raise DatasetError(f"{short_path(path)}: 'categories' is empty")
    names: list[str | None] = [None] * (max(categories) + 1)
    if 0 not in categories:
        names[0] = IMAGE_ROW_NAME
    seen: dict[str, int] = {}
    for cat_id, name in sorted(categories.items()):
        if name in seen or (name == IMAGE_ROW_NAME and 0 not in categories):
            other = seen.get(name, 0)
            raise DatasetError(
                f"{short_path(path)}: category name {quote(name)} is used by ids {other} "
                f"and {cat_id}"
            )
        seen[name] = cat_id
        names[cat_id] = name
    return names


# ----------------------------------------------------------------------------- filtering


def build_coco_index(source: CocoSource, filters: CocoFilters, split_name: str) -> LayoutIndex:
    """Parse ``source``, apply ``filters`` and return the index (one split, ``split_name``)."""
    images = _Images()
    anns = _Annotations()
    categories: dict[int, str] = {}
    category_files: dict[int, Path] = {}
    log.info("reading %s", source.instances)
    _read(
        source.instances,
        {
            "images": images.handler(source.instances),
            "annotations": anns.handler(source.instances, 0),
            "categories": _categories_handler(source.instances, categories, category_files),
        },
        ("images", "annotations", "categories"),
    )
    notes = []
    stuff_only = filters.stuff_only
    if source.stuff is not None:
        log.info("reading %s", source.stuff)
        _read(
            source.stuff,
            {
                "annotations": anns.handler(source.stuff, 1),
                "categories": _categories_handler(source.stuff, categories, category_files),
            },
            ("annotations", "categories"),
        )
    elif stuff_only:
        stuff_only = False
        notes.append("no stuff JSON: stuff_only is off (every image may be kept)")
        log.info("no stuff JSON: data.coco.stuff_only does not apply; every image may be kept")
    names = vocabulary_names(categories, source.instances)
    index = _filter(images, anns, names, filters, stuff_only, source, split_name)
    index.meta["report"][split_name]["notes"] = notes
    return index


def _check_ids(image_ids: np.ndarray, path: Path) -> np.ndarray:
    order = np.argsort(image_ids, kind="stable")
    sorted_ids = image_ids[order]
    dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if len(dup):
        raise DatasetError(
            f"{short_path(path)}: image id {sorted_ids[dup[0]]} appears more than once"
        )
    return order


def _filter(
    images: _Images,
    anns: _Annotations,
    names: list[str | None],
    filters: CocoFilters,
    stuff_only: bool,
    source: CocoSource,
    split_name: str,
) -> LayoutIndex:
    files = (source.instances, source.stuff)
    image_ids = np.frombuffer(images.ids, dtype=np.int64)
    widths = np.frombuffer(images.widths, dtype=np.int64).astype(np.float64)
    heights = np.frombuffer(images.heights, dtype=np.int64).astype(np.float64)
    order = _check_ids(image_ids, source.instances)
    a = anns.arrays()
    total = len(a["ids"])

    # Unknown category ids and non-finite boxes are errors.
    known = np.zeros(len(names), dtype=bool)
    known[[i for i, n in enumerate(names) if n is not None and n != IMAGE_ROW_NAME]] = True
    cats = a["category_ids"]
    in_range = (cats >= 0) & (cats < len(names))
    bad = ~in_range
    bad[in_range] = ~known[cats[in_range]]
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DatasetError(
            f"{short_path(files[a['source'][k]])}: annotation id {a['ids'][k]} has "
            f"category_id {cats[k]}, "
            "which is not in 'categories'"
        )
    xywh = np.stack([a["x"], a["y"], a["w"], a["h"]], axis=1)
    finite = np.isfinite(xywh).all(axis=1)
    if not finite.all():
        k = int(np.flatnonzero(~finite)[0])
        raise DatasetError(
            f"{short_path(files[a['source'][k]])}: annotation id {a['ids'][k]} has a "
            "non-finite bbox "
            f"{xywh[k].tolist()}"
        )

    # Map annotations to image rows.
    pos = np.searchsorted(image_ids[order], a["image_ids"])
    pos = np.minimum(pos, max(len(order) - 1, 0))
    found = (image_ids[order][pos] == a["image_ids"]) if len(order) else np.zeros(total, bool)
    row = np.where(found, order[pos] if len(order) else 0, -1)

    dropped: Counter[str] = Counter()
    keep = np.ones(total, dtype=bool)

    def drop(mask: np.ndarray, reason: str) -> None:
        mask = mask & keep
        n = int(mask.sum())
        if n:
            dropped[reason] += n
            keep[mask] = False

    if not found.all():
        k = int(np.flatnonzero(~found)[0])
        log.warning(
            "%s: %d annotation(s) refer to image ids missing from the images list (first: "
            "annotation id %d, image_id %d); dropping them",
            files[a["source"][k]], int((~found).sum()), a["ids"][k], a["image_ids"][k],
        )  # fmt: skip
    drop(~found, "image_id not in the images list")
    W = np.where(found, widths[np.maximum(row, 0)], 1.0)
    H = np.where(found, heights[np.maximum(row, 0)], 1.0)
    x, y, w, h = xywh.T
    drop((w <= 0) | (h <= 0), "zero-area box (width or height <= 0)")
    if filters.drop_crowd:
        drop(a["crowd"], "crowd box (iscrowd=1)")
    if not filters.include_other:
        other = np.array([n == "other" for n in names], dtype=bool)
        drop(other[cats], "category 'other'")
    drop(
        (w * h) / (W * H) <= filters.min_box_area, f"box area <= {filters.min_box_area:g} of image"
    )
    x0, y0 = np.clip(x, 0, W), np.clip(y, 0, H)
    x1, y1 = np.clip(x + w, 0, W), np.clip(y + h, 0, H)
    drop((x1 <= x0) | (y1 <= y0), "box outside the image")
    clipped = keep & ((x0 != x) | (y0 != y) | (x1 != x + w) | (y1 != y + h))

    # Image filters, in the paper's order.
    n_images = len(image_ids)
    image_dropped: Counter[str] = Counter()
    keep_image = np.ones(n_images, dtype=bool)
    if stuff_only:
        has_stuff = np.zeros(n_images, dtype=bool)
        has_stuff[row[found & (a["source"] == 1)]] = True
        image_dropped["no stuff annotations"] = int((~has_stuff).sum())
        keep_image &= has_stuff
    counts = np.bincount(row[keep], minlength=n_images)
    few = keep_image & (counts < filters.min_objects)
    image_dropped[f"fewer than {filters.min_objects} objects"] = int(few.sum())
    keep_image &= ~few
    many = keep_image & (counts > filters.max_objects)
    image_dropped[f"more than {filters.max_objects} objects"] = int(many.sum())
    keep_image &= ~many

    # Kept objects of kept images, grouped by image in file order (instances, then stuff).
    final = keep & np.where(row >= 0, keep_image[np.maximum(row, 0)], False)
    sel = np.flatnonzero(final)
    sel = sel[np.argsort(row[sel], kind="stable")]
    kept_rows = np.flatnonzero(keep_image)
    boxes = np.stack([x0[sel], y0[sel], x1[sel], y1[sel]], axis=1)
    report = {
        "source": {"instances": str(source.instances), "stuff": _str(source.stuff)},
        "images": {
            "total": n_images,
            "kept": len(kept_rows),
            "dropped": {k: v for k, v in image_dropped.items() if v},
        },
        "objects": {
            "total": total,
            "kept": len(sel),
            "dropped": dict(dropped),
            "in_dropped_images": int((keep & ~final).sum()),
            "clipped": int((clipped & final).sum()),
            "duplicate_ids": _duplicate_count(a["ids"]),
        },
    }
    return LayoutIndex.from_lists(
        image_ids=image_ids[kept_rows],
        widths=widths[kept_rows],
        heights=heights[kept_rows],
        file_names=[images.file_names[i] for i in kept_rows],
        split=np.zeros(len(kept_rows), dtype=np.int8),
        counts=counts[kept_rows],
        labels=cats[sel],
        boxes=boxes,
        ann_ids=a["ids"][sel],
        meta={
            "kind": "coco",
            "vocab": names,
            "splits": [split_name],
            "report": {split_name: report},
            "settings": filters.index_settings(),
        },
    )


def _duplicate_count(ids: np.ndarray) -> int:
    """How many annotations share their id with an earlier one (0 when all are unique)."""
    return int(len(ids) - len(np.unique(ids)))


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def holdout_mask(image_ids: np.ndarray, fraction: float) -> np.ndarray:
    """Images held out for validation: a fixed hash of the image id, so the choice does not
    change when filters or other images change. ``fraction`` in [0, 1)."""
    if fraction <= 0:
        return np.zeros(len(image_ids), dtype=bool)
    threshold = math.floor(fraction * 2**32)
    hashes = np.array([zlib.crc32(b"%d" % i) for i in image_ids.tolist()], dtype=np.uint64)
    return hashes < threshold
