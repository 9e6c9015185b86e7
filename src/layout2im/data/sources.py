"""From a ``DataConfig`` to the files, the cached index and the rows of one split.

Layouts on disk (relative to ``data.root``):

- ``coco``: ``annotations/instances_{train,val}2017.json``,
  ``annotations/stuff_{train,val}2017.json``, images in ``{train,val}2017/`` (or
  ``images/{train,val}2017/``; ``data.image_dir`` / ``data.val_image_dir`` override).
- ``coco-format``: ``data.coco.instances_json`` (+ ``data.coco.stuff_json``), images in
  ``data.image_dir`` (default: the root); validation from ``data.coco.val_instances_json`` or a
  ``data.coco.val_fraction`` of the images.
- ``vg``: ``image_data.json``, ``objects.json``, ``relationships.json``, images in
  ``VG_100K*/`` (or ``images/VG_100K*/``; ``data.image_dir`` overrides).

Splits: ``train``; ``val``; ``test`` (VG only: the split papers report on VG; COCO-Stuff's
paper numbers are on ``val``); ``samples``: the first ``SAMPLE_IMAGES`` images of ``val``
(training sample grids; from ``train`` when a COCO-format dataset has no validation data).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import short_path
from ..readers import check_path
from ..schema.config import DataConfig
from .coco import CocoFilters, CocoSource, build_coco_index, holdout_mask
from .errors import DatasetError
from .layout_index import LayoutIndex, SplitData, cache_dirs, cached_index
from .registry import DatasetEntry, get_dataset, register_dataset
from .vg import VgSettings, VgSources, build_vg_index, packaged_splits

log = logging.getLogger(__name__)

SAMPLE_IMAGES = 64
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def data_root(cfg: DataConfig) -> Path:
    if not cfg.root:
        raise DatasetError(
            f"data.root is not set: give the folder of the {cfg.name} files with --root DIR "
            "or --set data.root=DIR"
        )
    root = Path(cfg.root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"data.root {short_path(root)} is not a folder")
    return root


def _resolve(root: Path, value: str | None) -> Path | None:
    if value is None or value == "":
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path


def _require_file(path: Path, what: str) -> Path:
    """``path``, checked to be a regular file: missing, a folder, a FIFO or a device is an
    error saying which (see :func:`layout2im.readers.check_path`)."""
    return check_path(path, what, "file", DatasetError)


def _first_dir(candidates: list[Path]) -> Path:
    return next((p for p in candidates if p.is_dir()), candidates[0])


def _coco_index(
    cfg: DataConfig, root: Path, source: CocoSource, name: str, split_name: str, rebuild: bool
):
    filters = CocoFilters.of(cfg)
    return cached_index(
        cache_dirs(root, cfg.cache_dir),
        name,
        {"instances": source.instances, "stuff": source.stuff},
        {"filters": filters.index_settings(), "split": split_name},
        lambda: build_coco_index(source, filters, split_name),
        rebuild,
    )


def _coco_split(cfg: DataConfig, split: str, rebuild: bool) -> SplitData:
    root = data_root(cfg)
    if split == "test":
        raise DatasetError(
            "COCO-Stuff has no annotated test split; the paper evaluates on val (val2017)"
        )
    part = "train" if split == "train" else "val"
    ann = root / "annotations"
    source = CocoSource(
        _require_file(ann / f"instances_{part}2017.json", "COCO instances file"),
        _require_file(
            ann / f"stuff_{part}2017.json",
            "COCO-Stuff file (for instances only, use data.name=coco-format)",
        ),
    )
    override = cfg.image_dir if part == "train" else cfg.val_image_dir
    image_dir = _resolve(root, override) or _first_dir(
        [root / f"{part}2017", root / "images" / f"{part}2017"]
    )
    index, path, cached = _coco_index(cfg, root, source, f"coco-{part}2017", part, rebuild)
    rows = np.arange(len(index))
    if split == "samples":
        rows = rows[:SAMPLE_IMAGES]
    return SplitData("coco", split, index, rows, image_dir, path, cached)


def _coco_format_split(cfg: DataConfig, split: str, rebuild: bool) -> SplitData:
    root = data_root(cfg)
    if split == "test":
        raise DatasetError(
            "coco-format datasets have train and val splits only (data.coco.val_instances_json or "
            "data.coco.val_fraction give val)"
        )
    instances = _resolve(root, cfg.coco.instances_json)
    if instances is None:
        raise DatasetError(
            "data.coco.instances_json is not set: the COCO-format instances JSON of your dataset "
            "(relative to data.root)"
        )
    image_dir = _resolve(root, cfg.image_dir) or root
    val_json = _resolve(root, cfg.coco.val_instances_json)
    if split in ("val", "samples") and val_json is not None:
        source = CocoSource(
            _require_file(val_json, "data.coco.val_instances_json"),
            _stuff(root, cfg.coco.val_stuff_json, "data.coco.val_stuff_json"),
        )
        image_dir = _resolve(root, cfg.val_image_dir) or image_dir
        part = "val"
    else:
        source = CocoSource(
            _require_file(instances, "data.coco.instances_json"),
            _stuff(root, cfg.coco.stuff_json, "data.coco.stuff_json"),
        )
        part = "train"
    name = f"coco-format-{source.instances.stem}"
    index, path, cached = _coco_index(cfg, root, source, name, part, rebuild)
    if part == "val":
        _check_same_vocabulary(cfg, root, index, source.instances)
    rows = np.arange(len(index))
    if part == "train":
        held_out = holdout_mask(index.image_ids, cfg.coco.val_fraction)
        if split == "train":
            rows = rows[~held_out]
        elif held_out.any():
            rows = rows[held_out]
        elif split == "val":
            raise DatasetError(
                "this coco-format dataset has no validation data: set data.coco.val_instances_json "
                "(a second COCO JSON) or data.coco.val_fraction (e.g. 0.05) to hold out images"
            )
        else:
            _warn_once("no validation data: training sample grids use training images")
    if split == "samples":
        rows = rows[:SAMPLE_IMAGES]
    return SplitData("coco-format", split, index, rows, image_dir, path, cached)


def _check_same_vocabulary(cfg: DataConfig, root: Path, val: LayoutIndex, val_json: Path) -> None:
    """A model trained on the train JSON must read the val JSON's labels the same way."""
    train = _coco_format_split(cfg, "train", rebuild=False).index
    theirs, ours = val.meta["vocab"], train.meta["vocab"]
    if theirs != ours:
        diff = next(
            (i for i in range(max(len(theirs), len(ours)))
             if (theirs[i] if i < len(theirs) else None) != (ours[i] if i < len(ours) else None)),
            None,
        )  # fmt: skip
        raise DatasetError(
            f"{short_path(val_json)}: its categories differ from data.coco.instances_json's "
            "(first at id "
            f"{diff}: {_at(theirs, diff)!r} vs {_at(ours, diff)!r}); both files need the same "
            "category list so labels mean the same in training and evaluation"
        )


