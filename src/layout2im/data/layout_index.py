"""A compact, cached index of a filtered dataset: flat numpy arrays, no per-image Python objects.

Parsing COCO's or Visual Genome's JSON takes seconds to minutes; the index that results is a
few MB. :class:`LayoutIndex` holds it as arrays (cheap to share with DataLoader workers, which
fork without copying them) and :func:`cached_index` stores it as an ``.npz`` file keyed on the
source files (path, size, modification time) and the filter settings, so a later start reads
it in well under a second and a changed source or setting rebuilds it.

Arrays (N images, M objects, kept images and objects only):

- ``image_ids`` (N,) int64, ``widths``/``heights`` (N,) int32: size from the annotations;
- ``file_names``: (N,) image paths relative to the image folder, stored as one UTF-8 blob
  (``name_blob`` uint8) and ``name_offsets`` (N + 1,) int64;
- ``split`` (N,) int8: index into ``meta["splits"]``;
- ``obj_offsets`` (N + 1,) int64: the objects of image ``i`` are rows
  ``obj_offsets[i]:obj_offsets[i + 1]`` of the object arrays;
- ``labels`` (M,) int32 vocabulary rows; ``boxes`` (M, 4) float32 pixel xyxy, clipped to the
  image; ``ann_ids`` (M,) int64 annotation / object ids; ``in_rel`` (M,) bool: the object
  takes part in a relationship (Visual Genome; False elsewhere).

``meta`` (JSON) holds the vocabulary names, the split names, the filter report (what was kept
and dropped, and why) and the settings it was built with.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import quote
from ..fsutil import atomic_write
from ..readers import parse_json
from .errors import DatasetError

log = logging.getLogger(__name__)

INDEX_VERSION = 2
IMAGE_ROW_NAME = "__image__"  # vocabulary row 0: the whole-image object of the original code
_ARRAYS = (
    "image_ids",
    "widths",
    "heights",
    "name_blob",
    "name_offsets",
    "split",
    "obj_offsets",
    "labels",
    "boxes",
    "ann_ids",
    "in_rel",
)


@dataclass
class LayoutIndex:
    """Kept images and their objects as flat arrays (see the module docstring)."""

    image_ids: np.ndarray
    widths: np.ndarray
    heights: np.ndarray
    name_blob: np.ndarray
    name_offsets: np.ndarray
    split: np.ndarray
    obj_offsets: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    ann_ids: np.ndarray
    in_rel: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_lists(
        cls,
        image_ids: np.ndarray,
        widths: np.ndarray,
        heights: np.ndarray,
        file_names: list[str],
        split: np.ndarray,
        counts: np.ndarray,
        labels: np.ndarray,
        boxes: np.ndarray,
        ann_ids: np.ndarray,
        in_rel: np.ndarray | None = None,
        meta: dict[str, Any] | None = None,
    ) -> LayoutIndex:
        """Build from per-image arrays, ``file_names`` and ``counts`` (N,) objects per image;
        the object arrays are in image order."""
        encoded = [name.encode("utf-8") for name in file_names]
        name_offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=name_offsets[1:])
        obj_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=obj_offsets[1:])
        labels = np.asarray(labels, dtype=np.int32)
        return cls(
            image_ids=np.asarray(image_ids, dtype=np.int64),
            widths=np.asarray(widths, dtype=np.int32),
            heights=np.asarray(heights, dtype=np.int32),
            name_blob=np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(),
            name_offsets=name_offsets,
            split=np.asarray(split, dtype=np.int8),
            obj_offsets=obj_offsets,
            labels=labels,
            boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            ann_ids=np.asarray(ann_ids, dtype=np.int64),
            in_rel=(
                np.zeros(len(labels), dtype=bool) if in_rel is None else np.asarray(in_rel, bool)
            ),
            meta=meta or {},
        )

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def num_objects(self) -> int:
        return len(self.labels)

    def file_name(self, i: int) -> str:
        return bytes(self.name_blob[self.name_offsets[i] : self.name_offsets[i + 1]]).decode()

    def objects(self, i: int) -> slice:
        return slice(int(self.obj_offsets[i]), int(self.obj_offsets[i + 1]))

    def counts(self) -> np.ndarray:
        """(N,) objects per image."""
        return np.diff(self.obj_offsets)

    def rows(self, split: str) -> np.ndarray:
        """Image rows of ``split`` in index order."""
        splits = self.meta.get("splits", [])
        if split not in splits:
            raise DatasetError(
                f"the index has no {quote(split)} split (splits: {', '.join(splits)})"
            )
        return np.flatnonzero(self.split == splits.index(split))

    # --- files

    def save(self, path: Path) -> None:
        """Write atomically (see :func:`~layout2im.fsutil.atomic_write`)."""
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        meta = json.dumps(self.meta).encode("utf-8")
        arrays["meta"] = np.frombuffer(meta, dtype=np.uint8)
        with atomic_write(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: Path) -> LayoutIndex:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in _ARRAYS}
            meta = parse_json(bytes(data["meta"]), "its settings record")  # InputError: ValueError
        return cls(**arrays, meta=meta)


# ----------------------------------------------------------------------------- cache


@dataclass
class SplitData:
    """One split of a file dataset (what ``DatasetEntry.open_split`` returns): the index, the
    rows of the split, where the images are."""

    dataset: str
    split: str
    index: LayoutIndex
    rows: np.ndarray
    image_dir: Path
    index_path: Path | None
    cached: bool
    max_objects_used: int | None = None


def cache_dirs(root: Path, configured: str | None) -> list[Path]:
    """Where indexes are looked for and written, in order: ``data.cache_dir`` alone when set,
    else ``<root>/.layout2im-cache`` and ``$XDG_CACHE_HOME/layout2im`` (``~/.cache/layout2im``),
    the latter first when the root is read-only (no write permission bit, or not writable)."""
    if configured:
        return [Path(configured).expanduser()]
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    local, user = root / ".layout2im-cache", Path(base) / "layout2im"
    return [local, user] if _writable(local if local.is_dir() else root) else [user, local]


def _writable(folder: Path) -> bool:
    """Writable by us, and not marked read-only (no write bit: even root leaves it alone)."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return bool(mode & 0o222) and os.access(folder, os.W_OK)


