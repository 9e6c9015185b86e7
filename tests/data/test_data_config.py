"""The dataset keys of ``DataConfig``: paper defaults, types and ranges checked by key."""

import pytest

from layout2im.config import ConfigError, DataConfig, apply_overrides, load_config


def test_paper_defaults_and_presets():
    d = DataConfig()
    assert (d.stuff_only, d.min_box_area, d.include_other, d.drop_crowd) == (
        True,
        0.02,
        False,
        False,
    )
    assert (d.vg_min_image_side, d.vg_min_category_count, d.vg_min_box_side) == (200, 2000, 32)
    assert (d.vg_min_predicate_count, d.vg_max_objects_used, d.on_bad_image) == (500, 9, "error")
    coco = load_config("paper-coco64").data
    assert (coco.name, coco.min_objects, coco.max_objects, coco.min_box_area) == (
        "coco",
        3,
        8,
        0.02,
    )
    vg = load_config("paper-vg64").data
    assert (vg.name, vg.min_objects, vg.max_objects, vg.vg_max_objects_used) == ("vg", 3, 30, 9)
    assert load_config("shapes32").data.name == "shapes"


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.on_bad_image=ignore", "data.on_bad_image must be 'error' or 'skip'"),
        ("data.min_box_area=1.5", r"data.min_box_area must be in \[0, 1\)"),
        ("data.val_fraction=-0.1", r"data.val_fraction must be in \[0, 1\)"),
        ("data.vg_max_objects_used=0", "data.vg_max_objects_used must be >= 1"),
        ("data.vg_min_box_side=-1", "data.vg_min_box_side must be >= 0"),
        ("data.vg_max_relationships=0", "data.vg_max_relationships must be >= data.vg_min"),
        ("data.stuff_only=maybe", "data.stuff_only must be true or false"),
        ("data.instances_json=3", "data.instances_json must be a string"),
        ("data.name=coco2017", "data.name must be one of shapes, coco, vg, coco-format"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(load_config("paper-coco64"), [override])


def test_paths_and_nulls():
    cfg = apply_overrides(
        load_config("paper-coco64"),
        ["data.root=/data/my coco", "data.stuff_json=null", "data.cache_dir=~/cache"],
    )
    assert cfg.data.root == "/data/my coco" and cfg.data.stuff_json is None
