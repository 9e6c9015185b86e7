"""A real 128-image COCO sample read as a coco-format dataset.

The sample (``annotations/instances_train2017.json`` and ``train2017/*.jpg``, the first 128
images of COCO train2017) is not part of the repository: point ``LAYOUT2IM_COCO128`` at its
folder to run these tests.

The sample has no stuff JSON, so ``stuff_only`` does not apply (an info line says so). The kept
images and objects are checked against a plain-Python recount of the JSON with the paper's
rules, and every photo (some are grayscale) decodes to RGB at its annotated size.
"""

import json
import logging
import os
from pathlib import Path

import pytest
from PIL import Image

from layout2im.config import DataConfig
from layout2im.data import build_dataset
from layout2im.data.images import load_image

COCO128 = Path(os.environ.get("LAYOUT2IM_COCO128", "coco128-not-given"))
INSTANCES = COCO128 / "annotations" / "instances_train2017.json"

pytestmark = pytest.mark.skipif(
    not INSTANCES.is_file(),
    reason="set LAYOUT2IM_COCO128 to a folder with the 128-image COCO sample "
    f"(annotations/instances_train2017.json not found under {COCO128})",
)


def recount(min_area=0.02, min_objects=3, max_objects=8):
    """The paper's object and image filters, written out over the raw JSON."""
    data = json.loads(INSTANCES.read_text())
    sizes = {im["id"]: (im["width"], im["height"]) for im in data["images"]}
    names = {c["id"]: c["name"] for c in data["categories"]}
    per_image = {im["id"]: [] for im in data["images"]}
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        W, H = sizes[ann["image_id"]]
        if w <= 0 or h <= 0 or names[ann["category_id"]] == "other":
            continue
        if w * h / (W * H) <= min_area:
            continue
        if min(x + w, W) <= max(x, 0) or min(y + h, H) <= max(y, 0):
            continue
        per_image[ann["image_id"]].append(ann["id"])
    kept = {i: a for i, a in per_image.items() if min_objects <= len(a) <= max_objects}
    order = [im["id"] for im in data["images"] if im["id"] in kept]
    return data, order, kept


@pytest.fixture
def cfg(tmp_path):
    cfg = DataConfig(
        name="coco-format",
        root=str(COCO128),
        coco={"instances_json": "annotations/instances_train2017.json"},
        image_dir="train2017",
        cache_dir=str(tmp_path / "cache"),
    )
    cfg.validate()
    return cfg


def test_counts_match_a_plain_recount(cfg, caplog):
    with caplog.at_level(logging.INFO, logger="layout2im"):
        dataset, vocab = build_dataset(cfg, 64, "train")
    assert "no stuff JSON" in caplog.text
    data, order, kept = recount()
    assert dataset.index.image_ids[dataset.rows].tolist() == order
    assert len(dataset) == len(order) > 0
    for row, image_id in enumerate(order):
        objects = dataset.index.objects(row)
        assert sorted(dataset.index.ann_ids[objects].tolist()) == sorted(kept[image_id])
    report = dataset.index.meta["report"]["train"]
    assert report["images"]["total"] == len(data["images"]) == 128
    assert report["objects"]["total"] == len(data["annotations"]) == 939
    assert report["objects"]["kept"] == sum(len(a) for a in kept.values())
    assert len(vocab) == 91 and vocab.name(1) == "person" and vocab.name(90) == "toothbrush"


def test_every_photo_decodes_to_rgb_at_its_size(cfg):
    data = json.loads(INSTANCES.read_text())
    modes = set()
    for im in data["images"]:
        path = COCO128 / "train2017" / im["file_name"]
        with Image.open(path) as raw:
            modes.add(raw.mode)
        image = load_image(path)
        assert image.mode == "RGB" and image.size == (im["width"], im["height"])
    assert "L" in modes  # the sample has grayscale photos

    dataset, _ = build_dataset(cfg, 32, "train")
    for i in range(len(dataset)):
        item = dataset[i]
        assert item["image"].shape == (3, 32, 32)
        assert item["labels"].shape[0] == item["boxes"].shape[0] >= 3
        assert (item["boxes"][:, 2:] > item["boxes"][:, :2]).all()
