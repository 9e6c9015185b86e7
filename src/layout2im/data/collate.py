"""Batching: dataset items -> padded tensors, and a resumable infinite sampler."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from ..layout import LayoutBatch


def collate_layouts(items: list[dict]) -> dict[str, torch.Tensor]:
    """Stack dataset items (``image`` (3,H,W), ``labels`` (O_i,), ``boxes`` (O_i,4)) into
    ``images`` (B,3,H,W), ``labels`` (B,O), ``boxes`` (B,O,4) and ``mask`` (B,O), padded to the
    largest O_i with real objects first; ``index`` (B,) holds the dataset indices."""
    layout = LayoutBatch.from_lists([it["labels"] for it in items], [it["boxes"] for it in items])
    return {
        "images": torch.stack([it["image"] for it in items]),
        "labels": layout.labels,
        "boxes": layout.boxes,
        "mask": layout.mask,
        "index": torch.tensor([int(it.get("index", -1)) for it in items], dtype=torch.long),
    }


def batch_layout(batch: dict[str, torch.Tensor]) -> LayoutBatch:
    return LayoutBatch(batch["labels"], batch["boxes"], batch["mask"])


class ResumableSampler(Sampler[int]):
    """Endless indices: epoch e is ``randperm(length)`` seeded by ``(seed, e)`` (a fresh
    shuffle every epoch), shared out between ``world_size`` ranks.

    The global stream is the epochs' permutations one after another; rank r takes the positions
    p with ``p % world_size == r``, like ``DistributedSampler``. ``start`` skips that many
    global positions, so a run resumed at step s with global batch b continues with exactly the
    samples it would have seen (``start = s * b``).
    """

    def __init__(
        self, length: int, seed: int = 0, start: int = 0, rank: int = 0, world_size: int = 1
    ):
        if length < 1:
            raise ValueError("cannot sample from an empty dataset")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world size {world_size}")
        self.length = length
        self.seed = seed
        self.start = start
        self.rank = rank
        self.world_size = world_size

    def __iter__(self) -> Iterator[int]:
        position = self.start
        epoch, offset = divmod(position, self.length)
        while True:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(self.length, generator=g).tolist()
            for i in range(offset, self.length):
                if position % self.world_size == self.rank:
                    yield perm[i]
                position += 1
            offset = 0
            epoch += 1
