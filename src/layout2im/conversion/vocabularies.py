"""The authors' vocabularies, row for row.

- COCO-Stuff 2017 (``coco``): the row is the COCO category id, as the original's data loader
  (sg2im's) builds it: 184 rows, ``__image__`` at row 0, the 80 thing categories at their ids
  1..90, the 91 stuff categories at 92..182 and ``other`` at 183 (the training data drops
  ``other`` objects, so its row was never trained); the 11 ids COCO never assigned are unused
  rows. The names are COCO's and COCO-Stuff's, as the annotation files spell them, which makes
  the vocabulary equal to the one ``layout2im`` builds from those files (evaluation checks it).
- Visual Genome (``vg``): the order is data-dependent (``__image__`` at row 0, then the 178
  categories by descending instance count over the training images, ties in order of first
  appearance), so it cannot be written down here: it comes from the ``vocab.json`` the
  original VG preprocessing wrote (``object_idx_to_name``), from a layout2im ``vocab.json``
  (``names``), or from this library's own preprocessing of the same Visual Genome release
  (``layout2im data prepare-vg``).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..config import apply_overrides, load_config
from ..data.sources import vg_index
from ..errors import quote, short_path
from ..readers import read_json
from ..vocab import MAX_VOCAB_BYTES, Vocabulary
from .state_files import ConversionError

IMAGE_ROW = "__image__"
COCO_ROWS = 184
VG_ROWS = 179

COCO_THINGS = {
    1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train",
    8: "truck", 9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign",
    14: "parking meter", 15: "bench", 16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep",
    21: "cow", 22: "elephant", 23: "bear", 24: "zebra", 25: "giraffe", 27: "backpack",
    28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase", 34: "frisbee", 35: "skis",
    36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat", 40: "baseball glove",
    41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle", 46: "wine glass",
    47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
    54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza",
    60: "donut", 61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed",
    67: "dining table", 70: "toilet", 72: "tv", 73: "laptop", 74: "mouse", 75: "remote",
    76: "keyboard", 77: "cell phone", 78: "microwave", 79: "oven", 80: "toaster", 81: "sink",
    82: "refrigerator", 84: "book", 85: "clock", 86: "vase", 87: "scissors", 88: "teddy bear",
    89: "hair drier", 90: "toothbrush",
}  # fmt: skip

COCO_STUFF = [
    "banner",
    "blanket",
    "branch",
    "bridge",
    "building-other",
    "bush",
    "cabinet",
    "cage",
    "cardboard",
    "carpet",
    "ceiling-other",
    "ceiling-tile",
    "cloth",
    "clothes",
    "clouds",
    "counter",
    "cupboard",
    "curtain",
    "desk-stuff",
    "dirt",
    "door-stuff",
    "fence",
    "floor-marble",
    "floor-other",
    "floor-stone",
    "floor-tile",
    "floor-wood",
    "flower",
    "fog",
    "food-other",
    "fruit",
    "furniture-other",
    "grass",
    "gravel",
    "ground-other",
    "hill",
    "house",
    "leaves",
    "light",
    "mat",
    "metal",
    "mirror-stuff",
    "moss",
    "mountain",
    "mud",
    "napkin",
    "net",
    "paper",
    "pavement",
    "pillow",
    "plant-other",
    "plastic",
    "platform",
    "playingfield",
    "railing",
    "railroad",
    "river",
    "road",
    "rock",
    "roof",
    "rug",
    "salad",
    "sand",
    "sea",
    "shelf",
    "sky-other",
    "skyscraper",
    "snow",
    "solid-other",
    "stairs",
    "stone",
    "straw",
    "structural-other",
    "table",
    "tent",
    "textile-other",
    "towel",
    "tree",
    "vegetable",
    "wall-brick",
    "wall-concrete",
    "wall-other",
    "wall-panel",
    "wall-stone",
    "wall-tile",
    "wall-wood",
    "water-other",
    "waterdrops",
    "window-blind",
    "window-other",
    "wood",
]  # ids 92..182 in this order
COCO_OTHER_ID = 183


def coco_stuff_vocabulary() -> Vocabulary:
    """The 184-row COCO-Stuff vocabulary of the original (row = category id)."""
    names: list[str | None] = [None] * COCO_ROWS
    names[0] = IMAGE_ROW
    for cat_id, name in COCO_THINGS.items():
        names[cat_id] = name
    for offset, name in enumerate(COCO_STUFF):
        names[92 + offset] = name
    names[COCO_OTHER_ID] = "other"
    return Vocabulary(names)


def category_groups(vocab: Vocabulary) -> list[dict] | None:
    """The categories a person picks from, grouped, for vocabularies that have groups: the
    COCO-Stuff vocabulary (things, rows 1..91, then stuff, rows 92..182; ``__image__`` and
    ``other`` were never trained on and are left out). None for other vocabularies."""
    if vocab != coco_stuff_vocabulary():
        return None
    names = vocab.names
    return [
        {"name": "things", "categories": [n for n in names[1:92] if n is not None]},
        {"name": "stuff", "categories": [n for n in names[92:COCO_OTHER_ID] if n is not None]},
    ]


def vg_vocabulary_from_file(path: str | Path) -> Vocabulary:
    """The VG vocabulary from the original preprocessing's ``vocab.json``
    (``object_idx_to_name``) or a layout2im ``vocab.json`` (``names``): 179 rows, ``__image__``
    at row 0, names unique."""
    data = read_json(path, MAX_VOCAB_BYTES, "--vocab", ConversionError)
    path = Path(path)
    if isinstance(data, dict) and isinstance(data.get("object_idx_to_name"), list):
        names = data["object_idx_to_name"]
    elif isinstance(data, dict) and isinstance(data.get("names"), list):
        names = data["names"]
    else:
        raise ConversionError(
            f"--vocab {short_path(path)} has neither an 'object_idx_to_name' list (the original VG "
            "preprocessing's vocab.json) nor a 'names' list (a layout2im vocab.json)"
        )
    return check_vg_names(names, f"--vocab {short_path(path)}")


def check_vg_names(names: list, where: str) -> Vocabulary:
    if len(names) != VG_ROWS:
        raise ConversionError(
            f"{where}: the VG vocabulary has {len(names)} rows; the authors' VG model has "
            f"{VG_ROWS} (__image__ and 178 categories)"
        )
    if names[0] != IMAGE_ROW:
        raise ConversionError(f"{where}: row 0 is {quote(names[0])}, expected {IMAGE_ROW!r}")
    if not all(isinstance(n, str) and n for n in names):
        raise ConversionError(f"{where}: every VG vocabulary row must be a non-empty name")
    try:
        return Vocabulary(names)
    except ValueError as exc:
        raise ConversionError(f"{where}: {exc}") from None


def vg_vocabulary_from_dataset(root: str | Path) -> Vocabulary:
    """The VG vocabulary of this library's preprocessing (sg2im's rules) of the Visual Genome
    files under ``root``: read from the index ``layout2im data prepare-vg`` cached, or built."""
    config = apply_overrides(load_config("paper-vg64"), [f"data.root={json.dumps(str(root))}"])
    index, _, _ = vg_index(config.data)
    return check_vg_names(list(index.meta["vocab"]), f"the Visual Genome data under {root}")


VG_VOCAB_HELP = (
    "the authors' VG model needs its vocabulary, whose row order depends on the data (178 "
    "categories by instance count over the training images) and cannot be guessed: pass "
    "--vocab FILE, the vocab.json the original VG preprocessing (scripts/preprocess_vg.py) "
    "wrote beside train.h5, or a layout2im vocab.json; or --vg-root DIR, the same Visual "
    "Genome release preprocessed by layout2im (layout2im data prepare-vg --root DIR)"
)


def original_vocabulary(
    dataset: str, vocab_file: str | Path | None = None, vg_root: str | Path | None = None
) -> Vocabulary:
    """The vocabulary of the authors' ``dataset`` (``coco`` or ``vg``) model: fixed for COCO;
    for Visual Genome from ``vocab_file`` or the layout2im preprocessing under ``vg_root``
    (exactly one of them; see :data:`VG_VOCAB_HELP`)."""
    if dataset == "coco":
        if vocab_file is not None or vg_root is not None:
            raise ConversionError(
                "--vocab and --vg-root are for --dataset vg: the COCO-Stuff vocabulary is fixed "
                "(the row is the COCO category id)"
            )
        return coco_stuff_vocabulary()
    if vocab_file is not None and vg_root is not None:
        raise ConversionError("give --vocab or --vg-root, not both")
    if vocab_file is not None:
        return vg_vocabulary_from_file(vocab_file)
    if vg_root is not None:
        return vg_vocabulary_from_dataset(vg_root)
    raise ConversionError(VG_VOCAB_HELP)
