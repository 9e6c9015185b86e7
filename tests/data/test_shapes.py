"""Behaviour of the built-in synthetic ``shapes`` dataset."""

import numpy as np
import pytest
import torch

from layout2im.data.images import IMAGENET_MEAN, IMAGENET_STD
from layout2im.data.shapes import SHAPE_CATEGORIES, ShapesDataset, render_scene, scene_seed


def test_dataset_items_are_normalised_tensors():
    dataset = ShapesDataset(5, image_size=32, seed=3)
    assert len(dataset) == 5 and dataset.categories == SHAPE_CATEGORIES
    item = dataset[2]
    scene = render_scene(scene_seed(3, 2), 32)
    count = len(scene.labels)
    assert item["index"] == 2
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert item["labels"].shape == (count,) and item["labels"].dtype == torch.int64
    assert item["boxes"].shape == (count, 4) and item["boxes"].dtype == torch.float32
    np.testing.assert_array_equal(item["labels"].numpy(), scene.labels)
    np.testing.assert_array_equal(item["boxes"].numpy(), scene.boxes)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    restored = (item["image"] * std + mean).permute(1, 2, 0).numpy()
    assert np.abs(restored - scene.image / 255.0).max() < 1 / 255


def test_dataset_cache_returns_the_same_items_and_stays_intact():
    cached, uncached = ShapesDataset(3, image_size=16), ShapesDataset(3, image_size=16, cache=False)
    first = cached[1]
    first["labels"].fill_(-1)  # a caller mutating its batch must not corrupt the cache
    again, fresh = cached[1], uncached[1]
    assert torch.equal(again["image"], fresh["image"])
    assert torch.equal(again["labels"], fresh["labels"])
    assert torch.equal(again["boxes"], fresh["boxes"])


def test_dataset_indexing_and_seeds():
    dataset = ShapesDataset(3, image_size=16, seed=0)
    with pytest.raises(IndexError):
        dataset[3]
    assert len(list(dataset)) == 3
    held_out = ShapesDataset(3, image_size=16, seed=1)
    assert not torch.equal(dataset[0]["image"], held_out[0]["image"])


@pytest.mark.parametrize("kwargs", [{"num_images": 0}, {"num_images": 2, "seed": -1}])
def test_dataset_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ShapesDataset(**kwargs)
