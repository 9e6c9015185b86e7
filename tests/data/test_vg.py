"""Visual Genome with sg2im's preprocessing, on a fixture where each rule decides something.

Thresholds are scaled down for the fixture (categories need 3 training instances, predicates
2, images keep 3..12 objects, 4 objects per item); the image-size (200 px) and box-size
(32 px) rules keep sg2im's values.

- vocabulary from the training images 1-3 and 4 (image 8 is too small, image 10 is not in
  ``image_data.json``): sky 14, tree 4, shirt 4 (tree seen first), man 3 (``men`` and ``guy``
  are aliases), not plant 2, car 1 or ``Tree`` 1: rows ``__image__, sky, tree, shirt, man``.
- objects: a 20 px shirt is too small, a car and a ``Tree`` have no category; in val a box is
  clipped and one lies right of the image.
- images: 4 has 13 objects (> 12); 6 has 2 (< 3); 9 has no relationship with a predicate of
  the vocabulary.
- predicates: ``near`` (with the alias ``beside``), ``on`` (``ON`` lower-cased), and
  ``wearing``, whose second instance is in image 4, which is dropped for its object count
  (sg2im counts predicates before that filter); ``flying`` has one instance.
"""

import json
import os
import re

import numpy as np
import pytest

from layout2im.cli import main
from layout2im.config import DataConfig
from layout2im.data import DatasetError, build_dataset
from layout2im.data.sources import open_split
from layout2im.data.vg import packaged_splits
from tests.data import fixtures as fx

URL = "https://cs.stanford.edu/people/rak248/{}/{}.jpg"


def image(image_id, width=300, height=250):
    folder = "VG_100K" if image_id <= 6 else "VG_100K_2"
    return {
        "image_id": image_id,
        "width": width,
        "height": height,
        "url": URL.format(folder, image_id),
    }


def obj(object_id, names, size=50, x=None, y=10):
    names = [names] if isinstance(names, str) else names
    x = (object_id % 10) * 20 if x is None else x
    return fx.vg_object(object_id, names, x, y, size, size)


IMAGE_DATA = [image(i) for i in (1, 2, 3, 4, 5, 6, 7, 9)] + [image(8, 150, 300)]
OBJECTS = [
    {"image_id": 1, "objects": [
        obj(11, "man"), obj(12, "tree"), obj(13, ["tree", "plant"]),
        fx.vg_object(14, ["shirt"], 10, 10, 20, 40), obj(15, "car"),
    ]},
    {"image_id": 2, "objects": [
        obj(21, "men"), obj(22, "tree"), obj(23, "Tree"), obj(24, "shirt"),
        obj(25, ["plant", "tree"]),
    ]},
    {"image_id": 3, "objects": [
        obj(31, "guy"), obj(32, "shirt"), obj(33, "shirt"),
        fx.vg_object(34, ["sky"], 0, 0, 300, 100),
    ]},
    {"image_id": 4, "objects": [obj(400 + k, "sky") for k in range(1, 14)]},
    {"image_id": 8, "objects": [obj(80 + k, "car") for k in range(5)]},
    {"image_id": 5, "objects": [
        obj(51, "man"), obj(52, "tree"), fx.vg_object(53, ["sky"], -20, 10, 100, 50),
        fx.vg_object(54, ["shirt"], 400, 10, 40, 40),
    ]},
    {"image_id": 6, "objects": [obj(61, "man"), obj(62, "tree")]},
    {"image_id": 7, "objects": [
        obj(71, "man"), obj(72, "man"), obj(73, "tree"), obj(74, "shirt"), obj(75, "sky"),
        obj(76, "tree"), obj(77, "shirt"),
    ]},
    {"image_id": 9, "objects": [obj(91, "man"), obj(92, "tree"), obj(93, "sky")]},
]  # fmt: skip
RELATIONSHIPS = [
    {"image_id": 1, "relationships": [
        fx.vg_rel(1, "Near ", 11, 12), fx.vg_rel(2, "near", 11, 13), fx.vg_rel(3, "has", 12, 14),
    ]},
    {"image_id": 2, "relationships": [
        fx.vg_rel(4, "near", 21, 22), fx.vg_rel(5, "on", 22, 24), fx.vg_rel(6, "ON", 21, 25),
    ]},
    {"image_id": 3, "relationships": [
        fx.vg_rel(7, "wearing", 31, 32), fx.vg_rel(8, "beside", 31, 33),
    ]},
    {"image_id": 4, "relationships": [fx.vg_rel(9, "wearing", 401, 402)]},
    {"image_id": 5, "relationships": [
        fx.vg_rel(10, "near", 51, 52), fx.vg_rel(11, "near", 51, 54),
    ]},
    {"image_id": 6, "relationships": []},
    {"image_id": 7, "relationships": [fx.vg_rel(12, "on", 71, 73)]},
    {"image_id": 9, "relationships": [fx.vg_rel(13, "flying", 91, 92)]},
]  # fmt: skip
SPLITS = {"train": [1, 2, 3, 4, 8, 10], "val": [5, 6], "test": [7, 9]}


