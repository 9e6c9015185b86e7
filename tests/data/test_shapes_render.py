"""Behaviour of the ``shapes`` scene renderer: determinism, tight boxes, variety, arguments."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layout2im.data.shapes_render import MAX_OBJECTS, SHAPE_CATEGORIES, render_scene


def tight_box(mask: np.ndarray) -> np.ndarray:
    """Normalised xyxy tight box of a non-empty (H, W) bool mask, computed independently."""
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    return np.array(
        [xs.min() / width, ys.min() / height, (xs.max() + 1) / width, (ys.max() + 1) / height]
    )


def assert_valid_scene(scene, size: int, min_objects: int = 3, max_objects: int = 8) -> None:
    count = len(scene.labels)
    assert min_objects <= count <= max_objects
    assert scene.image.shape == (size, size, 3) and scene.image.dtype == np.uint8
    assert scene.labels.shape == (count,) and scene.labels.dtype == np.int64
    assert scene.boxes.shape == (count, 4) and scene.boxes.dtype == np.float32
    assert scene.masks.shape == (count, size, size) and scene.masks.dtype == bool
    assert np.all((scene.labels >= 0) & (scene.labels < len(SHAPE_CATEGORIES)))
    boxes = scene.boxes
    assert np.all((boxes >= 0) & (boxes <= 1))
    assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
    np.testing.assert_allclose(boxes * size, np.rint(boxes * size), atol=1e-4)  # pixel-aligned
    for box, mask in zip(boxes, scene.masks):
        np.testing.assert_allclose(box, tight_box(mask), atol=1e-6)


@pytest.fixture(scope="module")
def scenes32():
    return [render_scene(seed, 32, return_masks=True) for seed in range(200)]


@pytest.mark.parametrize("size", [32, 64])
def test_same_seed_gives_identical_scene(size):
    first, second = render_scene(1234, size), render_scene(1234, size)
    assert first.image.tobytes() == second.image.tobytes()
    np.testing.assert_array_equal(first.labels, second.labels)
    assert first.boxes.tobytes() == second.boxes.tobytes()


def test_different_seeds_give_different_scenes():
    images = {render_scene(seed, 32).image.tobytes() for seed in range(10)}
    assert len(images) == 10


@pytest.mark.parametrize("size", [32, 50, 64])
def test_boxes_are_tight_boxes_of_visible_masks(size):
    for seed in range(20):
        assert_valid_scene(render_scene(seed, size, return_masks=True), size)


def test_masks_are_optional_and_do_not_change_the_scene():
    plain, with_masks = render_scene(5, 48), render_scene(5, 48, return_masks=True)
    assert plain.masks is None
    assert plain.image.tobytes() == with_masks.image.tobytes()
    np.testing.assert_array_equal(plain.boxes, with_masks.boxes)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**40),
    size=st.integers(8, 80),
    counts=st.tuples(st.integers(1, MAX_OBJECTS), st.integers(1, MAX_OBJECTS)).map(sorted),
)
def test_any_seed_and_size_gives_valid_tight_boxes(seed, size, counts):
    scene = render_scene(seed, size, counts[0], counts[1], return_masks=True)
    assert_valid_scene(scene, size, counts[0], counts[1])


@pytest.mark.parametrize(("min_objects", "max_objects"), [(1, 1), (2, 4), (8, 8)])
def test_object_count_respects_bounds(min_objects, max_objects):
    counts = {len(render_scene(seed, 16, min_objects, max_objects).labels) for seed in range(30)}
    assert counts <= set(range(min_objects, max_objects + 1))


def test_default_object_counts_span_three_to_eight(scenes32):
    counts = {len(scene.labels) for scene in scenes32}
    assert counts == set(range(3, 9))


def test_every_category_appears(scenes32):
    labels = np.concatenate([scene.labels for scene in scenes32])
    frequency = np.bincount(labels, minlength=len(SHAPE_CATEGORIES)) / labels.size
    assert len(SHAPE_CATEGORIES) >= 8 and len(set(SHAPE_CATEGORIES)) == len(SHAPE_CATEGORIES)
    assert frequency.min() > 0.5 / len(SHAPE_CATEGORIES)


def test_appearance_varies_within_each_category(scenes32):
    colours = {label: [] for label in range(len(SHAPE_CATEGORIES))}
    areas = {label: [] for label in range(len(SHAPE_CATEGORIES))}
    for scene in scenes32:
        for label, mask, (x0, y0, x1, y1) in zip(scene.labels, scene.masks, scene.boxes):
            colours[label].append(scene.image[mask].mean(axis=0))
            areas[label].append((x1 - x0) * (y1 - y0))
    for label, name in enumerate(SHAPE_CATEGORIES):
        assert np.std(colours[label], axis=0).max() > 25, f"{name}: colour barely varies"
        assert np.std(areas[label]) > 0.2 * np.mean(areas[label]), f"{name}: size barely varies"


def test_objects_stand_out_from_the_background(scenes32):
    distances = []
    for scene in scenes32:
        background = scene.image[~scene.masks.any(axis=0)].mean(axis=0)
        distances += [
            np.linalg.norm(scene.image[mask].mean(axis=0) - background) for mask in scene.masks
        ]
    assert np.median(distances) > 50
    assert np.percentile(distances, 5) > 20


def test_scene_is_the_same_at_every_image_size():
    for seed in range(40):
        small, large = render_scene(seed, 32), render_scene(seed, 64)
        np.testing.assert_array_equal(small.labels, large.labels)
        assert np.abs(small.boxes - large.boxes).max() <= 1 / 32 + 1e-6
        downsampled = large.image.astype(float).reshape(32, 2, 32, 2, 3).mean(axis=(1, 3))
        assert np.abs(downsampled - small.image).mean() < 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"seed": -1},
        {"seed": 0, "image_size": 7},
        {"seed": 0, "min_objects": 0},
        {"seed": 0, "min_objects": 5, "max_objects": 4},
        {"seed": 0, "max_objects": MAX_OBJECTS + 1},
    ],
)
def test_render_scene_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        render_scene(**kwargs)
