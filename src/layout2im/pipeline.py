"""Inference: a trained generator, its vocabulary, and layout -> images.

A pretrained model is a folder of three files (the diffusers convention)::

    config.json         format marker, the ModelConfig, max_objects
    model.safetensors   the generator's weights and BatchNorm statistics
    vocab.json          the category names by embedding row

>>> pipe = Layout2ImPipeline.from_pretrained("runs/00000-shapes32/model")  # doctest: +SKIP
>>> out = pipe({"objects": [{"category": "circle", "box": [0.1, 0.1, 0.6, 0.6]}]}, seed=0)
>>> out.images[0].save("circle.png")  # doctest: +SKIP

Latent codes: object ``j`` of sample ``k`` gets ``z ~ N(0, I)`` drawn from a generator seeded by
``(seed, k, j)``, so adding an object at the end leaves every other object's code unchanged; an
object's own ``seed`` fixes its code across samples, and ``z`` gives it directly. The codes used
are returned with the images, so any sample can be reproduced or edited.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from .config import ConfigError, ModelConfig, model_config_from_dict
from .layout import Layout, LayoutBatch, parse_layout
from .models import Layout2ImGenerator
from .visualize import to_pil
from .vocab import Vocabulary

log = logging.getLogger(__name__)

FORMAT = "layout2im"
FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE = "config.json", "model.safetensors", "vocab.json"


class ModelLoadError(RuntimeError):
    """A pretrained model folder is missing a file or holds something unusable."""


@dataclass
class GenerationResult:
    """images: ``num_samples`` PIL images; latents: FloatTensor (num_samples, O, z_dim), the
    code used for every object; layout: the validated layout."""

    images: list[Image.Image]
    latents: torch.Tensor
    layout: Layout


def derived_seed(seed: int, sample: int, obj: int) -> int:
    """A well-mixed 63-bit seed for object ``obj`` of sample ``sample`` of a call with ``seed``."""
    state = np.random.SeedSequence([seed, sample, obj]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def normal_from_seed(seed: int, dim: int) -> torch.Tensor:
    return torch.randn(dim, generator=torch.Generator().manual_seed(seed))


class Layout2ImPipeline:
    """Generate images from layouts with a trained Layout2Im generator (eval mode)."""

    def __init__(
        self,
        generator: Layout2ImGenerator,
        vocab: Vocabulary,
        max_objects: int = 8,
        device: str | torch.device = "cpu",
    ):
        if len(vocab) != generator.config.num_classes:
            raise ValueError(
                f"vocabulary has {len(vocab)} rows but the model has {generator.config.num_classes}"
            )
        self.generator = generator.to(device).eval()
        self.vocab = vocab
        self.max_objects = max_objects
        self.device = torch.device(device)

    @property
    def config(self) -> ModelConfig:
        return self.generator.config

    # -- files ----------------------------------------------------------------------------------

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write config.json, model.safetensors and vocab.json into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": dataclasses.asdict(self.config),
            "max_objects": self.max_objects,
        }
        state = {k: v.detach().cpu().contiguous() for k, v in self.generator.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT})
        (folder / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
        self.vocab.save(folder / VOCAB_FILE)
        return folder

    @classmethod
    def from_pretrained(
        cls, folder: str | Path, device: str | torch.device = "cpu"
    ) -> Layout2ImPipeline:
        """Load a folder written by :meth:`save_pretrained`. Only safetensors weights are read."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ModelLoadError(f"model folder not found: {folder}")
        for name in (CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE):
            if not (folder / name).is_file():
                raise ModelLoadError(f"{folder} is not a layout2im model: {name} is missing")
        try:
            meta = json.loads((folder / CONFIG_FILE).read_text())
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"{folder / CONFIG_FILE} is not valid JSON: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ModelLoadError(f"{folder / CONFIG_FILE} is not a layout2im model config")
        try:
            config = model_config_from_dict(meta.get("model", {}))
            vocab = Vocabulary.load(folder / VOCAB_FILE)
        except (ConfigError, ValueError) as exc:
            raise ModelLoadError(f"{folder}: {exc}") from None
        try:
            state = load_file(str(folder / WEIGHTS_FILE))
        except Exception as exc:
            raise ModelLoadError(f"{folder / WEIGHTS_FILE} is unreadable: {exc}") from None
        generator = Layout2ImGenerator(config)
        try:
            missing, unexpected = generator.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches
            first = str(exc).strip().splitlines()[-1].strip()
            raise ModelLoadError(
                f"{folder / WEIGHTS_FILE} does not match its config: {first}"
            ) from None
        if missing or unexpected:
            raise ModelLoadError(
                f"{folder / WEIGHTS_FILE} does not match its config: "
                f"missing {missing[:3]}, unexpected {unexpected[:3]}"
            )
        max_objects = meta.get("max_objects", 8)
        if not isinstance(max_objects, int) or max_objects < 1:
            raise ModelLoadError(f"{folder / CONFIG_FILE}: max_objects must be a positive integer")
        return cls(generator, vocab, max_objects=max_objects, device=device)

    # -- generation -----------------------------------------------------------------------------

    def parse(self, layout: Any) -> Layout:
        """Validate a layout (dict, list of objects or :class:`Layout`) against this model."""
        return parse_layout(
            layout, self.vocab, z_dim=self.config.z_dim, max_objects=self.max_objects
        )

    def latents(
        self,
        layout: Layout,
        num_samples: int = 1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The codes (num_samples, O, z_dim) for ``layout``: per-object ``z`` or ``seed`` first,
        else from ``generator`` (drawn in sample-major order) or from ``(seed, k, j)``."""
        z_dim = self.config.z_dim
        if generator is None and seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        out = torch.empty(num_samples, len(layout.objects), z_dim)
        for k in range(num_samples):
            for j, obj in enumerate(layout.objects):
                if obj.z is not None:
                    out[k, j] = torch.tensor(obj.z)
                elif obj.seed is not None:
                    out[k, j] = normal_from_seed(obj.seed, z_dim)
                elif generator is not None:
                    out[k, j] = torch.randn(z_dim, generator=generator)
                else:
                    out[k, j] = normal_from_seed(derived_seed(seed, k, j), z_dim)  # type: ignore[arg-type]
        return out

    @torch.no_grad()
    def generate_tensor(self, layout: Layout, latents: torch.Tensor) -> torch.Tensor:
        """Images (K, 3, H, W), ImageNet-normalised, for ``latents`` (K, O, z_dim)."""
        num_samples = latents.shape[0]
        labels, boxes = layout.labels(self.vocab), layout.boxes()
        batch = LayoutBatch.from_lists([labels] * num_samples, [boxes] * num_samples)
        batch = batch.to(self.device)
        z = latents.reshape(-1, latents.shape[-1]).to(self.device)
        return self.generator.decode(batch, z)

    def __call__(
        self,
        layout: Any,
        num_samples: int = 1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        rescale: str = "clamp",
    ) -> GenerationResult:
        """Generate ``num_samples`` images of ``layout``; see the module docstring for codes."""
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        parsed = self.parse(layout)
        latents = self.latents(parsed, num_samples, seed, generator)
        images = self.generate_tensor(parsed, latents)
        return GenerationResult(to_pil(images, rescale), latents, parsed)