@pytest.fixture
def vg_root(tmp_path):
    root = fx.write_vg(
        tmp_path / "vg", IMAGE_DATA, OBJECTS, RELATIONSHIPS, SPLITS, aliases="man,men,guy\n"
    )
    (root / "relationship_alias.txt").write_text("near,beside,next to\n")
    return root


VG_SETTINGS = dict(
    splits_json="splits.json", min_category_count=3, min_predicate_count=2, max_objects_used=4
)


def vg_cfg(root, vg=None, **overrides) -> DataConfig:
    values = dict(
        name="vg",
        root=str(root),
        cache_dir=str(root / "cache"),
        min_objects=3,
        max_objects=12,
        vg={**VG_SETTINGS, **(vg or {})},
    )
    values.update(overrides)
    cfg = DataConfig(**values)
    cfg.validate()
    return cfg


def test_vocabulary_follows_sg2im(vg_root):
    data = open_split(vg_cfg(vg_root), "train")
    assert data.index.meta["vocab"] == ["__image__", "sky", "tree", "shirt", "man"]
    assert data.index.meta["predicates"] == ["near", "on", "wearing"]


def test_filters_keep_and_drop_per_split(vg_root):
    data = open_split(vg_cfg(vg_root), "train")
    index, report = data.index, data.index.meta["report"]
    by_split = {s: index.image_ids[index.rows(s)].tolist() for s in ("train", "val", "test")}
    assert by_split == {"train": [1, 2, 3], "val": [5], "test": [7]}
    assert report["train"]["images"] == {
        "total": 6,
        "kept": 3,
        "dropped": {
            "not in image_data.json": 1,
            "shorter side < 200 px": 1,
            "more than 12 objects": 1,
        },
    }
    assert report["train"]["objects"] == {
        "total": 27,
        "kept": 11,
        "dropped": {"no name among the 4 categories": 2, "width or height < 32 px": 1},
        "in_dropped_images": 13,
        "clipped": 0,
    }
    assert report["val"]["images"]["dropped"] == {"fewer than 3 objects": 1}
    assert report["val"]["objects"]["dropped"] == {"box outside the image": 1}
    assert report["val"]["objects"]["clipped"] == 1
    assert report["test"]["images"]["dropped"] == {"fewer than 1 relationships": 1}
    assert report["train"]["relationships"]["kept"] == 2 + 3 + 2  # 'has' joins a dropped shirt

    # Labels: each object's first name that is a category; relationship flags.
    rows = {int(i): r for r, i in enumerate(index.image_ids)}
    objects = index.objects(rows[2])
    assert index.ann_ids[objects].tolist() == [21, 22, 24, 25]
    assert index.labels[objects].tolist() == [4, 2, 3, 2]  # men -> man; plant is no category
    assert index.in_rel[objects].all()
    objects = index.objects(rows[3])
    assert dict(zip(index.ann_ids[objects].tolist(), index.in_rel[objects].tolist())) == {
        31: True, 32: True, 33: True, 34: False
    }  # fmt: skip
    objects = index.objects(rows[5])
    assert index.boxes[objects][2].tolist() == [0, 10, 80, 60]  # x from -20 clipped to 0


