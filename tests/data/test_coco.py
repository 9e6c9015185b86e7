"""COCO-Stuff (``coco``) and COCO-format datasets on small fixture files: filters, items,
splits, the cached index, and a precise error for each kind of bad input."""

import json
import logging
import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from layout2im.config import CocoConfig, DataConfig
from layout2im.data import DatasetError, build_dataset, sources
from layout2im.data.collate import collate_layouts
from layout2im.data.images import IMAGENET_MEAN, IMAGENET_STD
from layout2im.data.sources import open_split
from tests.data import fixtures as fx


def with_coco_section(values: dict) -> dict:
    """``values`` with the keys of ``data.coco`` moved into that section."""
    coco = {k: values.pop(k) for k in list(values) if k in CocoConfig.model_fields}
    return {**values, "coco": coco}


def coco_cfg(root, **overrides) -> DataConfig:
    values = dict(name="coco", root=str(root), cache_dir=str(root / "cache"), **overrides)
    cfg = DataConfig(**with_coco_section(values))
    cfg.validate()
    return cfg


@pytest.fixture
def coco_root(tmp_path):
    return fx.write_coco_stuff(tmp_path / "coco")


def report_of(cfg, split="train"):
    data = open_split(cfg, split)
    return data, data.index.meta["report"]["train" if split == "train" else "val"]


def kept_ids(data) -> list[int]:
    return data.index.image_ids[data.rows].tolist()


def test_paper_filters_keep_and_drop_what_the_paper_does(coco_root):
    data, report = report_of(coco_cfg(coco_root))
    assert report["images"] == fx.EXPECTED["images"]
    assert report["objects"] == fx.EXPECTED["objects"]
    assert kept_ids(data) == fx.KEPT_IMAGE_IDS
    assert data.index.counts().tolist() == [3, 4, 3, 3]
    assert sorted(data.index.ann_ids.tolist()) == [
        101, 102, 105, 201, 202, 203, 204, 601, 602, 603, 702, 703, 704
    ]  # fmt: skip


def test_vocabulary_is_indexed_by_category_id(coco_root):
    dataset, vocab = build_dataset(coco_cfg(coco_root), 16, "train")
    assert len(vocab) == 184
    assert vocab.names[0] == "__image__"
    named = {i: n for i, n in enumerate(vocab.names) if n is not None}
    assert named == {
        0: "__image__",
        1: "person",
        2: "bicycle",
        5: "airplane",
        92: "banner",
        93: "blanket",
        183: "other",
    }
    assert dataset.index.labels.tolist().count(92) == 2  # banner of images 1 and 6


@pytest.mark.parametrize(
    "overrides, kept, reason",
    [
        ({"drop_crowd": True}, [1, 2, 7], ("crowd box (iscrowd=1)", 1)),
        ({"include_other": True}, [1, 2, 6, 7], None),
        ({"stuff_only": False}, [1, 2, 5, 6, 7], None),
        ({"min_objects": 2}, [1, 2, 3, 6, 7], None),
        ({"max_objects": 9}, [1, 2, 4, 6, 7], None),
        ({"min_box_area": 0.0}, [1, 2, 6, 7], None),
    ],
)
def test_each_filter_setting(coco_root, overrides, kept, reason):
    data, report = report_of(coco_cfg(coco_root, **overrides))
    assert kept_ids(data) == kept
    dropped = report["objects"]["dropped"]
    if reason:
        assert dropped[reason[0]] == reason[1]
    if overrides.get("include_other"):
        assert "category 'other'" not in dropped
        assert data.index.counts()[0] == 4  # image 1 keeps its large 'other' box
    if overrides.get("min_box_area") == 0.0:
        assert data.index.counts()[0] == 4  # image 1 keeps its 10x10 person


def imagenet(rgb) -> np.ndarray:
    return (np.array(rgb) / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)


