"""The architecture registry: every generator architecture is declared once, with what it offers.

A model folder's ``config.json`` names its architecture (``"architecture": "layout2im"``); the
pipeline, the editor, ``generate``, ``evaluate``, ``average``, ``convert-original`` and ``train
--init-from`` look the name up here and never name a generator class. Adding an architecture is
one module that calls :func:`register_architecture` and its name in :data:`BUILTIN_MODULES`.

What an :class:`Architecture` entry gives (``config`` below is the architecture's own model
config object, whatever type it chooses):

``name``, ``description``
    The registered name (what ``config.json`` records) and one line for listings.
``config_from_dict(data) -> config``
    Validate the folder's ``model`` section (a JSON object) into the config; raises a
    :class:`~layout2im.errors.Layout2ImError` naming the key and value of any problem.
    ``config_to_dict(config) -> dict`` is its inverse (JSON-serialisable).
``build_generator(config) -> nn.Module``
    A new generator with fresh weights. The module exposes ``.config`` (the config it was
    built from); its ``state_dict()`` is what ``model.safetensors`` holds, loaded strictly.
``state_size(config) -> int``
    How many values that state dict holds, counted without allocating (e.g. on PyTorch's meta
    device): a weights file holding fewer is refused before the network is built.
``parameter_counts(config) -> dict[str, int]``
    Parameters per network (``generator`` first; discriminators where the library has them).
``latent_codes(config) -> LatentCodes``
    The random codes one image takes: ``objects``, a per-object code (the layout's per-object
    ``z``), given as a tensor (B, O, dim) padded like :class:`~layout2im.layout.LayoutBatch`
    (padding slots hold zeros and must not change the output), and optionally ``image``, one
    code per image (the layout's top-level ``image_z``), a tensor (B, dim). Each code names
    its distribution (:class:`~layout2im.seeding.Normal`: standard, or truncated), so a new
    sampler is data here, not pipeline code.
``generate(generator, layout, codes) -> (images, masks)``
    The one call the pipeline and evaluation make, in eval mode under ``torch.no_grad()``.
    ``layout``: a :class:`~layout2im.layout.LayoutBatch` (labels (B, O), boxes (B, O, 4)
    normalised xyxy, mask (B, O)) on the generator's device; ``codes``: ``{"z": (B, O, dim)}``
    plus ``{"image_z": (B, dim)}`` for an architecture with an image code, float32 on that
    device. Returns ``images`` (B, 3, H, W) in the network's own pixel space (what
    ``to_uint8`` reads) and ``masks`` (B, O, H, W) in [0, 1], each object's final mask (zeros
    in padding slots), or None without the ``masks`` capability.
``to_uint8(images, rescale) -> np.ndarray``
    The pixel rule: ``images`` (B, 3, H, W) as ``generate`` returns them -> uint8 (B, H, W, 3);
    ``rescale`` is one of ``rescale_modes``; ``default_rescale(config)`` is the model's default
    (CLI, pipeline, editor); evaluation protocols name theirs.
``image_size(config)``, ``num_classes(config)``
    The square image side in pixels and the number of category rows (the vocabulary's length).
``capabilities``
    What the architecture can do (:class:`Capabilities`): codes from a reference photo
    (``style``; then ``encode_style`` is set), per-object masks, an image code, training.
``object_limit``
    The most objects a layout may hold when the model was trained with fewer (a model trained
    with more takes its own maximum); it bounds one call's work and memory.
``encode_style(generator, picture, box, label) -> Tensor``
    With the ``style`` capability: the per-object code (dim,) of the object of category row
    ``label`` inside ``box`` (normalised xyxy) of the RGB PIL image ``picture``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import Layout2ImError, quote
from ..seeding import STANDARD_NORMAL, Normal

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image
    from torch import nn

    from ..layout import LayoutBatch

StyleEncoder = Callable[["nn.Module", "Image.Image", tuple[float, ...], int], "torch.Tensor"]
"""``(generator, picture, box, label) -> code (dim,)``: see ``encode_style`` above."""

# The modules (in this package) whose import registers the built-in architectures.
BUILTIN_MODULES = ("layout2im", "lostgan_v2")

OBJECT_CODE, IMAGE_CODE = "z", "image_z"
"""The names of the two codes in ``generate``'s ``codes`` (and the layout's fields)."""


class UnknownArchitectureError(Layout2ImError, ValueError):
    """A name that no registered architecture has; the message lists the registered ones."""


class UnsupportedError(Layout2ImError, ValueError):
    """Something asked of an architecture that it cannot do (style, an image code, training)."""


@dataclass(frozen=True)
class LatentCode:
    """One latent code: its ``name`` (``z`` per object, ``image_z`` per image), its length
    ``dim`` and the distribution its values are drawn from."""

    name: str
    dim: int
    sampler: Normal = STANDARD_NORMAL


@dataclass(frozen=True)
class LatentCodes:
    """The codes of one image: per object (B, O, dim) and, optionally, per image (B, dim)."""

    objects: LatentCode
    image: LatentCode | None = None

    def __post_init__(self) -> None:
        if self.objects.name != OBJECT_CODE:
            raise ValueError(f"the per-object code is named {OBJECT_CODE!r}")
        if self.image is not None and self.image.name != IMAGE_CODE:
            raise ValueError(f"the per-image code is named {IMAGE_CODE!r}")

    def describe(self) -> list[dict[str, Any]]:
        """JSON-ready: name, what it belongs to, dim, distribution; for listings and the API."""
        codes = [("object", self.objects)] + ([("image", self.image)] if self.image else [])
        return [
            {"name": c.name, "per": per, "dim": c.dim, "distribution": c.sampler.describe()}
            for per, c in codes
        ]


@dataclass(frozen=True)
class Capabilities:
    """``style``: a per-object code from a reference photo; ``masks``: ``generate`` returns
    each object's mask; ``image_code``: a per-image code besides the per-object ones;
    ``trainable``: ``layout2im train`` trains it (and ``train --init-from`` starts from it)."""

    style: bool = False
    masks: bool = False
    image_code: bool = False
    trainable: bool = False

    def names(self) -> list[str]:
        """The capabilities present, by name."""
        return [k for k, v in self.__dict__.items() if v]


@dataclass(frozen=True)
class Architecture:
    """A registered architecture; see the module docstring for each field's contract."""

    name: str
    description: str
    config_from_dict: Callable[[dict[str, Any]], Any]
    config_to_dict: Callable[[Any], dict[str, Any]]
    build_generator: Callable[[Any], nn.Module]
    state_size: Callable[[Any], int]
    parameter_counts: Callable[[Any], dict[str, int]]
    latent_codes: Callable[[Any], LatentCodes]
    generate: Callable[
        [nn.Module, LayoutBatch, dict[str, torch.Tensor]],
        tuple[torch.Tensor, torch.Tensor | None],
    ]
    to_uint8: Callable[[torch.Tensor, str], np.ndarray]
    rescale_modes: tuple[str, ...]
    default_rescale: Callable[[Any], str]
    image_size: Callable[[Any], int]
    num_classes: Callable[[Any], int]
    capabilities: Capabilities = field(default_factory=Capabilities)
    object_limit: int = 32
    encode_style: (
        Callable[[nn.Module, Image.Image, tuple[float, ...], int], torch.Tensor] | None
    ) = None

    def __post_init__(self) -> None:
        if self.capabilities.style != (self.encode_style is not None):
            raise ValueError(f"architecture {self.name!r}: style goes with encode_style")
        if not self.rescale_modes:
            raise ValueError(f"architecture {self.name!r}: give at least one rescale mode")
        if self.object_limit < 1:
            raise ValueError(f"architecture {self.name!r}: object_limit must be positive")

    def codes(self, config: Any) -> LatentCodes:
        """:attr:`latent_codes` of ``config``, checked against the ``image_code`` capability."""
        codes = self.latent_codes(config)
        if (codes.image is not None) != self.capabilities.image_code:
            raise ValueError(
                f"architecture {self.name!r}: its latent codes and its image_code capability "
                "disagree"
            )
        return codes

    def check_rescale(self, rescale: str) -> str:
        """``rescale`` if this architecture's pixel rule has it; a clear error otherwise."""
        if rescale not in self.rescale_modes:
            raise UnsupportedError(
                f"rescale must be one of {', '.join(self.rescale_modes)} for the {self.name} "
                f"architecture, got {quote(rescale)}"
            )
        return rescale

    def require(self, capability: str, what: str) -> None:
        """Raise :class:`UnsupportedError` (naming ``what`` was asked) without ``capability``."""
        if not getattr(self.capabilities, capability):
            raise UnsupportedError(f"{what}: the {self.name} architecture has no {capability}")

    def describe(self, config: Any) -> dict[str, Any]:
        """JSON-ready summary for ``config``: name, image size, codes, capabilities."""
        return {
            "name": self.name,
            "image_size": self.image_size(config),
            "latent_codes": self.codes(config).describe(),
            "capabilities": self.capabilities.names(),
            "rescale_modes": list(self.rescale_modes),
        }


_REGISTRY: dict[str, Architecture] = {}


def register_architecture(entry: Architecture) -> Architecture:
    """Register ``entry`` under ``entry.name`` (names are unique); returns it."""
    if entry.name in _REGISTRY and _REGISTRY[entry.name] is not entry:
        raise ValueError(f"architecture {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def unregister_architecture(name: str) -> None:
    """Remove ``name`` from the registry (tests that register a stand-in clean up with it)."""
    _REGISTRY.pop(name, None)


def _ensure_builtin() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(f"{__package__}.{module}")


def architecture_names() -> list[str]:
    """The registered architecture names, built-in ones first."""
    _ensure_builtin()
    return list(_REGISTRY)


def get_architecture(name: Any) -> Architecture:
    """The architecture registered as ``name``; :class:`UnknownArchitectureError` otherwise,
    with the closest names ("did you mean") and the list of registered ones."""
    _ensure_builtin()
    if isinstance(name, str) and name in _REGISTRY:
        return _REGISTRY[name]
    names = list(_REGISTRY)
    close = difflib.get_close_matches(name, names, n=1) if isinstance(name, str) else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UnknownArchitectureError(
        f"unknown architecture {quote(name)}{hint} (architectures: {', '.join(names)})"
    )
