"""How the networks compute, not what: named fast paths.

Each fast path gives the same result as the straightforward computation of the original code
in exact arithmetic (in floating point the sums run in another order; tests bound the
difference). All are on by default; ``"reference"`` turns them off, which is what the
benchmarks and the equivalence tests compare against.

A module that can take a fast path lists the names it reads in ``FAST_PATHS`` (a class
attribute) and keeps the ones in use in ``fast_paths``; :func:`use_fast_paths` sets them on
every such module inside a network.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

FAST_PATHS: dict[str, str] = {
    "object_vectors": "object encoder: each object's vector goes through the bias-free 1x1 "
    "convolution before it is broadcast into its box (no full composer maps)",
    "analytic_object_encoder": "object encoder: the second layer computed from the two values "
    "each object's first-layer map takes (inside and outside its box), with batch statistics "
    "from box areas",
    "batched_fuser": "ConvLSTM: all images and both layouts (reconstructed, random) at once, "
    "the input half of each gate convolution over the whole sequence in one call",
    "pooled_convolutions": "discriminators: a 3x3 convolution followed by 2x2 average pooling "
    "runs as one stride-2 4x4 convolution, and the 1x1 shortcut runs after the pooling",
}


def parse_fast_paths(value: str | Iterable[str]) -> frozenset[str]:
    """``"fast"`` (all paths), ``"reference"`` (none) or an iterable of names."""
    if value == "fast":
        return frozenset(FAST_PATHS)
    if value == "reference":
        return frozenset()
    if isinstance(value, str):
        raise ValueError(
            f"computation must be 'fast', 'reference' or fast path names, got {value!r}"
        )
    names = frozenset(value)
    unknown = sorted(names - FAST_PATHS.keys())
    if unknown:
        raise ValueError(f"unknown fast paths {unknown}; known: {', '.join(FAST_PATHS)}")
    return names


def use_fast_paths(network: nn.Module, value: str | Iterable[str]) -> None:
    """Set the fast paths of every module inside ``network`` (``"fast"``, ``"reference"`` or
    names from :data:`FAST_PATHS`)."""
    names = parse_fast_paths(value)
    for module in network.modules():
        used = getattr(module, "FAST_PATHS", None)
        if used is not None:
            module.fast_paths = names & frozenset(used)


def computation_name(network: nn.Module) -> str:
    """``"fast"`` when every module inside ``network`` takes all its fast paths, ``"reference"``
    when none does, else ``"custom"``."""
    states = [
        (frozenset(m.fast_paths), frozenset(m.FAST_PATHS))
        for m in network.modules()
        if getattr(m, "FAST_PATHS", None) is not None
    ]
    if all(on == used for on, used in states):
        return "fast"
    if all(not on for on, _ in states):
        return "reference"
    return "custom"


class FastPathsMixin:
    """``computation`` property for a network: get ``"fast"``/``"reference"``/``"custom"``, set
    ``"fast"``, ``"reference"`` or an iterable of fast path names."""

    @property
    def computation(self) -> str:
        return computation_name(self)

    @computation.setter
    def computation(self, value: str | Iterable[str]) -> None:
        use_fast_paths(self, value)
