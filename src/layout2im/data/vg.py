"""Visual Genome with sg2im's preprocessing (``scripts/preprocess_vg.py``), as Layout2Im used it.

Input, under ``data.root``: ``image_data.json``, ``objects.json``, ``relationships.json`` and
the image folders ``VG_100K/`` and ``VG_100K_2/`` (or ``images/VG_100K*``), optionally the
alias files ``object_alias.txt`` and ``relationship_alias.txt`` of the VG download, and the
split file (default: sg2im's ``vg_splits.json``, shipped with this package).

Rules, in sg2im's order (each a ``data.vg.*`` setting, sg2im's value by default):

1. images: ids from the split file; an image whose shorter side is below 200 px is dropped.
2. vocabulary: an object's names are mapped through the object aliases; every name (once per
   object) of the training images counts, and names with at least 2000 training instances
   become categories, most frequent first (ties: first seen), after ``__image__`` at row 0.
   sg2im's VG vocabulary has 178 categories, 179 rows.
3. objects: an object takes the first of its names that is a category (else it is dropped);
   an object whose annotated width or height is below 32 px is dropped. Boxes are then
   clipped to the image (beyond sg2im; one left empty is dropped, counted).
4. images with 3..30 objects left are kept.
5. relationships: predicates are lower-cased and stripped, then mapped through the relation
   aliases; those with at least 500 training instances between kept objects form the
   predicate vocabulary. A relationship counts for an image when its predicate is in that
   vocabulary and both its objects are kept objects of the image; images with 1..30 of them
   are kept.

sg2im normalises predicates only in training images when it builds its vocabulary and not in
val/test ones; here they are normalised everywhere (a handful of val/test images may differ).
When no alias file is present names are used as they are, with a warning: category counts then
differ slightly from the published ones.

At training time an item uses at most ``data.vg.max_objects_used`` (9) objects: those in a
relationship first, sampled at random, then objects without one (see
:mod:`layout2im.data.indexed_dataset`). Layout2Im reserves a 10th slot for ``__image__`` and
never fills it.

The result is one index for all splits, built by ``layout2im data prepare-vg`` or on first use.
"""

from __future__ import annotations

import array
import logging
import posixpath
from collections import Counter
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from ..errors import join_problems, quote, short_path
from ..readers import check_path, read_json, read_text
from ..schema.config import DatasetSettings, VgConfig
from .errors import DatasetError
from .jsonstream import iter_array
from .layout_index import IMAGE_ROW_NAME, LayoutIndex
from .values import (
    MAX_IMAGE_SIDE,
    coordinate_problem,
    id_problem,
    is_coordinate,
    is_id,
    is_side,
)

log = logging.getLogger(__name__)


def packaged_splits() -> Path:
    """sg2im's ``vg_splits.json`` (Apache-2.0, google/sg2im), shipped with this package."""
    return Path(str(resources.files("layout2im") / "data" / "vg_splits.json"))


class VgSettings(DatasetSettings, VgConfig):
    """sg2im's preprocessing settings: ``data.vg`` with ``data.min/max_objects``
    (``VgSettings.of(cfg)``)."""

    SOURCE_KEYS = frozenset(
        {"splits_json", "object_aliases", "relationship_aliases", "max_objects_used"}
    )
    max_objects: int = Field(30, ge=1)


@dataclass(frozen=True)
class VgSources:
    objects: Path
    image_data: Path
    relationships: Path
    splits: Path
    object_aliases: Path | None = None
    relationship_aliases: Path | None = None

    def as_dict(self) -> dict[str, Path | None]:
        return asdict(self)


MAX_SIDE_FILE_BYTES = 64 * 1024 * 1024
"""The split file and the alias files are read whole, up to this size (sg2im's are 1 MB)."""


def load_aliases(path: Path | None) -> dict[str, str]:
    """sg2im's alias files: each line ``name,alias,alias...``; every entry maps to the first."""
    if path is None:
        return {}
    aliases = {}
    text = read_text(path, MAX_SIDE_FILE_BYTES, "alias file", DatasetError)
    for line in text.splitlines():
        names = [s.strip() for s in line.split(",")]
        if names and names[0]:
            for name in names:
                aliases[name] = names[0]
    return aliases


