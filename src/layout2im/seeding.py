"""Seeds and latent-code samplers: how every random code of the library is drawn.

One policy, used by the pipeline and by evaluation alike:

- :func:`derived_seed` mixes a call seed, a sample index and an object identity (an index or a
  string ``id``) into a 63-bit seed, so each object's code has its own stream;
- :func:`image_seed` does the same for a per-image code (one per call seed and sample), in a
  stream no object identity can reach;
- :class:`Normal` is a code's distribution: the standard normal (``Normal()``, what Layout2Im
  samples) or the normal truncated to ``|x| <= truncation`` (``Normal(2.0)``, what LostGAN's
  ``test.py`` draws with ``scipy.stats.truncnorm``), sampled from a ``torch.Generator``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import torch

_ID_MARKER = 2**32 - 1
"""Entropy word between (seed, sample) and a string id's hash: keeps ids apart from indices."""

_IMAGE_TAG = hashlib.sha256(b"\xffimage code").digest()
"""Hashed in place of a string id for per-image codes. ``0xff`` never occurs in UTF-8 (nor in
``surrogatepass`` output), so no object id hashes from the same bytes."""


def _hash_words(digest: bytes) -> list[int]:
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4)]


def _mix(entropy: list[int]) -> int:
    state = np.random.SeedSequence(entropy).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def derived_seed(seed: int, sample: int, obj: int | str) -> int:
    """A well-mixed 63-bit seed for object ``obj`` (an index or an ``id``) of sample ``sample``
    of a call with ``seed``. String ids are hashed (sha256 of their UTF-8 bytes), so they never
    share an integer's stream by accident; an integer id ``j`` gives the same codes as index
    ``j``. A string with a lone surrogate (not valid text, refused by the layout parser) is
    hashed with ``surrogatepass`` rather than failing; valid text hashes as plain UTF-8."""
    if isinstance(obj, str):
        words = _hash_words(hashlib.sha256(obj.encode("utf-8", "surrogatepass")).digest())
        return _mix([seed, sample, _ID_MARKER, *words])
    return _mix([seed, sample, obj])


def image_seed(seed: int, sample: int) -> int:
    """The 63-bit seed of the per-image code of sample ``sample`` of a call with ``seed``:
    different from every object's :func:`derived_seed` of that call."""
    return _mix([seed, sample, _ID_MARKER, *_hash_words(_IMAGE_TAG)])


@dataclass(frozen=True)
class Normal:
    """The standard normal N(0, I), or with ``truncation`` the normal restricted to
    ``|x| <= truncation`` (the same distribution as ``scipy.stats.truncnorm(-t, t)``)."""

    truncation: float | None = None

    def __post_init__(self) -> None:
        if self.truncation is not None and not self.truncation > 0:
            raise ValueError(f"truncation must be positive, got {self.truncation!r}")

    def sample(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """A float32 tensor of ``shape`` drawn from ``generator``. The standard normal is
        ``torch.randn``; the truncated one maps uniform draws through the normal's inverse CDF
        in float64 (one uniform per value, so the stream never depends on rejections)."""
        if self.truncation is None:
            return torch.randn(shape, generator=generator)
        t = float(self.truncation)
        low = 0.5 * math.erfc(t / math.sqrt(2.0))  # Phi(-t)
        u = torch.rand(shape, generator=generator, dtype=torch.float64)
        p = low + u * (1.0 - 2.0 * low)  # uniform on (Phi(-t), Phi(t))
        x = math.sqrt(2.0) * torch.erfinv(2.0 * p - 1.0)
        return x.clamp(-t, t).float()

    def from_seed(self, seed: int, shape: tuple[int, ...]) -> torch.Tensor:
        """:meth:`sample` from a fresh generator seeded with ``seed``."""
        return self.sample(shape, torch.Generator().manual_seed(seed))

    def describe(self) -> str:
        if self.truncation is None:
            return "standard normal"
        return f"normal truncated at |x| <= {self.truncation:g}"


STANDARD_NORMAL = Normal()


def normal_from_seed(seed: int, dim: int) -> torch.Tensor:
    """``dim`` standard-normal values (float32) from a generator seeded with ``seed``."""
    return STANDARD_NORMAL.from_seed(seed, (dim,))
