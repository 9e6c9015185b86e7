"""Writing ``shapes`` scenes as a COCO-format folder."""

import json

import numpy as np
import pytest
from PIL import Image

from layout2im.data.shapes_export import export_shapes_coco
from layout2im.data.shapes_render import SHAPE_CATEGORIES, render_scene, scene_seed


def test_export_coco(tmp_path):
    out_dir = tmp_path / "shapes"
    path = export_shapes_coco(out_dir, num_images=4, image_size=40, seed=2)
    assert path == out_dir / "annotations" / "instances.json"
    assert sorted(p.name for p in path.parent.iterdir()) == ["instances.json"]  # no temp left
    coco = json.loads(path.read_text())
    assert {"info", "licenses", "images", "annotations", "categories"} <= coco.keys()
    assert [c["id"] for c in coco["categories"]] == list(range(1, len(SHAPE_CATEGORIES) + 1))
    assert [c["name"] for c in coco["categories"]] == list(SHAPE_CATEGORIES)
    assert {c["supercategory"] for c in coco["categories"]} == {"shape"}
    assert [image["id"] for image in coco["images"]] == [1, 2, 3, 4]

    annotation_ids = [a["id"] for a in coco["annotations"]]
    assert len(set(annotation_ids)) == len(annotation_ids)
    for index, image in enumerate(coco["images"]):
        scene = render_scene(scene_seed(2, index), 40)
        assert image["file_name"] == f"{image['id']:012d}.png"
        assert (image["width"], image["height"]) == (40, 40)
        with Image.open(out_dir / "images" / image["file_name"]) as png:
            assert png.size == (40, 40) and png.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(png), scene.image)
        annotations = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        assert [a["category_id"] for a in annotations] == (scene.labels + 1).tolist()
        for annotation, (x0, y0, x1, y1) in zip(annotations, scene.boxes * 40):
            np.testing.assert_allclose(annotation["bbox"], [x0, y0, x1 - x0, y1 - y0], atol=1e-4)
            assert annotation["iscrowd"] == 0
            assert 0 < annotation["area"] <= annotation["bbox"][2] * annotation["bbox"][3]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"num_images": 0}, "num_images"), ({"num_images": 2, "image_size": 7}, "image_size")],
)
def test_export_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export_shapes_coco(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()