def load_splits(path: Path) -> dict[str, list[int]]:
    data = read_json(path, MAX_SIDE_FILE_BYTES, "split file", DatasetError)
    if not isinstance(data, dict) or "train" not in data:
        raise DatasetError(
            f"{short_path(path)}: expected an object with a 'train' list of image ids"
        )
    seen: dict[int, str] = {}
    for name, ids in data.items():
        if not isinstance(ids, list) or not all(map(is_id, ids)):
            raise DatasetError(
                f"{short_path(path)}: {quote(name)} must be a list of integer image ids"
            )
        for image_id in ids:
            if image_id in seen:
                raise DatasetError(
                    f"{short_path(path)}: image id {image_id} is in both "
                    f"{quote(seen[image_id])} and "
                    f"{quote(name)}"
                )
            seen[image_id] = name
    return data


def _image_path(entry: dict, image_id: int) -> str:
    """sg2im's image path: the last folder of the URL and the file name (``VG_100K/1.jpg``)."""
    url = entry.get("url")
    if not isinstance(url, str) or not url:
        return f"{image_id}.jpg"
    base, name = posixpath.split(url)
    return posixpath.join(posixpath.basename(base), name)


def _entry_id(entry: Any, path: Path, index: int) -> int:
    if not isinstance(entry, dict):
        raise DatasetError(
            f"{short_path(path)}: entry [{index}] must be an object, got {type(entry).__name__}"
        )
    image_id = entry.get("image_id", entry.get("id"))
    if not is_id(image_id):
        raise DatasetError(f"{short_path(path)}: entry [{index}] has no integer 'image_id' (int64)")
    return image_id


class _Candidates:
    """The split images that pass the image-size filter, in split order."""

    def __init__(self, sources: VgSources, settings: VgSettings):
        self.splits = load_splits(sources.splits)
        self.split_names = list(self.splits)
        wanted = {i for ids in self.splits.values() for i in ids}
        info: dict[int, tuple[int, int, str]] = {}
        log.info("reading %s", sources.image_data)
        for k, entry in enumerate(iter_array(sources.image_data)):
            image_id = _entry_id(entry, sources.image_data, k)
            if image_id not in wanted:
                continue
            width, height = entry.get("width"), entry.get("height")
            if not (is_side(width) and is_side(height)):
                raise DatasetError(
                    f"{short_path(sources.image_data)}: image id {image_id}: 'width' and "
                    "'height' must be "
                    f"integers from 1 to {MAX_IMAGE_SIDE}, got {quote(width)} x {quote(height)}"
                )
            info[image_id] = (width, height, _image_path(entry, image_id))
        self.dropped: dict[str, Counter[str]] = {s: Counter() for s in self.split_names}
        ids, split, widths, heights, paths = [], [], [], [], []
        for s, name in enumerate(self.split_names):
            for image_id in self.splits[name]:
                if image_id not in info:
                    self.dropped[name]["not in image_data.json"] += 1
                    continue
                width, height = info[image_id][:2]
                if min(width, height) < settings.min_image_side:
                    self.dropped[name][f"shorter side < {settings.min_image_side} px"] += 1
                    continue
                ids.append(image_id)
                split.append(s)
                widths.append(width)
                heights.append(height)
                paths.append(info[image_id][2])
        self.ids = np.array(ids, dtype=np.int64)
        self.split = np.array(split, dtype=np.int8)
        self.widths = np.array(widths, dtype=np.float64)
        self.heights = np.array(heights, dtype=np.float64)
        self.paths = paths
        self.row_of = {image_id: r for r, image_id in enumerate(ids)}
        self.train = self.split == self.split_names.index("train")


def _candidate_lists(path: Path, candidates: _Candidates, key: str):
    """(row, image id, the entry's ``key`` list) of every entry of the JSON array ``path`` that
    belongs to a candidate image; an entry without that list is a :class:`DatasetError`."""
    log.info("reading %s", path)
    for k, entry in enumerate(iter_array(path)):
        image_id = _entry_id(entry, path, k)
        row = candidates.row_of.get(image_id)
        if row is None:
            continue
        items = entry.get(key)
        if not isinstance(items, list):
            raise DatasetError(f"{short_path(path)}: image id {image_id} has no {key!r} list")
        yield row, image_id, items


