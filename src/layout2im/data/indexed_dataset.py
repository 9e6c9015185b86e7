"""The torch ``Dataset`` over a :class:`LayoutIndex`: real photos with their boxes.

Item ``i`` is image row ``rows[i]`` of the index: the photo resized straight to
``image_size`` x ``image_size`` and ImageNet-normalised, its objects' labels and boxes
normalised by the decoded image's size (clamped to [0, 1]), and ``index`` = ``i``.

**Objects per item.** Objects that take part in a relationship come first (Visual Genome; none
elsewhere): at most ``max_objects`` of them drawn at random, then objects without one drawn at
random up to ``max_objects``; the chosen objects are shuffled. The draws use a generator seeded
by ``(seed, i)``, so an item is the same every time it is read, in any worker; with
``max_objects=None`` every object is kept and only the order is shuffled. (The trainer shuffles
object order again at every step with its own generator, ``LayoutBatch.shuffled``.)

**Bad images.** With ``on_bad_image="error"`` a missing or unreadable image raises
:class:`DatasetError` naming the file. With ``"skip"`` the item is replaced by the next
readable one (``i + 1``, ``i + 2``, ... wrapping around), deterministically, with a warning
naming the file; ``skipped`` counts them in this process (each DataLoader worker keeps its own
count). ``layout2im data inspect --check-images`` finds every bad image up front.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import short_path
from .errors import DatasetError
from .images import BadImageError, load_image, resize_to_array, to_imagenet_tensor
from .layout_index import LayoutIndex

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_BAD = 100


def choose_objects(
    in_rel: np.ndarray, max_objects: int | None, rng: np.random.Generator
) -> np.ndarray:
    """Positions of the objects to use, shuffled: those with ``in_rel`` first (at most
    ``max_objects``, sampled), then the others sampled up to ``max_objects`` in all."""
    if max_objects is None:
        chosen = np.arange(len(in_rel))
    else:
        linked, orphans = np.flatnonzero(in_rel), np.flatnonzero(~in_rel)
        if len(linked) > max_objects:
            linked = rng.choice(linked, max_objects, replace=False)
        extra = min(max_objects - len(linked), len(orphans))
        chosen = np.concatenate([linked, rng.choice(orphans, extra, replace=False)])
    rng.shuffle(chosen)
    return chosen


class IndexedLayoutDataset(Dataset):
    """Items of the ``rows`` of ``index`` with images under ``image_dir`` (see module docs)."""

    def __init__(
        self,
        index: LayoutIndex,
        rows: np.ndarray,
        image_dir: Path,
        image_size: int,
        max_objects: int | None = None,
        seed: int = 0,
        on_bad_image: str = "error",
        name: str = "dataset",
    ):
        if on_bad_image not in ("error", "skip"):
            raise ValueError(f"on_bad_image must be 'error' or 'skip', got {on_bad_image!r}")
        self.index = index
        self.rows = np.asarray(rows, dtype=np.int64)
        self.image_dir = Path(image_dir)
        self.image_size = image_size
        self.max_objects = max_objects
        self.seed = seed
        self.on_bad_image = on_bad_image
        self.name = name
        self.skipped = 0

    def __len__(self) -> int:
        return len(self.rows)

    def real_image_id(self, i: int) -> int:
        """The annotation file's image id of item ``i``."""
        return int(self.index.image_ids[int(self.rows[i])])

    def image_path(self, i: int) -> Path:
        return self.image_dir / self.index.file_name(int(self.rows[i]))

    def layout(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Labels (O,) int64 and pixel xyxy boxes (O, 4) float32 of item ``i`` (chosen and
        ordered as the item has them), without reading the image."""
        row = int(self.rows[i])
        objects = self.index.objects(row)
        rng = np.random.Generator(np.random.PCG64([self.seed, i]))
        chosen = choose_objects(self.index.in_rel[objects], self.max_objects, rng)
        labels = self.index.labels[objects][chosen].astype(np.int64)
        return labels, self.index.boxes[objects][chosen]

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} images")
        i = i % len(self)
        for attempt in range(min(MAX_CONSECUTIVE_BAD, len(self))):
            j = (i + attempt) % len(self)
            try:
                image = load_image(self.image_path(j))
            except BadImageError as exc:
                if self.on_bad_image == "error":
                    raise DatasetError(
                        f"{exc} ({self.name}); set data.on_bad_image=skip to skip bad images, "
                        "or run `layout2im data inspect --check-images` to list them"
                    ) from None
                self.skipped += 1
                log.warning("skipping a bad image of %s: %s", self.name, exc)
                continue
            return self._item(j, image)
        raise DatasetError(
            f"{self.name}: {MAX_CONSECUTIVE_BAD} consecutive images from item {i} "
            f"({short_path(self.image_path(i))}) cannot be read; check data.root and the "
            "image folder"
        )

    def _item(self, i: int, image) -> dict:
        width, height = image.size
        labels, boxes = self.layout(i)
        scale = np.array([width, height, width, height], dtype=np.float32)
        boxes = np.clip(boxes / scale, 0.0, 1.0)
        pixels = resize_to_array(image, self.image_size)
        return {
            "image": to_imagenet_tensor(pixels),
            "labels": torch.from_numpy(labels),
            "boxes": torch.from_numpy(boxes.astype(np.float32)),
            "index": i,
        }
