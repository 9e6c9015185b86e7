import numpy as np
import pytest

from layout2im.config import DataConfig
from layout2im.data import build_dataset
from layout2im.data.shapes_skills import SKILL_LAYOUTS, SKILL_SPLITS, SKILLS, meets_skill


@pytest.mark.parametrize("skill", SKILLS)
def test_skill_scenes_have_their_property_and_are_deterministic(skill):
    dataset, _ = build_dataset(DataConfig(name="shapes"), 32, f"ood-{skill}")
    assert len(dataset) == SKILL_LAYOUTS
    counts = []
    for i in range(8):
        scene = dataset.scene(i)
        assert meets_skill(skill, i % 2, scene.boxes)
        counts.append(len(scene.labels))
        b = scene.boxes * 32
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        if skill == "size" and i % 2 == 0:
            assert (np.maximum(w, h) <= 4).all()
        if skill == "size" and i % 2 == 1:
            assert min(w[0], h[0]) >= 0.8 * 32
        if skill == "shape":
            assert (np.maximum(w / h, h / w) > 4).all()
        if skill == "position":
            touches = (b[:, 0] == 0) | (b[:, 1] == 0) | (b[:, 2] == 32) | (b[:, 3] == 32)
            assert touches.all()
    if skill == "number":
        assert all(c <= 2 for c in counts[0::2]) and all(9 <= c <= 16 for c in counts[1::2])
    again, _ = build_dataset(DataConfig(name="shapes"), 32, f"ood-{skill}")
    assert np.array_equal(again.scene(3).image, dataset.scene(3).image)


def test_skill_splits_do_not_share_scenes_with_training_or_held_out():
    images = set()
    for split in ("train", "val", "test", *SKILL_SPLITS):
        dataset, _ = build_dataset(DataConfig(name="shapes", num_images=640), 16, split)
        images |= {dataset.scene(i).image.tobytes() for i in range(4)}
    assert len(images) == 4 * (3 + len(SKILL_SPLITS))
