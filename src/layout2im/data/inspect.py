"""``layout2im data inspect``: what the filters kept and dropped, split sizes, statistics.

:func:`inspect_dataset` returns a JSON-able report; :func:`format_report` renders it as text.
For real datasets the filter counts come from the index (built now, or read from the cache);
objects per image and category counts are over the kept images of each split. With
``check_images`` every image of every split is decoded and the unreadable ones are counted and
listed (these are what ``data.on_bad_image=skip`` would skip).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from tqdm import tqdm

from ..config import DataConfig
from . import build_dataset
from .errors import DatasetError
from .images import BadImageError, load_image
from .layout_index import IMAGE_ROW_NAME
from .registry import get_dataset
from .shapes_render import SHAPE_CATEGORIES, sample_scene, scene_seed

TOP_CATEGORIES = 20
SHAPES_SCENES = 1000  # scenes per split whose objects are counted for shapes
MAX_BAD_EXAMPLES = 10


def inspect_dataset(
    cfg: DataConfig, check_images: bool = False, progress: bool = False
) -> dict[str, Any]:
    """A report on dataset ``cfg``: filter counts, split sizes, objects per image and the most
    common categories per split, and (``check_images``) unreadable images."""
    dataset = get_dataset(cfg.name)
    if not dataset.file_based:
        return dataset.inspect(cfg)
    report: dict[str, Any] = {"dataset": cfg.name, "root": cfg.root, "splits": {}, "filters": {}}
    for split in dataset.splits:
        try:
            data = dataset.open_split(cfg, split, False)
        except DatasetError as exc:
            if split == "train":
                raise
            report["splits"][split] = {"error": str(exc)}
            continue
        index, rows = data.index, data.rows
        for name, filters in index.meta.get("report", {}).items():
            report["filters"].setdefault(name, filters)
        vocab = index.meta["vocab"]
        counts = index.counts()[rows]
        labels = _labels_of(index, rows)
        entry: dict[str, Any] = {
            "images": len(rows),
            "objects": int(counts.sum()),
            "index": str(data.index_path) if data.index_path else None,
            "cached": data.cached,
            "vocab_rows": len(vocab),
            "categories": sum(1 for n in vocab if n is not None and n != IMAGE_ROW_NAME),
            "objects_per_image": _histogram(counts),
            "top_categories": [
                [vocab[label], n]
                for label, n in Counter(labels.tolist()).most_common(TOP_CATEGORIES)
            ],
        }
        if data.max_objects_used is not None:
            entry["objects_used_per_item"] = data.max_objects_used
        if check_images and split != "samples":
            entry["bad_images"] = _check_images(data, progress)
        report["splits"][split] = entry
    return report


def _labels_of(index, rows: np.ndarray) -> np.ndarray:
    starts, ends = index.obj_offsets[rows], index.obj_offsets[rows + 1]
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    mask = np.zeros(index.num_objects + 1, dtype=np.int64)
    np.add.at(mask, starts, 1)
    np.add.at(mask, ends, -1)
    return index.labels[np.cumsum(mask[:-1]) > 0]


def _histogram(counts: np.ndarray) -> dict[str, int]:
    values, freq = np.unique(counts, return_counts=True)
    return {str(int(v)): int(f) for v, f in zip(values, freq)}


def _check_images(data, progress: bool) -> dict[str, Any]:
    bad = []
    for row in tqdm(data.rows, desc=f"checking {data.split} images", disable=not progress):
        path = data.image_dir / data.index.file_name(int(row))
        try:
            load_image(path)
        except BadImageError as exc:
            bad.append(str(exc))
    return {"checked": len(data.rows), "bad": len(bad), "examples": bad[:MAX_BAD_EXAMPLES]}


def inspect_shapes(cfg: DataConfig) -> dict[str, Any]:
    """The report of the synthetic ``shapes`` dataset (objects counted over the first
    ``SHAPES_SCENES`` scenes of each split, nothing rendered; over a tenth as many of the skill
    splits, whose scenes are rendered to be counted)."""
    report: dict[str, Any] = {"dataset": cfg.name, "root": None, "splits": {}, "filters": {}}
    for split in get_dataset(cfg.name).splits:
        dataset, _ = build_dataset(cfg, 32, split)
        skill = hasattr(dataset, "skill")  # skill scenes are rendered to be counted
        n = min(len(dataset), SHAPES_SCENES // 10 if skill else SHAPES_SCENES)
        counts, labels = [], Counter()
        for i in range(n):
            if skill:
                categories = dataset.scene(i).labels.tolist()
            else:
                _, objects = sample_scene(
                    scene_seed(dataset.seed, i), cfg.min_objects, cfg.max_objects
                )
                categories = [obj.category for obj in objects]
            counts.append(len(categories))
            labels.update(categories)
        report["splits"][split] = {
            "images": len(dataset),
            "objects": None,
            "counted_scenes": n,
            "vocab_rows": len(SHAPE_CATEGORIES),
            "categories": len(SHAPE_CATEGORIES),
            "objects_per_image": _histogram(np.array(counts)),
            "top_categories": [
                [SHAPE_CATEGORIES[c], k] for c, k in labels.most_common(TOP_CATEGORIES)
            ],
        }
    return report


# ----------------------------------------------------------------------------- text


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"dataset {report['dataset']}" + (f" under {report['root']}" if report["root"] else "")
    ]
    shown: set[tuple[str, str]] = set()
    for name, filters in report["filters"].items():
        sources = [(k, v) for k, v in filters.get("source", {}).items() if v]
        new = [f"{k}: {v}" for k, v in sources if (k, v) not in shown]
        shown.update(sources)
        lines += _format_filters(name, filters, new)
    lines.append("")
    sizes = []
    for split, entry in report["splits"].items():
        if "error" in entry:
            sizes.append(f"{split} -")
        else:
            sizes.append(f"{split} {entry['images']:,}")
    lines.append("split sizes (images): " + ", ".join(sizes))
    for split, entry in report["splits"].items():
        if split == "samples":  # a subset of val: its size is enough
            continue
        lines.append("")
        if "error" in entry:
            lines.append(f"[{split}] not available: {entry['error']}")
            continue
        lines += _format_split(split, entry)
    return "\n".join(lines)


def _format_filters(name: str, f: dict[str, Any], sources: list[str]) -> list[str]:
    lines = ["", f"filters of {name}" + (":" if sources else " (same files):")]
    lines += [f"  {source}" for source in sources]
    images, objects = f["images"], f["objects"]
    lines.append(f"  images   {images['total']:>10,} in the source, {images['kept']:,} kept")
    for reason, n in images["dropped"].items():
        lines.append(f"           {-n:>10,}  {reason}")
    lines.append(f"  objects  {objects['total']:>10,} in the source, {objects['kept']:,} kept")
    for reason, n in objects["dropped"].items():
        lines.append(f"           {-n:>10,}  {reason}")
    if objects.get("in_dropped_images"):
        lines.append(f"           {-objects['in_dropped_images']:>10,}  in dropped images")
    lines.append(f"           {objects.get('clipped', 0):>10,}  clipped to the image (kept)")
    if objects.get("duplicate_ids"):
        lines.append(
            f"  warning  {objects['duplicate_ids']:>10,}  annotations reuse the id of another "
            "(duplicate annotation ids; kept)"
        )
    if "relationships" in f:
        lines.append(f"  relationships {f['relationships']['kept']:,} kept")
    for note in f.get("notes", []):
        lines.append(f"  note: {note}")
    return lines


def _format_split(split: str, entry: dict[str, Any]) -> list[str]:
    objects = "" if entry["objects"] is None else f", {entry['objects']:,} objects"
    head = f"[{split}] {entry['images']:,} images{objects}"
    head += f"; vocabulary {entry['vocab_rows']} rows, {entry['categories']} categories"
    lines = [head]
    if entry.get("index"):
        how = "read from the cache" if entry["cached"] else "built now"
        lines.append(f"  index: {entry['index']} ({how})")
    if entry.get("counted_scenes") is not None:
        lines.append(f"  (statistics of the first {entry['counted_scenes']:,} scenes)")
    if entry.get("objects_used_per_item"):
        lines.append(f"  objects used per training item: at most {entry['objects_used_per_item']}")
    hist = entry["objects_per_image"]
    total = max(sum(hist.values()), 1)
    widest = max(hist.values(), default=1)
    lines.append("  objects per image:")
    for count, n in hist.items():
        bar = "#" * max(1, round(30 * n / widest))
        lines.append(f"    {count:>3}  {n:>8,}  {100 * n / total:5.1f}%  {bar}")
    top = ", ".join(f"{name} {n:,}" for name, n in entry["top_categories"])
    lines.append(f"  top {len(entry['top_categories'])} categories: {top}")
    if "bad_images" in entry:
        b = entry["bad_images"]
        lines.append(f"  images checked: {b['checked']:,}, unreadable: {b['bad']:,}")
        for example in b["examples"]:
            lines.append(f"    {example}")
    return lines
