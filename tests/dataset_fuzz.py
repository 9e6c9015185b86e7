"""Hostile dataset files built into a dataset, shared by the property tests and
``benchmarks/fuzz.py``: a small Visual Genome root (``image_data.json``, ``objects.json``,
``relationships.json``, the alias files, the split file) and a COCO-format instances file
(``images``, ``annotations``, ``categories``), one file mutated at a time and run through
``build_dataset`` as training does.

``check_dataset`` returns ``"accepted"`` (the dataset built, its layouts inside the vocabulary)
or ``"refused"`` (a :class:`DatasetError` with one short line) and fails on anything else.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from layout2im.config import DataConfig
from layout2im.data import DatasetError, build_dataset
from tests.data import fixtures as fx
from tests.input_fuzz import mutated_json, short_line

# -- Visual Genome: every file of the base root builds; 4 images, one per split and 2 to train --

_URL = "https://cs.stanford.edu/people/rak248/VG_100K/{}.jpg"
VG_IMAGE_DATA = [
    {"image_id": i, "width": 300, "height": 250, "url": _URL.format(i)} for i in (1, 2, 3, 4)
]
VG_OBJECTS = [
    {
        "image_id": i,
        "objects": [
            fx.vg_object(10 * i + k, [name], 20 + 60 * k, 10 + 5 * k, 50, 60)
            for k, name in enumerate(["man", "tree", "sky", "men"])
        ],
    }
    for i in (1, 2, 3, 4)
]
VG_RELATIONSHIPS = [
    {
        "image_id": i,
        "relationships": [
            fx.vg_rel(i, "Near", 10 * i, 10 * i + 1),
            fx.vg_rel(9 + i, "beside", 10 * i + 2, 10 * i),
        ],
    }
    for i in (1, 2, 3, 4)
]
VG_SPLITS = {"train": [1, 2], "val": [3], "test": [4]}
VG_ALIASES = {"object_alias.txt": b"man,men\n", "relationship_alias.txt": b"near,beside\n"}
VG_JSON = {
    "image_data.json": VG_IMAGE_DATA,
    "objects.json": VG_OBJECTS,
    "relationships.json": VG_RELATIONSHIPS,
    "splits.json": VG_SPLITS,
}

# -- COCO-format: 2 images of 3 objects each, 3 categories -----------------------------------------

COCO = {
    "info": {"description": "x"},
    "images": [
        {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
        {"id": 2, "file_name": "sub/b.png", "width": 100, "height": 80},
    ],
    "annotations": [
        {
            "id": 10 * i + k,
            "image_id": i,
            "category_id": cat,
            "bbox": [1 + k, 2, 30, 20],
            "iscrowd": 0,
            "segmentation": [[1, 2, 3, 4]],
        }
        for i in (1, 2)
        for k, cat in enumerate((1, 3, 7))
    ],
    "categories": [
        {"id": 1, "name": "cat", "supercategory": "animal"},
        {"id": 3, "name": "dog", "supercategory": "animal"},
        {"id": 7, "name": "sky", "supercategory": "stuff"},
    ],
}

_names = st.sampled_from(["man", "men", "tree", "sky", "near", "beside", "", " ", "x" * 5000])


@st.composite
def alias_text(draw) -> bytes:
    """An alias file: lines of comma-separated names (known ones, any text), or any bytes."""
    how = draw(st.sampled_from(["names", "names", "text", "bytes"]))
    if how == "names":
        line = st.lists(_names | st.text(max_size=6), max_size=4).map(",".join)
        text = "\n".join(draw(st.lists(line, max_size=4)))
        return text.encode("utf-8", "surrogatepass")
    if how == "text":
        return draw(st.text(max_size=40)).encode("utf-8", "surrogatepass")
    return draw(st.binary(max_size=40))


def dataset_changes():
    """``(dataset, file name, bytes)``: one file of the VG root or the COCO-format instances
    file (whole, or only its ``categories`` list) mutated."""
    vg_json = [st.tuples(st.just("vg"), st.just(name), mutated_json(base))
               for name, base in VG_JSON.items()]  # fmt: skip
    return st.one_of(
        *vg_json,
        st.tuples(st.just("vg"), st.sampled_from(sorted(VG_ALIASES)), alias_text()),
        st.tuples(st.just("coco"), st.just("instances.json"), mutated_json(COCO)),
        st.tuples(
            st.just("coco"), st.just("instances.json"), mutated_json(COCO, under=("categories",))
        ),
    )


def write_roots(work: Path) -> dict[str, Path]:
    """The base VG root (with its images) and COCO-format root under ``work``."""
    vg = fx.write_vg(work / "vg", VG_IMAGE_DATA, VG_OBJECTS, VG_RELATIONSHIPS, VG_SPLITS)
    for name, data in VG_ALIASES.items():
        (vg / name).write_bytes(data)
    coco = work / "coco"
    coco.mkdir(parents=True, exist_ok=True)
    (coco / "instances.json").write_text(json.dumps(COCO))
    return {"vg": vg, "coco": coco}


def _config(kind: str, root: Path) -> DataConfig:
    values = {"root": str(root), "cache_dir": str(root / "cache"), "min_objects": 1}
    if kind == "vg":
        values |= {"name": "vg", "max_objects": 12, "min_objects": 3}
        values["vg"] = {"splits_json": "splits.json", "min_category_count": 1,
                        "min_predicate_count": 1}  # fmt: skip
    else:
        values |= {"name": "coco-format", "coco": {"instances_json": "instances.json"}}
    return DataConfig(**values)


def base_bytes(kind: str, name: str) -> bytes:
    if kind == "coco":
        return json.dumps(COCO).encode()
    return VG_ALIASES[name] if name in VG_ALIASES else json.dumps(VG_JSON[name]).encode()


def check_dataset(roots: dict[str, Path], change: tuple[str, str, bytes]) -> str:
    """Build the training split of ``roots[kind]`` with file ``name`` replaced by ``data``
    (restored afterwards; the index cache is emptied first, so every example is parsed)."""
    kind, name, data = change
    root = roots[kind]
    shutil.rmtree(root / "cache", ignore_errors=True)
    (root / name).write_bytes(data)
    try:
        dataset, vocab = build_dataset(_config(kind, root), 16, "train")
    except DatasetError as exc:
        short_line(str(exc))
        return "refused"
    finally:
        (root / name).write_bytes(base_bytes(kind, name))
    assert len(dataset) > 0
    for i in range(len(dataset)):
        labels, boxes = dataset.layout(i)
        assert len(labels) == len(boxes) > 0 and np.isfinite(boxes).all()
        assert all(0 <= k < len(vocab) and vocab.names[k] is not None for k in labels.tolist())
    return "accepted"
