"""Writing ``shapes`` scenes as a COCO-format folder (``layout2im export-shapes``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..fsutil import atomic_write, write_text
from .shapes_render import (
    SHAPE_CATEGORIES,
    Scene,
    check_dataset_args,
    check_image_size,
    render_scene,
    scene_seed,
)


def _coco_annotations(scene: Scene, image_id: int, first_id: int) -> list[dict]:
    size = scene.image.shape[0]
    pixel_boxes = np.rint(scene.boxes * size).astype(int)
    return [
        {
            "id": first_id + k,
            "image_id": image_id,
            "category_id": int(label) + 1,
            "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
            "area": float(mask.sum()),
            "iscrowd": 0,
        }
        for k, (label, (x0, y0, x1, y1), mask) in enumerate(
            zip(scene.labels, pixel_boxes, scene.masks)
        )
    ]


def export_shapes_coco(
    out_dir: str | Path, num_images: int, image_size: int = 64, seed: int = 0
) -> Path:
    """Write the first ``num_images`` scenes of ``ShapesDataset(seed=seed)`` in COCO format.

    Layout: ``out_dir/images/000000000001.png`` ... (image ids start at 1) and
    ``out_dir/annotations/instances.json`` (COCO instances: category ids are label + 1,
    ``bbox`` is [x, y, w, h] in pixels, ``area`` is the number of visible pixels). The JSON is
    written atomically. Returns the path of the JSON file.
    """
    check_dataset_args(num_images, seed)
    check_image_size(image_size)
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "annotations").mkdir(parents=True, exist_ok=True)

    images, annotations = [], []
    for index in range(num_images):
        image_id = index + 1
        scene = render_scene(scene_seed(seed, index), image_size, return_masks=True)
        file_name = f"{image_id:012d}.png"
        with atomic_write(out_dir / "images" / file_name) as tmp:
            Image.fromarray(scene.image).save(tmp, format="PNG")
        images.append(
            {"id": image_id, "file_name": file_name, "width": image_size, "height": image_size}
        )
        annotations += _coco_annotations(scene, image_id, first_id=len(annotations) + 1)

    coco = {
        "info": {
            "description": f"layout2im synthetic shapes (seed {seed}, {image_size}x{image_size})",
            "version": "1.0",
            "contributor": "layout2im",
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": i + 1, "name": name, "supercategory": "shape"}
            for i, name in enumerate(SHAPE_CATEGORIES)
        ],
    }
    path = out_dir / "annotations" / "instances.json"
    write_text(path, json.dumps(coco))
    return path
