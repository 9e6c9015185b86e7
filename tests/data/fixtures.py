"""Tiny COCO-Stuff and Visual Genome folders written by the tests, one case per filter.

COCO fixture (``write_coco``): images of 100 x 80 px (2% of the area is 160 px^2) in several
PIL modes; categories 1 person, 2 bicycle, 5 airplane (instances), 92 banner, 93 blanket,
183 other (stuff). With the paper's filters:

- image 1 (RGB JPEG): person, bicycle, banner kept; a 10x10 person (area 1.25%), a zero-width
  person and an 'other' dropped -> kept, 3 objects;
- image 2 (grayscale PNG): 4 objects, one reaching past the image (clipped) -> kept, 4;
- image 3 (CMYK JPEG): 2 objects -> dropped, fewer than 3;
- image 4 (RGBA PNG): 9 objects and an 'other' -> dropped, more than 8;
- image 5 (RGB JPEG): 3 objects but no stuff annotation -> dropped, no stuff;
- image 6 (palette PNG): 3 objects, one a crowd box -> kept, 3;
- image 7 (RGB JPEG): 3 objects and one entirely right of the image -> kept, 3;
- one annotation of image id 99, which is not in ``images``.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

W, H = 100, 80
GOOD = [10, 10, 20, 20]  # 5% of the image

THINGS = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 2, "name": "bicycle", "supercategory": "vehicle"},
    {"id": 5, "name": "airplane", "supercategory": "vehicle"},
]
STUFF = [
    {"id": 92, "name": "banner", "supercategory": "textile"},
    {"id": 93, "name": "blanket", "supercategory": "textile"},
    {"id": 183, "name": "other", "supercategory": "other"},
]

# (image id, file name, PIL mode, colour)
IMAGES = [
    (1, "rgb.jpg", "RGB", (200, 100, 50)),
    (2, "gray.png", "L", 128),
    (3, "cmyk.jpg", "CMYK", (0, 0, 0, 0)),
    (4, "rgba.png", "RGBA", (10, 20, 30, 0)),
    (5, "nostuff.jpg", "RGB", (0, 255, 0)),
    (6, "palette.png", "P", 3),
    (7, "outside.jpg", "RGB", (0, 0, 255)),
]

# (annotation id, image id, category id, bbox, iscrowd, stuff?)
ANNOTATIONS = [
    (101, 1, 1, [10, 20, 30, 40], 0, False),
    (102, 1, 2, [50, 10, 20, 20], 0, False),
    (103, 1, 1, [0, 0, 10, 10], 0, False),  # area 1.25%
    (104, 1, 1, [5, 5, 0, 30], 0, False),  # zero width
    (105, 1, 92, [0, 40, 100, 40], 0, True),
    (106, 1, 183, [0, 0, 100, 40], 0, True),  # other
    (201, 2, 1, [10, 10, 20, 20], 0, False),
    (202, 2, 5, [40, 10, 20, 20], 0, False),
    (203, 2, 2, [80, 60, 40, 40], 0, False),  # clipped to [80, 60, 100, 80]
    (204, 2, 93, [0, 0, 100, 80], 0, True),
    (301, 3, 1, GOOD, 0, False),
    (302, 3, 92, GOOD, 0, True),
    *[(400 + k, 4, 1, GOOD, 0, False) for k in range(1, 10)],
    (410, 4, 183, GOOD, 0, True),
    (501, 5, 1, GOOD, 0, False),
    (502, 5, 2, GOOD, 0, False),
    (503, 5, 5, GOOD, 0, False),
    (601, 6, 1, GOOD, 1, False),  # crowd
    (602, 6, 2, GOOD, 0, False),
    (603, 6, 92, GOOD, 0, True),
    (701, 7, 1, [200, 10, 20, 20], 0, False),  # right of the image
    (702, 7, 1, GOOD, 0, False),
    (703, 7, 2, GOOD, 0, False),
    (704, 7, 93, GOOD, 0, True),
    (801, 99, 1, GOOD, 0, False),  # unknown image id
]

# What the paper's filters do to this fixture.
EXPECTED = {
    "images": {
        "total": 7,
        "kept": 4,
        "dropped": {
            "no stuff annotations": 1,
            "fewer than 3 objects": 1,
            "more than 8 objects": 1,
        },
    },
    "objects": {
        "total": 33,
        "kept": 13,
        "dropped": {
            "image_id not in the images list": 1,
            "zero-area box (width or height <= 0)": 1,
            "category 'other'": 2,
            "box area <= 0.02 of image": 1,
            "box outside the image": 1,
        },
        "in_dropped_images": 14,
        "clipped": 1,
        "duplicate_ids": 0,
    },
}
KEPT_IMAGE_IDS = [1, 2, 6, 7]


def save_image(path: Path, mode: str, colour, size=(W, H)) -> None:
    if mode == "P":
        image = Image.new("P", size, colour)
        image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 40, 80, 160] + [0] * 756)
    else:
        image = Image.new(mode, size, colour)
    image.save(path)


def coco_json(images, annotations, categories, with_images=True) -> dict:
    data = {
        "info": {"description": "test fixture"},
        "licenses": [],
        "annotations": [
            {
                "segmentation": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]],
                "area": float(b[2] * b[3]),
                "iscrowd": crowd,
                "image_id": image_id,
                "bbox": b,
                "category_id": cat,
                "id": ann_id,
            }
            for ann_id, image_id, cat, b, crowd in annotations
        ],
        "categories": categories,
    }
    if with_images:
        data["images"] = [
            {"id": i, "file_name": name, "width": W, "height": H, "license": 1}
            for i, name, *_ in images
        ]
    return data


def write_coco(root: Path, part: str = "train2017", images=IMAGES, annotations=ANNOTATIONS):
    """A COCO-Stuff 2017 layout: ``annotations/{instances,stuff}_<part>.json`` and ``<part>/``."""
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / part).mkdir(parents=True, exist_ok=True)
    for _, name, mode, colour in images:
        save_image(root / part / name, mode, colour)
    things = [a[:5] for a in annotations if not a[5]]
    stuff = [a[:5] for a in annotations if a[5]]
    instances = root / "annotations" / f"instances_{part}.json"
    instances.write_text(json.dumps(coco_json(images, things, THINGS)))
    stuff_path = root / "annotations" / f"stuff_{part}.json"
    stuff_path.write_text(json.dumps(coco_json(images, stuff, STUFF)))
    return instances, stuff_path


VAL_IMAGES = [(11, "a.jpg", "RGB", (1, 2, 3)), (12, "b.jpg", "RGB", (4, 5, 6))]
VAL_ANNOTATIONS = [
    (1101, 11, 1, GOOD, 0, False),
    (1102, 11, 2, GOOD, 0, False),
    (1103, 11, 92, GOOD, 0, True),
    (1201, 12, 5, GOOD, 0, False),
    (1202, 12, 5, GOOD, 0, False),
    (1203, 12, 5, GOOD, 0, False),
    (1204, 12, 93, GOOD, 0, True),
]


def write_coco_stuff(root: Path) -> Path:
    """train2017 (the fixture above) and a val2017 of two kept images."""
    write_coco(root, "train2017")
    write_coco(root, "val2017", VAL_IMAGES, VAL_ANNOTATIONS)
    return root


# ----------------------------------------------------------------------------- Visual Genome


def vg_object(object_id, names, x, y, w, h):
    return {"object_id": object_id, "names": names, "x": x, "y": y, "w": w, "h": h}


def vg_rel(rel_id, predicate, subject, obj):
    return {
        "relationship_id": rel_id,
        "predicate": predicate,
        "subject": {"object_id": subject, "name": "x"},
        "object": {"object_id": obj, "name": "y"},
    }


def write_vg(root: Path, image_data, objects, relationships, splits, aliases=None) -> Path:
    """A VG folder: the three JSON files, a split file, images under ``VG_100K*``."""
    root.mkdir(parents=True, exist_ok=True)
    for entry in image_data:
        folder, name = entry["url"].split("/")[-2:]
        (root / folder).mkdir(exist_ok=True)
        save_image(root / folder / name, "RGB", (90, 120, 150), (entry["width"], entry["height"]))
    (root / "image_data.json").write_text(json.dumps(image_data))
    (root / "objects.json").write_text(json.dumps(objects))
    (root / "relationships.json").write_text(json.dumps(relationships))
    (root / "splits.json").write_text(json.dumps(splits))
    if aliases is not None:
        (root / "object_alias.txt").write_text(aliases)
    return root
