"""Scoring any system's images: a protocol's layouts out as JSON lines, a folder of images in.

**Layouts file** (``layout2im evaluate layouts``): JSON lines. The first line is a header::

    {"format": "layout2im-layouts", "version": 1, "protocol": {...}, "layouts": 2000,
     "image_size": 32, "samples_per_layout": 1, "naming": "..."}

then one line per layout, in the protocol's order::

    {"id": "000000", "split": "val", "index": 0, "real_image_id": 1000000,
     "width": 32, "height": 32,
     "objects": [{"category": "star", "category_id": 5,
                  "box": [0.125, 0.25, 0.5, 0.75],           # x0, y0, x1, y1 in [0, 1]
                  "box_pixels": [4, 8, 16, 24]}, ...]}      # the same box times the size

``category_id`` is the row of the model's vocabulary (``vocab.json``); ``box_pixels`` are
``box * size`` (fractions where the real boxes are fractional). Protocols with skill splits
prefix the id with the split (``ood-size-000041``).

**Image names** (``layout2im evaluate images``): one image per layout is ``<id>.png``; several
are ``<id>_<k>.png`` with ``k`` = 0, 1, ... (``<id>.png`` counts as ``<id>_0.png``). ``.jpg``
and ``.jpeg`` are read too. A layout's samples ``0..K-1`` are scored, ``K`` the protocol's
``samples_per_layout`` (more are used for diversity, which compares samples 0 and 1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from ..fsutil import atomic_write
from .generation import EvalLayouts
from .protocols import Protocol

LAYOUTS_FORMAT = "layout2im-layouts"
LAYOUTS_VERSION = 1
NAMING = (
    "one image per layout: <id>.png; several: <id>_<k>.png with k = 0, 1, ...; PNG or JPEG "
    "(.png, .jpg, .jpeg), square, any size (resized to image_size by the protocol's rule)"
)
IMAGE_NAME = re.compile(
    r"^(?:(?P<split>[a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*)-)?(?P<index>\d{6})"
    r"(?:_(?P<sample>\d{1,3}))?\.(?P<ext>png|jpe?g)$",
    re.IGNORECASE,
)


def id_prefix(protocol: Protocol, split: str) -> str:
    """What layout ids of ``split`` start with: ``"<split>-"`` for a protocol with skill
    splits, else nothing."""
    return f"{split}-" if protocol.skill_splits else ""


def layout_id(prefix: str, index: int) -> str:
    return f"{prefix}{index:06d}"


def layout_records(
    layouts: EvalLayouts, split: str, prefix: str, image_size: int
) -> Iterator[dict]:
    """One JSON-ready record per layout (see the module docstring)."""
    for i, (labels, boxes) in enumerate(zip(layouts.labels, layouts.boxes, strict=True)):
        objects = []
        for label, box in zip(labels.tolist(), boxes.tolist(), strict=True):
            objects.append(
                {
                    "category": layouts.vocab.names[label],
                    "category_id": int(label),
                    "box": [round(v, 6) for v in box],
                    "box_pixels": [round(v * image_size, 4) for v in box],
                }
            )
        yield {
            "id": layout_id(prefix, i),
            "split": split,
            "index": i,
            "real_image_id": layouts.image_ids[i] if layouts.image_ids else None,
            "width": image_size,
            "height": image_size,
            "objects": objects,
        }


def write_layouts(
    path: str | Path,
    protocol: Protocol,
    parts: list[tuple[Protocol, EvalLayouts]],
    image_size: int,
    command: list[str] | None = None,
) -> dict:
    """Write the layouts file (header line, then every layout of every split of ``parts``,
    in order) atomically; returns the header."""
    header = {
        "format": LAYOUTS_FORMAT,
        "version": LAYOUTS_VERSION,
        "protocol": protocol.to_dict(),
        "layouts": sum(len(layouts) for _, layouts in parts),
        "layouts_per_split": {p.split: len(layouts) for p, layouts in parts},
        "image_size": image_size,
        "samples_per_layout": protocol.samples_per_layout,
        "naming": NAMING,
        "command": command,
    }
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for proto, layouts in parts:
            prefix = id_prefix(protocol, proto.split)
            for record in layout_records(layouts, proto.split, prefix, image_size):
                f.write(json.dumps(record) + "\n")
    return header
