"""Datasets: the built-in synthetic ``shapes``, COCO-Stuff 2017 (``coco``), Visual Genome
(``vg``) and any COCO-format folder (``coco-format``). Every dataset item is a dict with
``image`` (3, H, W) ImageNet-normalised, ``labels`` (O,) category rows, ``boxes`` (O, 4)
normalised xyxy and ``index``."""

from __future__ import annotations

from torch.utils.data import Dataset

from ..config import DataConfig
from ..vocab import Vocabulary
from .errors import DatasetError

SPLITS = ("train", "val", "test", "samples")

__all__ = ["SPLITS", "DatasetError", "build_dataset", "paper_eval_split"]


def paper_eval_split(name: str) -> str:
    """The split that published numbers use for dataset ``name``: ``val`` for COCO-Stuff
    (filtered val2017), ``test`` for Visual Genome (sg2im's split)."""
    from .sources import paper_eval_split as split_of

    return split_of(name)


def build_dataset(
    cfg: DataConfig, image_size: int, split: str = "train"
) -> tuple[Dataset, Vocabulary]:
    """The dataset of ``cfg`` at ``image_size`` and its vocabulary.

    ``split``: ``train``; ``val`` (held-out evaluation layouts); ``test`` (Visual Genome's
    test split; held-out scenes for ``shapes``); ``samples`` (the fixed layouts of training
    sample grids, taken from the held-out split). Real datasets read a cached index (built
    on first use, see :mod:`layout2im.data.index`).
    """
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
    if cfg.name == "shapes":
        from .shapes import SHAPE_CATEGORIES, ShapesDataset

        held_out = split != "train"
        seed = {"train": cfg.seed, "test": cfg.seed + 2}.get(split, cfg.seed + 1)
        dataset = ShapesDataset(
            num_images=cfg.num_images if not held_out else max(64, cfg.num_images // 10),
            image_size=image_size,
            seed=seed,
            min_objects=cfg.min_objects,
            max_objects=cfg.max_objects,
        )
        return dataset, Vocabulary(SHAPE_CATEGORIES)
    if cfg.name in ("coco", "coco-format", "vg"):
        from .indexed import IndexedLayoutDataset
        from .sources import open_split

        data = open_split(cfg, split)
        if len(data.rows) == 0:
            raise DatasetError(
                f"the {split} split of {cfg.name} under {cfg.root} has no images left after "
                "filtering; run `layout2im data inspect` to see what was dropped and why"
            )
        dataset = IndexedLayoutDataset(
            data.index,
            data.rows,
            data.image_dir,
            image_size,
            max_objects=data.max_objects_used,
            seed=cfg.seed,
            on_bad_image=cfg.on_bad_image,
            name=f"{cfg.name} {split}",
        )
        return dataset, Vocabulary(data.index.meta["vocab"])
    raise DatasetError(f"unknown dataset {cfg.name!r}")
