"""The dataset keys of ``DataConfig`` (with its ``coco`` and ``vg`` sections): paper defaults,
types and ranges checked by key."""

import pytest

from layout2im.config import ConfigError, DataConfig, apply_overrides, load_config


def test_paper_defaults_and_presets():
    d = DataConfig()
    c = d.coco
    assert (c.stuff_only, c.min_box_area, c.include_other, c.drop_crowd) == (
        True,
        0.02,
        False,
        False,
    )
    v = d.vg
    assert (v.min_image_side, v.min_category_count, v.min_box_side) == (200, 2000, 32)
    assert (v.min_predicate_count, v.max_objects_used, d.on_bad_image) == (500, 9, "error")
    coco = load_config("paper-coco64").data
    assert (coco.name, coco.min_objects, coco.max_objects, coco.coco.min_box_area) == (
        "coco",
        3,
        8,
        0.02,
    )
    vg = load_config("paper-vg64").data
    assert (vg.name, vg.min_objects, vg.max_objects, vg.vg.max_objects_used) == ("vg", 3, 30, 9)
    assert load_config("shapes32").data.name == "shapes"


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.on_bad_image=ignore", r"data.on_bad_image must be one of error, skip \(got 'ig"),
        ("data.coco.min_box_area=1.5", r"data.coco.min_box_area must be in \[0, 1\), got 1.5"),
        ("data.coco.val_fraction=-0.1", r"data.coco.val_fraction must be in \[0, 1\), got -0.1"),
        ("data.vg.max_objects_used=0", "data.vg.max_objects_used must be >= 1, got 0"),
        ("data.vg.min_box_side=-1", "data.vg.min_box_side must be >= 0, got -1"),
        ("data.vg.max_relationships=0", r"data.vg.max_relationships must be >= data.vg.min_rel"),
        ("data.coco.stuff_only=maybe", "data.coco.stuff_only must be true or false, got 'maybe'"),
        ("data.coco.instances_json=3", "data.coco.instances_json must be a string, got 3"),
        ("data.vg=3", "data.vg must be a mapping, got 3"),
        # the flat names of earlier versions still work
        ("data.min_box_area=1.5", r"data.coco.min_box_area must be in \[0, 1\)"),
        ("data.vg_min_box_side=-1", "data.vg.min_box_side must be >= 0"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(load_config("paper-coco64"), [override])


def test_paths_and_nulls():
    cfg = apply_overrides(
        load_config("paper-coco64"),
        ["data.root=/data/my coco", "data.coco.stuff_json=null", "data.cache_dir=~/cache"],
    )
    assert cfg.data.root == "/data/my coco" and cfg.data.coco.stuff_json is None