class _Objects:
    """Objects of candidate images as columns; names interned, one flat list per object."""

    def __init__(self, path: Path, candidates: _Candidates, aliases: dict[str, str]):
        self.row = array.array("q")
        self.ids = array.array("q")
        self.box = array.array("d")
        self.name_counts = array.array("q")
        self.name_ids = array.array("q")
        self.names: dict[str, int] = {}
        seen: set[int] = set()
        for row, image_id, objects in _candidate_lists(path, candidates, "objects"):
            if image_id in seen:
                raise DatasetError(
                    f"{short_path(path)}: image id {image_id} has more than one entry"
                )
            seen.add(image_id)
            for j, obj in enumerate(objects):
                self._add(path, image_id, j, obj, row, aliases)

    def _add(self, path, image_id, j, obj, row, aliases) -> None:
        # the valid case is checked without building messages: this runs once per object
        try:
            object_id, x, y, w, h = obj["object_id"], obj["x"], obj["y"], obj["w"], obj["h"]
            names = obj["names"] if "names" in obj else [obj["name"]]
            valid = (
                is_id(object_id)
                and all(map(is_coordinate, (x, y, w, h)))
                and isinstance(names, list)
                and all(isinstance(n, str) for n in names)
            )
        except (KeyError, TypeError):
            valid = False
        if not valid:
            raise DatasetError(
                _object_problems(obj, f"{short_path(path)}: image id {image_id}, objects[{j}]")
            )
        name_ids = [self.names.setdefault(aliases.get(n, n), len(self.names)) for n in names]
        self.row.append(row)
        self.ids.append(object_id)
        self.box.extend((x, y, w, h))
        self.name_counts.append(len(name_ids))
        self.name_ids.extend(name_ids)


def _object_problems(obj: Any, where: str) -> str:
    """Everything wrong with one Visual Genome object, each field named with its value."""
    if not isinstance(obj, dict):
        return f"{where} must be an object, got {type(obj).__name__}"
    for key in ("object_id", "x", "y", "w", "h"):
        if key not in obj:
            return f"{where} has no {key!r} key"
    if "names" not in obj and "name" not in obj:
        return f"{where} has no 'names' key"
    object_id = obj["object_id"]
    key, names = ("names", obj["names"]) if "names" in obj else ("name", [obj["name"]])
    problems = [f"'object_id' {p}" for p in [id_problem(object_id)] if p]
    problems += [f"{name!r} {p}" for name in "xywh" if (p := coordinate_problem(obj[name]))]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        wanted = "a list of strings" if key == "names" else "a string"
        problems.append(f"{key!r} must be {wanted}, got {quote(obj[key])}")
    shown = f" (object id {quote(object_id)})" if is_id(object_id) else ""
    return f"{where}{shown}: {join_problems(problems)}"


class _Relationships:
    def __init__(self, path: Path, candidates: _Candidates, aliases: dict[str, str]):
        self.row = array.array("q")
        self.subject = array.array("q")
        self.object = array.array("q")
        self.predicate = array.array("q")
        self.predicates: dict[str, int] = {}
        for row, image_id, rels in _candidate_lists(path, candidates, "relationships"):
            for j, rel in enumerate(rels):
                try:
                    pred, subject, obj = _relationship(rel)
                except _Invalid as exc:
                    where = f"{short_path(path)}: image id {image_id}, relationships[{j}]"
                    raise DatasetError(f"{where}{exc}") from None
                pred = aliases.get(pred, pred)
                self.row.append(row)
                self.subject.append(subject)
                self.object.append(obj)
                self.predicate.append(self.predicates.setdefault(pred, len(self.predicates)))


class _Invalid(Exception):
    """What is wrong with one relationship; the caller puts where it is in front (once per
    relationship is too often to build that text for the valid ones)."""


def _relationship(rel: Any) -> tuple[str, int, int]:
    """(predicate lower-cased and stripped, subject id, object id) of one relationship;
    :class:`_Invalid` naming the field that is wrong and why otherwise."""
    if not isinstance(rel, dict):
        raise _Invalid(f" must be an object, got {type(rel).__name__}")
    pred = rel.get("predicate")
    if not isinstance(pred, str):
        got = "it has none" if "predicate" not in rel else f"got {quote(pred)}"
        raise _Invalid(f": 'predicate' must be a string, {got}")
    return pred.lower().strip(), _object_id(rel, "subject"), _object_id(rel, "object")


def _object_id(rel: dict, role: str) -> int:
    """The ``object_id`` (or ``id``) of the relationship's ``role`` (subject or object)."""
    end = rel.get(role)
    if not isinstance(end, dict):
        got = "it has none" if role not in rel else f"got {quote(end)}"
        raise _Invalid(f": {role!r} must be an object with an 'object_id', {got}")
    key = "object_id" if "object_id" in end else "id"
    if key not in end:
        raise _Invalid(f": {role}.object_id is missing")
    value = end[key]
    if not is_id(value):
        raise _Invalid(f": {role}.{key} {id_problem(value)}")
    return value