def test_items_images_boxes_and_colour_modes(coco_root):
    cfg = coco_cfg(coco_root, stuff_only=False, min_objects=1, max_objects=9)
    dataset, _ = build_dataset(cfg, 16, "train")
    ids = dataset.index.image_ids[dataset.rows].tolist()
    items = {image_id: dataset[i] for i, image_id in enumerate(ids)}
    for item in items.values():
        assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.float32
        assert item["boxes"].dtype == torch.float32 and item["labels"].dtype == torch.int64
        assert (item["boxes"] >= 0).all() and (item["boxes"] <= 1).all()

    # Image 2: normalised by the original 100 x 80; the box past the corner is clipped.
    order = items[2]["labels"].argsort()
    assert items[2]["labels"][order].tolist() == [1, 2, 5, 93]
    expected = [[0.1, 0.125, 0.3, 0.375], [0.8, 0.75, 1, 1], [0.4, 0.125, 0.6, 0.375], [0, 0, 1, 1]]
    np.testing.assert_allclose(items[2]["boxes"][order].numpy(), expected, atol=1e-6)
    pixel = {k: items[k]["image"][:, 8, 8].numpy() for k in items}
    np.testing.assert_allclose(pixel[2], imagenet([128, 128, 128]), atol=1e-5)  # grayscale
    np.testing.assert_allclose(pixel[4], imagenet([255, 255, 255]), atol=1e-5)  # transparent
    np.testing.assert_allclose(pixel[3], imagenet([255, 255, 255]), atol=0.05)  # CMYK white
    np.testing.assert_allclose(pixel[6], imagenet([40, 80, 160]), atol=1e-5)  # palette
    np.testing.assert_allclose(pixel[1], imagenet([200, 100, 50]), atol=0.05)  # JPEG


def test_a_link_in_the_image_folder_is_followed_wherever_it_points(coco_root, tmp_path):
    """Accepted on purpose (docs/security.md): datasets are assembled from links into a shared
    store; only a file_name itself may not leave the folder."""
    store = tmp_path / "store"
    store.mkdir()
    fx.save_image(store / "gray.png", "RGB", (90, 60, 30))
    (coco_root / "train2017" / "gray.png").unlink()
    (coco_root / "train2017" / "gray.png").symlink_to(store / "gray.png")
    cfg = coco_cfg(coco_root, stuff_only=False, min_objects=1, max_objects=9)
    dataset, _ = build_dataset(cfg, 16, "train")
    row = dataset.index.image_ids[dataset.rows].tolist().index(2)
    pixel = dataset[row]["image"][:, 8, 8].numpy()
    np.testing.assert_allclose(pixel, imagenet([90, 60, 30]), atol=1e-5)


def test_items_are_deterministic_and_object_order_is_shuffled(coco_root):
    cfg = coco_cfg(coco_root)
    dataset, _ = build_dataset(cfg, 16, "train")
    first = [dataset[i] for i in range(len(dataset))]
    again = [dataset[i] for i in range(len(dataset))]
    for a, b in zip(first, again):
        assert torch.equal(a["labels"], b["labels"]) and torch.equal(a["boxes"], b["boxes"])
        assert torch.equal(a["image"], b["image"])
    orders = set()
    for seed in range(8):
        seeded = cfg.model_copy(update={"seed": seed})
        labels = build_dataset(seeded, 16, "train")[0][1]["labels"].tolist()  # image 2
        assert sorted(labels) == [1, 2, 5, 93]
        orders.add(tuple(labels))
    assert len(orders) > 1


def test_val_samples_and_test_splits(coco_root):
    cfg = coco_cfg(coco_root)
    val, vocab = build_dataset(cfg, 16, "val")
    assert val.index.image_ids[val.rows].tolist() == [11, 12]
    assert len(vocab) == 184
    samples, _ = build_dataset(cfg, 16, "samples")
    assert len(samples) == 2
    with pytest.raises(DatasetError, match="no annotated test split"):
        build_dataset(cfg, 16, "test")


def test_multi_worker_dataloader_with_collate(coco_root):
    dataset, _ = build_dataset(coco_cfg(coco_root), 16, "train")
    loader = DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=collate_layouts)
    batches = list(loader)
    assert [b["images"].shape for b in batches] == [(2, 3, 16, 16)] * 2
    assert batches[0]["mask"].sum(1).tolist() == [3, 4]
    assert torch.cat([b["index"] for b in batches]).tolist() == [0, 1, 2, 3]


# ----------------------------------------------------------------------------- cache