def _at(names: list, i: int | None):
    return names[i] if i is not None and i < len(names) else None


def _stuff(root: Path, value: str | None, key: str) -> Path | None:
    path = _resolve(root, value)
    return None if path is None else _require_file(path, key)


def vg_sources(cfg: DataConfig) -> VgSources:
    root = data_root(cfg)

    def alias(value: str | None, key: str) -> Path | None:
        path = _resolve(root, value)
        if path is not None and path.exists():  # present: must be a regular file
            return _require_file(path, key)
        if path is not None:
            _warn_once(
                f"no alias file {short_path(path)} ({key}): Visual Genome names are used as "
                "they are, so "
                "the counts differ slightly from sg2im's"
            )
            return None
        return path

    splits = _resolve(root, cfg.vg.splits_json) or packaged_splits()
    return VgSources(
        objects=root / "objects.json",
        image_data=root / "image_data.json",
        relationships=root / "relationships.json",
        splits=_require_file(splits, "data.vg.splits_json"),
        object_aliases=alias(cfg.vg.object_aliases, "data.vg.object_aliases"),
        relationship_aliases=alias(cfg.vg.relationship_aliases, "data.vg.relationship_aliases"),
    )


def vg_index(cfg: DataConfig, rebuild: bool = False) -> tuple[LayoutIndex, Path | None, bool]:
    """The Visual Genome index of all splits (built once, then read from the cache)."""
    root = data_root(cfg)
    sources = vg_sources(cfg)
    settings = VgSettings.of(cfg)
    return cached_index(
        cache_dirs(root, cfg.cache_dir),
        "vg",
        sources.as_dict(),
        settings.index_settings(),
        lambda: build_vg_index(sources, settings),
        rebuild,
    )


def _vg_split(cfg: DataConfig, split: str, rebuild: bool) -> SplitData:
    root = data_root(cfg)
    index, path, cached = vg_index(cfg, rebuild)
    rows = index.rows("val" if split == "samples" else split)
    if split == "samples":
        rows = rows[:SAMPLE_IMAGES]
    image_dir = _resolve(root, cfg.image_dir) or next(
        (d for d in (root, root / "images") if any(d.glob("VG_100K*"))), root
    )
    return SplitData("vg", split, index, rows, image_dir, path, cached, cfg.vg.max_objects_used)


def open_split(cfg: DataConfig, split: str, rebuild: bool = False) -> SplitData:
    """The index (built or read from the cache) and rows of ``split`` of a real dataset."""
    entry = get_dataset(cfg.name)
    if not entry.file_based:
        raise DatasetError(f"{cfg.name!r} is not a file-based dataset")
    return entry.open_split(cfg, split, rebuild)


register_dataset(
    DatasetEntry(
        name="coco",
        description="COCO-Stuff 2017 (instances and stuff), filtered as in the paper",
        splits=("train", "val", "samples"),
        eval_split="val",
        open_split=_coco_split,
    )
)
register_dataset(
    DatasetEntry(
        name="vg",
        description="Visual Genome with sg2im's preprocessing and splits",
        splits=("train", "val", "test", "samples"),
        eval_split="test",
        open_split=_vg_split,
    )
)
register_dataset(
    DatasetEntry(
        name="coco-format",
        description="your own COCO-format instances JSON (optionally with a stuff JSON)",
        splits=("train", "val", "samples"),
        eval_split="val",
        open_split=_coco_format_split,
    )
)