def _ranked_categories(objects: _Objects, candidates: _Candidates, min_count: int) -> list[str]:
    """Names with >= ``min_count`` training instances (once per object), most frequent first,
    ties in order of first appearance."""
    counts = np.frombuffer(objects.name_counts, dtype=np.int64)
    name_ids = np.frombuffer(objects.name_ids, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    rows = np.frombuffer(objects.row, dtype=np.int64)
    in_train = candidates.train[rows][owner] if len(owner) else np.zeros(0, bool)
    owner, name_ids = owner[in_train], name_ids[in_train]
    num_names = max(len(objects.names), 1)
    _, first_pair = np.unique(owner * num_names + name_ids, return_index=True)
    per_name = np.bincount(name_ids[np.sort(first_pair)], minlength=num_names)
    first_seen = np.full(num_names, len(name_ids), dtype=np.int64)
    uniq, first = np.unique(name_ids, return_index=True)
    first_seen[uniq] = first
    chosen = np.flatnonzero(per_name >= min_count)
    chosen = chosen[np.lexsort((first_seen[chosen], -per_name[chosen]))]
    by_id = {i: name for name, i in objects.names.items()}
    return [by_id[int(i)] for i in chosen]


def build_vg_index(sources: VgSources, settings: VgSettings) -> LayoutIndex:
    """Run the preprocessing (module docstring) and return one index of all splits."""
    for path in (sources.image_data, sources.objects, sources.relationships):
        if path.exists():  # a FIFO, socket, device or folder is refused as what it is
            check_path(path, "Visual Genome file", "file", DatasetError)
        else:
            raise DatasetError(
                f"Visual Genome file not found: {short_path(path)} (put image_data.json, "
                "objects.json and "
                "relationships.json from https://homes.cs.washington.edu/~ranjay/visualgenome/"
                "api.html under data.root)"
            )
    cand = _Candidates(sources, settings)
    objects = _Objects(sources.objects, cand, load_aliases(sources.object_aliases))
    categories = _ranked_categories(objects, cand, settings.min_category_count)
    vocab = [IMAGE_ROW_NAME, *categories]
    log.info("%d categories with >= %d training instances", len(categories),
             settings.min_category_count)  # fmt: skip

    # Objects: first name that is a category, then the size rule, then clipping.
    row_of_name = np.full(max(len(objects.names), 1), -1, dtype=np.int64)
    for r, name in enumerate(vocab[1:], start=1):
        row_of_name[objects.names[name]] = r
    counts = np.frombuffer(objects.name_counts, dtype=np.int64)
    name_rows = row_of_name[np.frombuffer(objects.name_ids, dtype=np.int64)]
    n_obj = len(counts)
    label = np.full(n_obj, -1, dtype=np.int64)
    if len(name_rows):
        owner = np.repeat(np.arange(n_obj), counts)
        hit = np.flatnonzero(name_rows >= 0)
        first_hit = np.unique(owner[hit], return_index=True)
        label[first_hit[0]] = name_rows[hit[first_hit[1]]]
    obj_row = np.frombuffer(objects.row, dtype=np.int64)
    obj_ids = np.frombuffer(objects.ids, dtype=np.int64)
    x, y, w, h = np.frombuffer(objects.box, dtype=np.float64).reshape(-1, 4).T
    W, H = cand.widths[obj_row], cand.heights[obj_row]
    keep = np.ones(n_obj, dtype=bool)
    reasons: list[tuple[str, np.ndarray]] = []

    def drop(mask: np.ndarray, reason: str) -> None:
        mask = mask & keep
        reasons.append((reason, mask))
        keep[mask] = False

    drop(label < 0, f"no name among the {len(categories)} categories")
    side = settings.min_box_side
    drop((w < side) | (h < side), f"width or height < {side} px")
    x0, y0 = np.clip(x, 0, W), np.clip(y, 0, H)
    x1, y1 = np.clip(x + w, 0, W), np.clip(y + h, 0, H)
    drop((x1 <= x0) | (y1 <= y0), "box outside the image")
    clipped = keep & ((x0 != x) | (y0 != y) | (x1 != x + w) | (y1 != y + h))

    # Images: object count, then relationships.
    n_img = len(cand.ids)
    image_reasons: list[tuple[str, np.ndarray]] = []
    keep_image = np.ones(n_img, dtype=bool)

    def drop_image(mask: np.ndarray, reason: str) -> None:
        mask = mask & keep_image
        image_reasons.append((reason, mask))
        keep_image[mask] = False

    obj_count = np.bincount(obj_row[keep], minlength=n_img)
    drop_image(obj_count < settings.min_objects, f"fewer than {settings.min_objects} objects")
    drop_image(obj_count > settings.max_objects, f"more than {settings.max_objects} objects")

    rels = _Relationships(sources.relationships, cand, load_aliases(sources.relationship_aliases))
    rel_row = np.frombuffer(rels.row, dtype=np.int64)
    kept_ids = obj_ids[keep]
    kept_rows = obj_row[keep]
    order = np.argsort(kept_ids, kind="stable")
    kept_ids, kept_rows = kept_ids[order], kept_rows[order]

    def kept_row_of(ids: np.ndarray) -> np.ndarray:
        """Image row of each kept object id, -1 for ids of no kept object."""
        if not len(kept_ids):
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(kept_ids, ids), len(kept_ids) - 1)
        return np.where(kept_ids[pos] == ids, kept_rows[pos], -1)

    subj_row = kept_row_of(np.frombuffer(rels.subject, dtype=np.int64))
    obj_row_rel = kept_row_of(np.frombuffer(rels.object, dtype=np.int64))
    both_kept = (subj_row >= 0) & (obj_row_rel >= 0)
    preds = np.frombuffer(rels.predicate, dtype=np.int64)
    pred_counts = np.bincount(
        preds[both_kept & cand.train[rel_row]], minlength=max(len(rels.predicates), 1)
    )
    pred_ok = pred_counts >= settings.min_predicate_count
    valid = both_kept & pred_ok[preds] & (subj_row == rel_row) & (obj_row_rel == rel_row)
    rel_count = np.bincount(rel_row[valid], minlength=n_img)
    drop_image(
        rel_count < settings.min_relationships,
        f"fewer than {settings.min_relationships} relationships",
    )
    drop_image(
        rel_count > settings.max_relationships,
        f"more than {settings.max_relationships} relationships",
    )
    linked_rel = valid & keep_image[rel_row]
    linked_ids = np.union1d(
        np.frombuffer(rels.subject, dtype=np.int64)[linked_rel],
        np.frombuffer(rels.object, dtype=np.int64)[linked_rel],
    )

    final = keep & keep_image[obj_row]
    sel = np.flatnonzero(final)
    sel = sel[np.argsort(obj_row[sel], kind="stable")]
    image_rows = np.flatnonzero(keep_image)
    index = LayoutIndex.from_lists(
        image_ids=cand.ids[image_rows],
        widths=cand.widths[image_rows],
        heights=cand.heights[image_rows],
        file_names=[cand.paths[r] for r in image_rows],
        split=cand.split[image_rows],
        counts=obj_count[image_rows],
        labels=label[sel],
        boxes=np.stack([x0[sel], y0[sel], x1[sel], y1[sel]], axis=1),
        ann_ids=obj_ids[sel],
        in_rel=np.isin(obj_ids[sel], linked_ids),
        meta={
            "kind": "vg",
            "vocab": vocab,
            "splits": cand.split_names,
            "predicates": sorted(
                (p for p, i in rels.predicates.items() if pred_ok[i]),
                key=lambda p: rels.predicates[p],
            ),
            "settings": settings.index_settings(),
        },
    )
    index.meta["report"] = _report(
        cand, sources, obj_row, reasons, image_reasons, keep_image, final, keep, clipped,
        valid & keep_image[rel_row], rel_row,
    )  # fmt: skip
    return index


def _report(
    cand, sources, obj_row, reasons, image_reasons, keep_image, final, keep, clipped, valid, rel_row
) -> dict[str, Any]:
    """Per split: images and objects kept and dropped (by the first rule that failed)."""
    report = {}
    obj_split = cand.split[obj_row]
    for s, name in enumerate(cand.split_names):
        objs = obj_split == s
        imgs = cand.split == s
        image_dropped = dict(cand.dropped[name])
        image_dropped.update({r: int(m[imgs].sum()) for r, m in image_reasons if m[imgs].any()})
        report[name] = {
            "source": {k: None if v is None else str(v) for k, v in sources.as_dict().items()},
            "images": {
                "total": len(cand.splits[name]),
                "kept": int((keep_image & imgs).sum()),
                "dropped": image_dropped,
            },
            "objects": {
                "total": int(objs.sum()),
                "kept": int((final & objs).sum()),
                "dropped": {r: int(m[objs].sum()) for r, m in reasons if m[objs].any()},
                "in_dropped_images": int((keep & ~final & objs).sum()),
                "clipped": int((clipped & final & objs).sum()),
            },
            "relationships": {"kept": int((valid & (cand.split[rel_row] == s)).sum())},
        }
    return report