@pytest.mark.parametrize(
    "overrides, train, val, test",
    [
        ({"vg": {"min_image_side": 100}}, [1, 2, 3], [5], [7]),  # image 8: only cars
        ({"vg": {"min_image_side": 100, "min_category_count": 1}}, [1, 2, 3], [5], [7]),
        ({"vg": {"max_relationships": 2}}, [1, 3], [5], [7]),
        ({"vg": {"min_box_side": 60}}, [], [], []),
        ({"max_objects": 13}, [1, 2, 3, 4], [5], [7]),  # image 4: one "wearing"
        ({"min_objects": 2}, [1, 2, 3], [5], [7]),  # image 6 has no relationship
        ({"vg": {"min_relationships": 0}, "min_objects": 2}, [1, 2, 3], [5, 6], [7, 9]),
    ],
)
def test_settings_change_what_is_kept(vg_root, overrides, train, val, test):
    index = open_split(vg_cfg(vg_root, **overrides), "train").index
    got = {s: index.image_ids[index.rows(s)].tolist() for s in ("train", "val", "test")}
    assert got == {"train": train, "val": val, "test": test}


def test_items_use_related_objects_first_up_to_the_limit(vg_root):
    cfg = vg_cfg(vg_root)
    _, vocab = build_dataset(cfg, 16, "test")
    assert len(vocab) == 5
    boxes_of = {o["object_id"]: o["x"] for entry in OBJECTS for o in entry["objects"]}
    seen = set()
    for seed in range(10):
        dataset, _ = build_dataset(cfg.model_copy(update={"seed": seed}), 16, "test")
        labels, boxes = dataset.layout(0)  # image 7: 2 of 7 objects in a relationship
        xs = boxes[:, 0].tolist()
        chosen = {k for k, x in boxes_of.items() if 70 <= k < 80 and x in xs}
        assert len(labels) == 4 and {71, 73} <= chosen
        seen.add(frozenset(chosen))
    assert len(seen) > 1  # the orphans are sampled

    train, _ = build_dataset(vg_cfg(vg_root, vg={"max_objects_used": 3}), 16, "train")
    for i in range(len(train)):
        row = int(train.rows[i])
        labels, _ = train.layout(i)
        linked = int(train.index.in_rel[train.index.objects(row)].sum())
        assert len(labels) == min(3, train.index.counts()[row])
        assert linked >= 3 or len(labels) >= linked
    item = train[1]  # image 2: four related objects, three used
    assert item["image"].shape == (3, 16, 16) and item["labels"].shape == (3,)
    assert set(item["labels"].tolist()) <= {2, 3, 4}


def test_samples_split_and_image_folders(vg_root):
    samples, _ = build_dataset(vg_cfg(vg_root), 16, "samples")
    assert samples.index.image_ids[samples.rows].tolist() == [5]
    assert samples.image_path(0) == vg_root / "VG_100K" / "5.jpg"
    test, _ = build_dataset(vg_cfg(vg_root), 16, "test")
    assert test.image_path(0) == vg_root / "VG_100K_2" / "7.jpg"


def test_without_alias_files_names_are_used_as_they_are(vg_root, caplog):
    (vg_root / "object_alias.txt").unlink()
    index = open_split(vg_cfg(vg_root), "train").index
    assert "no alias file" in caplog.text
    assert "man" not in index.meta["vocab"]  # man 1, men 1, guy 1: none reaches 3


def test_index_is_cached_and_rebuilt_when_a_source_changes(vg_root, monkeypatch):
    import layout2im.data.vg as vg

    cfg = vg_cfg(vg_root)
    first = open_split(cfg, "train")
    monkeypatch.setattr(vg, "iter_array", lambda *a, **k: pytest.fail("parsed again"))
    again = open_split(cfg, "val")
    assert again.cached and again.index_path == first.index_path
    (vg_root / "relationships.json").write_text(json.dumps(RELATIONSHIPS[:1]) + " ")
    monkeypatch.undo()
    changed = open_split(cfg, "train")
    assert not changed.cached and len(changed.rows) == 1  # only image 1 has relationships left


