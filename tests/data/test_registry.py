"""The dataset registry: one declaration per dataset, read by training's name check,
build_dataset, ``data inspect`` and the file sources."""

from pathlib import Path

import pytest
import torch

from layout2im.config import DataConfig
from layout2im.data import (
    DatasetEntry,
    DatasetError,
    build_dataset,
    dataset_names,
    get_dataset,
    paper_eval_split,
    register_dataset,
    registry,
)
from layout2im.data.inspect import inspect_dataset
from layout2im.data.shapes import ShapesDataset
from layout2im.data.sources import open_split
from layout2im.training.loop import train
from layout2im.vocab import Vocabulary
from tests.conftest import tiny_config
from tests.data import fixtures as fx
from tests.data.test_vg import IMAGE_DATA, OBJECTS, RELATIONSHIPS, SPLITS


def _coco(root: Path) -> dict:
    fx.write_coco_stuff(root)
    return {"root": str(root)}


def _coco_format(root: Path) -> dict:
    fx.write_coco_stuff(root)
    return {
        "root": str(root),
        "image_dir": "train2017",
        "val_image_dir": "val2017",
        "coco": {
            "instances_json": "annotations/instances_train2017.json",
            "stuff_json": "annotations/stuff_train2017.json",
            "val_instances_json": "annotations/instances_val2017.json",
            "val_stuff_json": "annotations/stuff_val2017.json",
        },
    }


def _vg(root: Path) -> dict:
    fx.write_vg(root, IMAGE_DATA, OBJECTS, RELATIONSHIPS, SPLITS, aliases="man,men,guy\n")
    (root / "relationship_alias.txt").write_text("near,beside,next to\n")
    return {
        "root": str(root),
        "max_objects": 12,
        "vg": {
            "splits_json": "splits.json",
            "min_category_count": 3,
            "min_predicate_count": 2,
            "max_objects_used": 4,
        },
    }


# A tiny configuration of every built-in dataset (a dataset added without one fails below).
TINY = {
    "shapes": lambda root: {"num_images": 4},
    "coco": _coco,
    "coco-format": _coco_format,
    "vg": _vg,
}


def tiny(name: str, tmp_path: Path) -> DataConfig:
    values = TINY[name](tmp_path / name)
    cfg = DataConfig(name=name, cache_dir=str(tmp_path / "cache"), **values)
    cfg.validate()
    return cfg


def test_every_registered_dataset_has_a_tiny_config_here():
    assert sorted(dataset_names()) == sorted(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_registered_dataset_builds_every_split(name, tmp_path):
    cfg = tiny(name, tmp_path)
    entry = get_dataset(name)
    assert entry.name == name and entry.description
    assert paper_eval_split(name) == entry.eval_split in entry.splits
    for split in entry.splits:
        dataset, vocab = build_dataset(cfg, 16, split)
        assert len(dataset) > 0, split
        item = dataset[0]
        assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.float32
        count = len(item["labels"])
        assert count > 0 and item["boxes"].shape == (count, 4)
        assert int(item["labels"].max()) < len(vocab)
    if entry.file_based:
        assert open_split(cfg, "train").dataset == name
    else:
        with pytest.raises(DatasetError, match="not a file-based dataset"):
            open_split(cfg, "train")


@pytest.mark.parametrize("name", sorted(TINY))
def test_data_inspect_reports_the_registered_splits(name, tmp_path):
    report = inspect_dataset(tiny(name, tmp_path))
    assert report["dataset"] == name
    assert list(report["splits"]) == list(get_dataset(name).splits)


def test_unknown_names_list_the_registered_datasets(tmp_path):
    names = ", ".join(dataset_names())
    with pytest.raises(
        registry.UnknownDatasetError, match=f"unknown dataset 'nope'; datasets: {names}$"
    ):
        get_dataset("nope")
    with pytest.raises(DatasetError, match=f"datasets: {names}$"):
        build_dataset(DataConfig(name="nope"), 16)
    with pytest.raises(DatasetError, match=f"datasets: {names}$"):
        train(tiny_config().model_copy(update={"data": DataConfig(name="nope")}), tmp_path)
    assert not any(tmp_path.iterdir())  # refused before any run folder


@pytest.fixture
def scratch_registry(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_a_new_dataset_is_one_registration(scratch_registry):
    def build(cfg, image_size, split):
        return ShapesDataset(2, image_size, seed=7), Vocabulary(["a", "b"])

    def inspect(cfg):
        return {"dataset": cfg.name, "root": None, "splits": {"train": {}}, "filters": {}}

    register_dataset(
        DatasetEntry("toy", "a test dataset", ("train",), "train", build=build, inspect=inspect)
    )
    cfg = DataConfig(name="toy")
    cfg.validate()
    assert "toy" in dataset_names() and paper_eval_split("toy") == "train"
    dataset, vocab = build_dataset(cfg, 16)
    assert len(dataset) == 2 and vocab.names == ["a", "b"]
    assert inspect_dataset(cfg)["splits"] == {"train": {}}
    with pytest.raises(ValueError, match="already registered"):
        register_dataset(
            DatasetEntry("toy", "another", ("train",), "train", build=build, inspect=inspect)
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "either open_split or build"),
        (
            {"open_split": open_split, "build": print, "inspect": print},
            "either open_split or build",
        ),
        ({"build": print}, "build and inspect go together"),
        ({"open_split": open_split, "eval_split": "test"}, "eval_split is not one of its splits"),
    ],
)
def test_entries_are_checked(kwargs, message):
    values = {"name": "bad", "description": "", "splits": ("train", "val"), "eval_split": "val"}
    with pytest.raises(ValueError, match=message):
        DatasetEntry(**{**values, **kwargs})