def file_stamp(path: Path | None) -> list[Any] | None:
    """What identifies a source file's version: absolute path, size, modification time."""
    if path is None:
        return None
    try:
        st = path.stat()
    except FileNotFoundError:
        return [str(path.resolve()), None, None]
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def cache_key(kind: str, sources: dict[str, Path | None], settings: dict[str, Any]) -> str:
    payload = {
        "version": INDEX_VERSION,
        "kind": kind,
        "sources": {name: file_stamp(p) for name, p in sorted(sources.items())},
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def cached_index(
    folders: list[Path],
    name: str,
    sources: dict[str, Path | None],
    settings: dict[str, Any],
    build: Callable[[], LayoutIndex],
    rebuild: bool = False,
) -> tuple[LayoutIndex, Path | None, bool]:
    """The index ``build()`` makes, read from the first of ``folders`` that holds a copy for
    these sources and settings. Returns ``(index, path, was_cached)``. A new index is written
    to the first folder that can be written; when none can, a warning says so and the index is
    used unsaved (``path`` None)."""
    file_name = f"{name}-{cache_key(name, sources, settings)}.npz"
    for folder in [] if rebuild else folders:
        path = folder / file_name
        if not path.is_file():
            continue
        try:
            index = LayoutIndex.load(path)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable cached index %s (%s)", path, exc)
            continue
        log.debug("read cached index %s", path)
        return index, path, True
    index = build()
    index.meta.setdefault("settings", settings)
    index.meta["sources"] = {k: file_stamp(p) for k, p in sources.items()}
    errors = []
    for folder in folders:
        path = folder / file_name
        try:
            index.save(path)
        except OSError as exc:
            errors.append(f"{folder}: {exc.strerror or exc}")
            continue
        log.info("wrote dataset index %s", path)
        return index, path, False
    log.warning(
        "could not write the dataset index (%s); it is rebuilt on every start. "
        "Set data.cache_dir to a writable folder",
        "; ".join(errors),
    )
    return index, None, False