@pytest.mark.parametrize(
    "file, content, message",
    [
        ("objects.json", '[{"image_id": 1, "objects": [', "objects.json: malformed JSON"),
        (
            "objects.json",
            json.dumps([{"image_id": 1, "objects": [{"object_id": 5, "names": ["a"], "x": 1}]}]),
            r"objects.json: image id 1, objects\[0\] has no 'y' key",
        ),
        (
            "objects.json",
            json.dumps([{"image_id": 1, "objects": []}, {"image_id": 1, "objects": []}]),
            "objects.json: image id 1 has more than one entry",
        ),
        ("objects.json", json.dumps([{"image_id": 1}]), "image id 1 has no 'objects' list"),
        (
            "relationships.json",
            json.dumps([{"image_id": 2, "relationships": {}}]),
            "relationships.json: image id 2 has no 'relationships' list",
        ),
        (
            "relationships.json",
            json.dumps([{"image_id": 2, "relationships": [{"predicate": "on", "subject": {}}]}]),
            r"relationships.json: image id 2, relationships\[0\]: subject.object_id is missing$",
        ),
        *[
            (
                "objects.json",
                json.dumps([{"image_id": 1, "objects": [bad]}]),
                r"objects.json: image id 1, objects\[0\]" + re.escape(problem) + "$",
            )
            for bad, problem in (
                (
                    fx.vg_object(2**70, ["a"], 1, 1, 40, 40),
                    ": 'object_id' must be an int64 integer, got 1180591620717411303424",
                ),
                (
                    fx.vg_object(5, ["a"], 10**400, 1, 40, 40),
                    " (object id 5): 'x' must be a finite number of magnitude at most 1e+09, "
                    "got 1000000000000000000000000000...00000000000000000000000000000",
                ),
                (
                    fx.vg_object(5, ["a"], True, 1, 40, 40),
                    " (object id 5): 'x' must be a finite number of magnitude at most 1e+09, "
                    "got True",
                ),
                (
                    fx.vg_object(5, ["a"], 1, 1e300, 40, float("inf")),
                    " (object id 5): 'y' must be a finite number of magnitude at most 1e+09, "
                    "got 1e+300; 'h' must be a finite number of magnitude at most 1e+09, got inf",
                ),
                (
                    fx.vg_object(5, [5], 1, 1, 40, 40),
                    " (object id 5): 'names' must be a list of strings, got [5]",
                ),
                (
                    {**fx.vg_object(5, ["a"], 1, 1, 40, 40), "names": "manly"},
                    " (object id 5): 'names' must be a list of strings, got 'manly'",
                ),
            )
        ],
        *[
            (
                "relationships.json",
                json.dumps([{"image_id": 2, "relationships": [rel]}]),
                r"relationships.json: image id 2, relationships\[0\]: " + re.escape(problem) + "$",
            )
            for rel, problem in (
                ({"predicate": 5}, "'predicate' must be a string, got 5"),
                ({"subject": {"object_id": 1}}, "'predicate' must be a string, it has none"),
                (
                    {"predicate": "on", "subject": {"object_id": 1}},
                    "'object' must be an object with an 'object_id', it has none",
                ),
                (
                    {"predicate": "on", "subject": [1], "object": {"id": 1}},
                    "'subject' must be an object with an 'object_id', got [1]",
                ),
                (
                    {"predicate": "on", "subject": {"id": 1}, "object": {"id": True}},
                    "object.id must be an int64 integer, got True",
                ),
            )
        ],
        (
            "objects.json",
            '[{"image_id": 1, "objects": [{"object_id": 5, "names": ["a"], "x": 1e400, "y": 1, '
            '"w": 4, "h": 4}]}]',
            r"objects\[0\] \(object id 5\): 'x' must be a finite number of magnitude at most "
            r"1e\+09, got inf$",
        ),
        (
            "relationships.json",
            json.dumps(
                [
                    {
                        "image_id": 2,
                        "relationships": [
                            {
                                "predicate": "on",
                                "subject": {"object_id": 2**70},
                                "object": {"object_id": 1},
                            }
                        ],
                    }
                ]
            ),
            r"relationships.json: image id 2, relationships\[0\]: subject.object_id must be an "
            r"int64 integer, got 1180591620717411303424$",
        ),
        (
            "image_data.json",
            json.dumps([image(1, width=2**70)]),
            "image id 1: 'width' and 'height' must be integers from 1 to 1048576",
        ),
        ("splits.json", json.dumps({"train": [True]}), "'train' must be a list of integer image"),
        ("splits.json", "[" * 5000 + "]" * 5000, "splits.json: JSON nested deeper than"),
        ("object_alias.txt", b"man,\xff\n", "object_alias.txt.*not UTF-8"),
        ("splits.json", b'{"train": ["\xff"]}', "splits.json.*not UTF-8"),
        ("image_data.json", json.dumps({"a": 1}), "image_data.json: expected a JSON list"),
        ("splits.json", json.dumps({"val": [1]}), "splits.json: expected an object with a 'train'"),
        (
            "splits.json",
            json.dumps({"train": [1, 2], "val": [2]}),
            "image id 2 is in both 'train' and 'val'",
        ),
    ],
)
def test_bad_input_messages(vg_root, file, content, message):
    if isinstance(content, bytes):
        (vg_root / file).write_bytes(content)
    else:
        (vg_root / file).write_text(content)
    with pytest.raises(DatasetError, match=message):
        build_dataset(vg_cfg(vg_root), 16, "train")


