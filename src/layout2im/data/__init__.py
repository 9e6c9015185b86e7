"""Datasets: the built-in synthetic ``shapes``, COCO-Stuff 2017 (``coco``), Visual Genome
(``vg``) and any COCO-format folder (``coco-format``), each registered by name in
:mod:`layout2im.data.registry`. Every dataset item is a dict with ``image`` (3, H, W)
ImageNet-normalised, ``labels`` (O,) category rows, ``boxes`` (O, 4) normalised xyxy and
``index``."""

from __future__ import annotations

from torch.utils.data import Dataset

from ..errors import quote, short_path
from ..schema.config import DataConfig
from ..vocab import Vocabulary
from .errors import DatasetError
from .indexed_dataset import IndexedLayoutDataset
from .registry import DatasetEntry, dataset_names, get_dataset, register_dataset

SPLITS = ("train", "val", "test", "samples")

__all__ = [
    "SPLITS",
    "DatasetEntry",
    "DatasetError",
    "build_dataset",
    "dataset_names",
    "get_dataset",
    "paper_eval_split",
    "register_dataset",
]


def paper_eval_split(name: str) -> str:
    """The split that published numbers use for dataset ``name``: ``val`` for COCO-Stuff
    (filtered val2017), ``test`` for Visual Genome (sg2im's split)."""
    return get_dataset(name).eval_split


def build_dataset(
    cfg: DataConfig, image_size: int, split: str = "train"
) -> tuple[Dataset, Vocabulary]:
    """The dataset of ``cfg`` at ``image_size`` and its vocabulary.

    ``split``: ``train``; ``val`` (held-out evaluation layouts); ``test`` (Visual Genome's
    test split; held-out scenes for ``shapes``); ``samples`` (the fixed layouts of training
    sample grids, taken from the held-out split); a dataset may add its own (the registry
    lists them; ``shapes`` has skill splits). Real datasets read a cached index (built on
    first use, see :mod:`layout2im.data.layout_index`).
    """
    entry = get_dataset(cfg.name)
    if split not in SPLITS and split not in entry.splits:
        splits = dict.fromkeys((*SPLITS, *entry.splits))
        raise DatasetError(f"unknown split {quote(split)}; splits: {', '.join(splits)}")
    if not entry.file_based:
        return entry.build(cfg, image_size, split)
    data = entry.open_split(cfg, split, False)
    if len(data.rows) == 0:
        raise DatasetError(
            f"the {split} split of {cfg.name} under {short_path(cfg.root)} has no images "
            "left after "
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