def test_second_load_reads_the_index_and_touching_a_source_rebuilds_it(coco_root, monkeypatch):
    import layout2im.data.coco as coco

    cfg = coco_cfg(coco_root)
    first = open_split(cfg, "train")
    assert not first.cached and first.index_path.parent == coco_root / "cache"
    calls = []
    real_read = coco.read_members

    def refuse(*args, **kwargs):
        calls.append(args[0])
        raise AssertionError("the JSON was parsed again")

    monkeypatch.setattr(coco, "read_members", refuse)
    monkeypatch.setattr(json, "load", refuse)
    second = open_split(cfg, "train")
    assert second.cached and second.index_path == first.index_path
    assert np.array_equal(second.index.boxes, first.index.boxes)
    assert second.index.meta["vocab"] == first.index.meta["vocab"]
    assert calls == []

    def counting_read(*args, **kwargs):
        calls.append(args[0])
        return real_read(*args, **kwargs)

    monkeypatch.setattr(coco, "read_members", counting_read)
    stuff = coco_root / "annotations" / "stuff_train2017.json"
    st = stuff.stat()
    os.utime(stuff, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    third = open_split(cfg, "train")
    assert not third.cached and third.index_path != first.index_path
    assert len(calls) == 2  # instances and stuff read again
    # A different filter setting is a different index.
    fourth = open_split(coco_cfg(coco_root, drop_crowd=True), "train")
    assert not fourth.cached and fourth.index_path not in (first.index_path, third.index_path)


def test_default_cache_dir_and_read_only_root(tmp_path, monkeypatch):
    from layout2im.data.layout_index import cache_dirs

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = fx.write_coco_stuff(tmp_path / "coco")
    assert cache_dirs(root, None)[0] == root / ".layout2im-cache"
    cfg = DataConfig(name="coco", root=str(root))
    assert open_split(cfg, "train").index_path.parent == root / ".layout2im-cache"

    read_only = fx.write_coco_stuff(tmp_path / "ro")
    os.chmod(read_only, 0o555)
    try:
        assert cache_dirs(read_only, None)[0] == tmp_path / "xdg" / "layout2im"
        data = open_split(DataConfig(name="coco", root=str(read_only)), "train")
        assert data.index_path.parent == tmp_path / "xdg" / "layout2im"
        assert not (read_only / ".layout2im-cache").exists()
    finally:
        os.chmod(read_only, 0o755)


def test_unwritable_cache_folder_falls_back_with_a_warning(tmp_path, caplog):
    from layout2im.data.layout_index import LayoutIndex, cached_index

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")

    def build():
        return LayoutIndex.from_lists([1], [4], [3], ["a.jpg"], [0], [1], [7], [[0, 0, 1, 1]], [9])

    index, path, cached = cached_index([blocker / "c", tmp_path / "ok"], "x", {}, {}, build)
    assert path.parent == tmp_path / "ok" and not cached
    index, path, cached = cached_index([blocker / "c"], "y", {}, {}, build)
    assert path is None and len(index) == 1
    assert "could not write the dataset index" in caplog.text


# ----------------------------------------------------------------------------- bad input


def _rewrite(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _ann(data, ann_id):
    return next(a for a in data["annotations"] if a["id"] == ann_id)


INSTANCES = "instances_train2017.json"
STUFF = "stuff_train2017.json"


@pytest.mark.parametrize(
    "file, change, message",
    [
        (INSTANCES, lambda d: _ann(d, 102).pop("bbox"), "annotation id 102 has no 'bbox' key"),
        (
            INSTANCES,
            lambda d: _ann(d, 102).update(bbox=[1, 2, 3]),
            r"annotation id 102: 'bbox' must be \[x, y, width, height\] numbers, got \[1, 2, 3\]",
        ),
        (
            INSTANCES,
            lambda d: _ann(d, 102).update(image_id="1"),
            "annotation id 102: 'image_id' must be an integer, got '1'",
        ),
        (
            STUFF,
            lambda d: _ann(d, 105).update(category_id=77),
            "stuff_train2017.json: annotation id 105 has category_id 77, which is not in "
            "'categories'",
        ),
        (
            INSTANCES,
            lambda d: d["images"][1].pop("width"),
            r"images\[1\] \(id 2\) has no 'width' key",
        ),
        (
            INSTANCES,
            lambda d: d["images"][1].update(height=0),
            "image id 2: 'width' and 'height' must be integers from 1 to 1048576, got 100 x 0",
        ),
        (
            INSTANCES,
            lambda d: d["images"][1].update(width=2**64),
            "image id 2: 'width' and 'height' must be integers from 1 to 1048576",
        ),
        (
            INSTANCES,
            lambda d: d["images"][1].update(width=True),
            "image id 2: 'width' and 'height' must be integers",
        ),
        (
            INSTANCES,
            lambda d: _ann(d, 102).update(iscrowd="yes"),
            "annotation id 102: 'iscrowd' must be 0 or 1, got 'yes'",
        ),
        (
            INSTANCES,
            lambda d: _ann(d, 102).update(bbox=[True, 0, 5, 5]),
            r"annotation id 102: 'bbox' must be \[x, y, width, height\] numbers",
        ),
        (
            INSTANCES,
            lambda d: _ann(d, 102).update(id=2**70),
            "'id' must be an integer, got 1180591620717411303424",
        ),
        (
            INSTANCES,
            lambda d: d["images"][2].update(id=1),
            "instances_train2017.json: image id 1 appears more than once",
        ),
        (INSTANCES, lambda d: d.pop("annotations"), "no 'annotations' list at the top level"),
        (INSTANCES, lambda d: d.update(annotations={}), "'annotations' must be a list, got dict"),
        (
            STUFF,
            lambda d: d["categories"].append({"id": 1, "name": "human"}),
            "category id 1 is 'human' here but 'person' in",
        ),
        (
            INSTANCES,
            lambda d: d["categories"].append({"id": 7, "name": "person"}),
            "category name 'person' is used by ids 1 and 7",
        ),
    ],
)
def test_bad_annotations_name_the_file_and_annotation(coco_root, file, change, message):
    path = coco_root / "annotations" / file
    _rewrite(path, change)
    with pytest.raises(DatasetError, match=message) as info:
        build_dataset(coco_cfg(coco_root), 16, "train")
    assert file in str(info.value)


def test_malformed_json_names_file_line_and_element(coco_root):
    path = coco_root / "annotations" / INSTANCES
    text = path.read_text()
    cut = text.index('"id": 201') + 5
    path.write_text(text[:cut] + "," + text[cut + 3 :])
    with pytest.raises(
        DatasetError, match=rf"{INSTANCES}: malformed JSON at line 1 .*'annotations'\[4\]"
    ):
        build_dataset(coco_cfg(coco_root), 16, "train")
    path.write_text(text[: len(text) // 2])  # truncated
    with pytest.raises(DatasetError, match="malformed JSON"):
        build_dataset(coco_cfg(coco_root), 16, "train")


def test_unknown_image_id_is_a_counted_drop_with_a_warning(coco_root, caplog):
    _, report = report_of(coco_cfg(coco_root))
    assert report["objects"]["dropped"]["image_id not in the images list"] == 1
    assert "annotation id 801, image_id 99" in caplog.text


def test_missing_root_and_files(tmp_path, coco_root):
    with pytest.raises(DatasetError, match=r"data\.root is not set"):
        build_dataset(DataConfig(name="coco"), 16, "train")
    with pytest.raises(DatasetError, match="is not a folder"):
        build_dataset(DataConfig(name="coco", root=str(tmp_path / "nope")), 16, "train")
    (coco_root / "annotations" / STUFF).unlink()
    with pytest.raises(DatasetError, match=f"COCO-Stuff file .* not found: .*{STUFF}"):
        build_dataset(coco_cfg(coco_root), 16, "train")


def test_bad_image_error_or_skip(coco_root, caplog):
    (coco_root / "train2017" / "gray.png").unlink()
    (coco_root / "train2017" / "palette.png").write_bytes(b"not an image")
    dataset, _ = build_dataset(coco_cfg(coco_root), 16, "train")
    with pytest.raises(DatasetError, match=r"image file not found: .*gray.png.*on_bad_image=skip"):
        dataset[1]
    with pytest.raises(DatasetError, match=r"cannot read image .*palette.png"):
        dataset[2]

    skipping, _ = build_dataset(coco_cfg(coco_root, on_bad_image="skip"), 16, "train")
    items = [skipping[i]["index"] for i in range(4)]
    assert items == [0, 3, 3, 3]  # 1 and 2 are bad: both take the next readable item, 3
    assert skipping.skipped == 3  # 1, 2 (from item 1), 2 (from item 2)
    assert "gray.png" in caplog.text and "palette.png" in caplog.text
    loader = DataLoader(skipping, batch_size=2, num_workers=2, collate_fn=collate_layouts)
    assert torch.cat([b["index"] for b in loader]).tolist() == [0, 3, 3, 3]


def test_bad_image_in_a_worker_reaches_the_cli_as_one_line(coco_root):
    from layout2im.cli.main import worker_message

    (coco_root / "train2017" / "gray.png").unlink()
    dataset, _ = build_dataset(coco_cfg(coco_root), 16, "train")
    loader = DataLoader(dataset, batch_size=2, num_workers=1, collate_fn=collate_layouts)
    batches = iter(loader)
    try:
        with pytest.raises(DatasetError) as info:
            list(batches)
    finally:
        # Stop the worker now: left to the garbage collector (the traceback holds the
        # iterator in a reference cycle) the shutdown waits 5 s, in some later test.
        batches._shutdown_workers()
    message = worker_message(str(info.value))
    assert message.startswith("image file not found: ") and "gray.png" in message
    assert "\n" not in message


# ----------------------------------------------------------------------------- coco-format


def format_cfg(root, **overrides) -> DataConfig:
    values = dict(
        name="coco-format",
        root=str(root),
        instances_json="annotations/instances_train2017.json",
        stuff_json="annotations/stuff_train2017.json",
        image_dir="train2017",
        cache_dir=str(root / "cache"),
    )
    values.update(overrides)
    cfg = DataConfig(**with_coco_section(values))
    cfg.validate()
    return cfg


def test_coco_format_matches_coco_and_holds_out_a_fraction(coco_root, caplog, monkeypatch):
    monkeypatch.setattr(sources, "_warned", set())  # warned once per process: maybe already
    data = open_split(format_cfg(coco_root), "train")
    assert kept_ids(data) == fx.KEPT_IMAGE_IDS
    assert data.index.meta["report"]["train"]["objects"] == fx.EXPECTED["objects"]
    with pytest.raises(DatasetError, match=r"no validation data: set data\.coco\.val_instances"):
        build_dataset(format_cfg(coco_root), 16, "val")
    samples, _ = build_dataset(format_cfg(coco_root), 16, "samples")
    assert len(samples) == 4 and "training sample grids use training images" in caplog.text

    cfg = format_cfg(coco_root, val_fraction=0.5)
    train, val = open_split(cfg, "train"), open_split(cfg, "val")
    assert sorted(kept_ids(train) + kept_ids(val)) == fx.KEPT_IMAGE_IDS
    assert kept_ids(train) and kept_ids(val)
    assert kept_ids(open_split(cfg, "train")) == kept_ids(train)  # fixed by the image id


def test_coco_format_with_a_val_file_and_no_stuff(coco_root, caplog):
    cfg = format_cfg(
        coco_root,
        stuff_json=None,
        val_instances_json=str(coco_root / "annotations" / "instances_val2017.json"),
        val_image_dir="val2017",
    )
    with caplog.at_level(logging.INFO, logger="layout2im"):
        train = open_split(cfg, "train")
    assert "no stuff JSON" in caplog.text
    assert kept_ids(train) == [2, 5]  # no stuff: only instance objects count
    val, vocab = build_dataset(cfg, 16, "val")
    assert val.index.image_ids[val.rows].tolist() == [12]  # 11 has 2 instance objects
    assert vocab.names[5] == "airplane" and len(vocab) == 6
    assert val[0]["image"].shape == (3, 16, 16)


def test_training_saves_the_dataset_vocabulary(coco_root, tmp_path):
    from layout2im.training.loop import train
    from layout2im.vocab import Vocabulary
    from tests.conftest import tiny_config

    config = tiny_config(steps=1, sample_every=1, checkpoint_every=1)
    config.data = coco_cfg(coco_root)
    config.model.num_classes = 184
    config.train.batch_size = 2
    run_dir = train(config, out_root=tmp_path / "runs", progress=False).run_dir
    saved = Vocabulary.load(run_dir / "model" / "vocab.json")
    assert saved.names == open_split(config.data, "train").index.meta["vocab"]
    assert saved.name(183) == "other" and saved.index("banner") == 92


def test_coco_format_val_file_must_share_the_categories(coco_root):
    val_json = coco_root / "annotations" / "instances_val2017.json"
    _rewrite(val_json, lambda d: d["categories"].append({"id": 7, "name": "train"}))
    cfg = format_cfg(
        coco_root, stuff_json=None, val_instances_json=str(val_json), val_image_dir="val2017"
    )
    with pytest.raises(DatasetError, match=r"categories differ .*first at id 7: 'train' vs None"):
        build_dataset(cfg, 16, "val")


# ----------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    "name",
    ["../x.jpg", "sub/../../x.jpg", "/etc/passwd", "C:\\x.jpg", "\\\\server\\share\\x.jpg",
     "..\\x.jpg", "a\x00.jpg"],
)  # fmt: skip
def test_file_names_leaving_the_image_folder_are_refused(coco_root, name, capsys):
    instances = coco_root / "annotations" / "instances_train2017.json"
    coco = json.loads(instances.read_text())
    coco["images"][1]["file_name"] = name
    instances.write_text(json.dumps(coco))
    with pytest.raises(DatasetError, match=r"'file_name' .* leaves the image folder"):
        build_dataset(format_cfg(coco_root), 16, "train")
    from layout2im.cli import main

    args = ["data", "inspect", "--config", "shapes32", "--root", str(coco_root)]
    data = format_cfg(coco_root).model_dump()
    keys = ("name", "coco.instances_json", "coco.stuff_json", "image_dir", "cache_dir")
    value = {k: data[k] for k in ("name", "image_dir", "cache_dir")}
    value |= {f"coco.{k}": v for k, v in data["coco"].items()}
    sets = [f"data.{k}={json.dumps(value[k])}" for k in keys]
    assert main([*args, *(x for s in sets for x in ("--set", s))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "leaves the image folder" in err and err.count("\n") == 1
    assert not list((coco_root / "cache").glob("*.npz"))  # no index cached


def test_nested_file_names_inside_the_folder_are_fine():
    from layout2im.data.coco import escapes_folder

    assert not escapes_folder("sub/dir/x.jpg") and not escapes_folder("x..y.jpg")
    assert escapes_folder("../x.jpg") and escapes_folder("/x.jpg") and escapes_folder("D:x.jpg")


def test_duplicate_annotation_ids_are_counted_and_reported(coco_root, capsys):
    instances = coco_root / "annotations" / "instances_train2017.json"
    coco = json.loads(instances.read_text())
    first = coco["annotations"][0]["id"]
    coco["annotations"][1]["id"] = first
    coco["annotations"][2]["id"] = first
    instances.write_text(json.dumps(coco))
    _, report = report_of(format_cfg(coco_root))
    assert report["objects"]["duplicate_ids"] == 2
    from layout2im.cli import main

    args = ["data", "inspect", "--config", "paper-coco64", "--root", str(coco_root)]
    assert main([*args, "--set", f"data.cache_dir={coco_root / 'cache'}"]) == 0
    out = capsys.readouterr().out
    assert "2  annotations reuse the id of another (duplicate annotation ids; kept)" in out


def test_a_cached_index_with_a_hostile_settings_record_is_rebuilt(tmp_path, caplog):
    from layout2im.data.layout_index import LayoutIndex, cached_index

    def build():
        return LayoutIndex.from_lists([1], [4], [3], ["a.jpg"], [0], [1], [7], [[0, 0, 1, 1]], [9])

    _, path, cached = cached_index([tmp_path], "x", {}, {}, build)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["meta"] = np.frombuffer(b"[" * 100_000 + b"]" * 100_000, dtype=np.uint8)
    np.savez(path, **arrays)
    with caplog.at_level(logging.WARNING, logger="layout2im"):
        index, again, cached = cached_index([tmp_path], "x", {}, {}, build)
    assert again == path and not cached and len(index) == 1  # rebuilt and rewritten
    assert "ignoring unreadable cached index" in caplog.text
    assert "its settings record: JSON nested deeper than 64 levels" in caplog.text