def test_missing_files_say_what_to_download(tmp_path):
    (tmp_path / "vg").mkdir()
    cfg = DataConfig(name="vg", root=str(tmp_path / "vg"), cache_dir=str(tmp_path / "c"))
    with pytest.raises(DatasetError, match=r"Visual Genome file not found: .*image_data.json"):
        build_dataset(cfg, 16, "train")


@pytest.mark.timeout(60)  # a FIFO opened would block: that is a failure
@pytest.mark.parametrize(
    "file, what",
    [
        ("objects.json", "Visual Genome file"),
        ("image_data.json", "Visual Genome file"),
        ("relationships.json", "Visual Genome file"),
        ("splits.json", "data.vg.splits_json"),
        ("object_alias.txt", "data.vg.object_aliases"),
    ],
)
def test_a_fifo_named_like_an_input_is_reported_as_a_fifo(vg_root, capsys, file, what):
    (vg_root / file).unlink()
    os.mkfifo(vg_root / file)
    message = f"{what} .*{file} is a FIFO \\(named pipe\\), not a file"
    with pytest.raises(DatasetError, match=message):
        build_dataset(vg_cfg(vg_root), 16, "train")
    args = ["data", "prepare-vg", "--root", str(vg_root)]
    args += [f"--set=data.{k}={v}" for k, v in _fixture_settings(vg_root).items()]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {what} ") and "is a FIFO (named pipe), not a file" in err, err
    assert not list((vg_root / "cache").glob("*.npz"))


def test_packaged_split_file_is_sg2ims():
    splits = json.loads(packaged_splits().read_text())
    assert {k: len(v) for k, v in splits.items()} == {"train": 86463, "val": 10807, "test": 10807}
    assert (packaged_splits().parent / "NOTICE.md").read_text().count("Apache") >= 1


def test_prepare_vg_command(vg_root, capsys):
    args = ["data", "prepare-vg", "--root", str(vg_root)]
    args += [f"--set=data.{k}={v}" for k, v in _fixture_settings(vg_root).items()]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Visual Genome index prepared in" in out
    assert "5 images, 21 objects, 5 vocabulary rows" in out
    assert "split sizes (images): train 3, val 1, test 1, samples 1" in out
    assert main(args) == 0
    assert "Visual Genome index already prepared" in capsys.readouterr().out
    assert main([*args, "--force"]) == 0
    assert "prepared in" in capsys.readouterr().out


def test_prepare_vg_rejects_other_datasets(capsys):
    assert main(["data", "prepare-vg", "--config", "shapes32"]) == 2
    assert "needs a Visual Genome config" in capsys.readouterr().err


def _fixture_settings(root):
    cfg = vg_cfg(root)
    settings = {k: getattr(cfg, k) for k in ("cache_dir", "min_objects", "max_objects")}
    return settings | {f"vg.{k}": v for k, v in VG_SETTINGS.items()}


def test_num_classes_of_the_paper_preset_matches_the_real_vocabulary_size():
    from layout2im.config import load_config

    assert load_config("paper-vg64").model.num_classes == 1 + 178
    assert load_config("paper-coco64").model.num_classes == 184
    assert np.iinfo(np.int32).max > 184  # labels are stored as int32
