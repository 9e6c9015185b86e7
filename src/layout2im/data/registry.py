"""The dataset registry: every dataset name is declared once, here, with what it offers.

A dataset is a :class:`DatasetEntry` registered with :func:`register_dataset`, in the module
that implements it; :func:`get_dataset` and :func:`dataset_names` are what the config check,
:func:`~layout2im.data.build_dataset`, ``layout2im data inspect`` and the file sources read.

Two kinds of dataset:

- file-based (``coco``, ``coco-format``, ``vg``): ``open_split(cfg, split, rebuild)`` returns
  the cached index and the rows of a split (:class:`~layout2im.data.layout_index.SplitData`); the
  dataset, its vocabulary and its ``data inspect`` report follow from that;
- anything else (``shapes``): ``build(cfg, image_size, split)`` returns the dataset and its
  vocabulary, and ``inspect(cfg)`` the ``data inspect`` report.

Adding a dataset: a new module in this package that calls :func:`register_dataset`, and its
name in :data:`BUILTIN_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import quote
from .errors import DatasetError

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from ..config import DataConfig
    from ..vocab import Vocabulary
    from .layout_index import SplitData

# The modules (in this package) whose import registers the built-in datasets.
BUILTIN_MODULES = ("shapes", "sources")


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset.

    ``splits``: the splits it has (``data inspect`` reports each). ``eval_split``: the split
    published numbers use. Exactly one of ``open_split`` (file-based) and ``build`` is set;
    ``inspect`` goes with ``build``.
    """

    name: str
    description: str
    splits: tuple[str, ...]
    eval_split: str
    open_split: Callable[[DataConfig, str, bool], SplitData] | None = None
    build: Callable[[DataConfig, int, str], tuple[Dataset, Vocabulary]] | None = None
    inspect: Callable[[DataConfig], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if (self.open_split is None) == (self.build is None):
            raise ValueError(f"dataset {self.name!r}: give either open_split or build")
        if (self.build is None) != (self.inspect is None):
            raise ValueError(f"dataset {self.name!r}: build and inspect go together")
        if self.eval_split not in self.splits:
            raise ValueError(f"dataset {self.name!r}: eval_split is not one of its splits")

    @property
    def file_based(self) -> bool:
        return self.open_split is not None


class UnknownDatasetError(DatasetError):
    """``data.name`` is not a registered dataset; the message lists the registered ones."""


_REGISTRY: dict[str, DatasetEntry] = {}


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Register ``entry`` under ``entry.name`` (names are unique)."""
    if entry.name in _REGISTRY and _REGISTRY[entry.name] != entry:
        raise ValueError(f"dataset {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def _ensure_builtin() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(f"{__package__}.{module}")


def dataset_names() -> list[str]:
    """The registered dataset names, built-in ones first."""
    _ensure_builtin()
    return list(_REGISTRY)


def get_dataset(name: str) -> DatasetEntry:
    """The dataset registered as ``name``; :class:`UnknownDatasetError` names the others."""
    _ensure_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownDatasetError(
            f"unknown dataset {quote(name)}; datasets: {', '.join(dataset_names())}"
        ) from None
