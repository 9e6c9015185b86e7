"""Datasets: the built-in synthetic ``shapes`` and (later) COCO-Stuff, Visual Genome and any
COCO-format folder. Every dataset item is a dict with ``image`` (3, H, W) ImageNet-normalised,
``labels`` (O,) category rows, ``boxes`` (O, 4) normalised xyxy and ``index``."""

from __future__ import annotations

from torch.utils.data import Dataset

from ..config import DataConfig
from ..vocab import Vocabulary

SPLITS = ("train", "val", "samples")


class DatasetError(ValueError):
    """A dataset cannot be built: missing files, bad annotations, unknown name."""


def build_dataset(
    cfg: DataConfig, image_size: int, split: str = "train"
) -> tuple[Dataset, Vocabulary]:
    """The dataset of ``cfg`` at ``image_size`` and its vocabulary.

    ``split``: ``train``; ``val`` (held-out evaluation layouts); ``samples`` (the fixed layouts of
    training sample grids, taken from the held-out split).
    """
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
    if cfg.name == "shapes":
        from .shapes import SHAPE_CATEGORIES, ShapesDataset

        held_out = split != "train"
        dataset = ShapesDataset(
            num_images=cfg.num_images if not held_out else max(64, cfg.num_images // 10),
            image_size=image_size,
            seed=cfg.seed + 1 if held_out else cfg.seed,
            min_objects=cfg.min_objects,
            max_objects=cfg.max_objects,
        )
        return dataset, Vocabulary(SHAPE_CATEGORIES)
    raise DatasetError(
        f"dataset {cfg.name!r} is not available in this version; use data.name=shapes"
    )
