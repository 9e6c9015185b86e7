"""Inference: a trained generator, its vocabulary, and layout -> images.

A pretrained model is a folder of three files (the diffusers convention)::

    config.json         format marker, the ModelConfig, max_objects
    model.safetensors   the generator's weights and BatchNorm statistics
    vocab.json          the category names by embedding row

:meth:`Layout2ImPipeline.from_pretrained` takes such a folder or the name of a model shipped
inside the package (``layout2im/pretrained/<name>/``; :func:`shipped_models` lists them and
:func:`default_model` gives the default). Only safetensors weights are ever read.

Latent codes: every object has an identity, its ``id`` if the layout gives one, else its index
``j``. With no per-object control, object ``id`` of sample ``k`` gets ``z ~ N(0, I)`` drawn from
a generator seeded by ``(seed, k, id)``, so adding, removing, moving or resizing an object
leaves every other object's code unchanged (with ids; without ids, adding at the end does too).
A ``torch.Generator`` passed instead of ``seed`` draws the call seed. An object's own ``seed``
fixes its code across samples and calls, ``z`` gives it directly, and ``style`` takes it from a
reference image: the object latent estimator's posterior mean for that crop. The codes used are
returned with the images, so any sample can be reproduced or edited. The example in
:meth:`Layout2ImPipeline.__call__` runs as a test.

Object counts: a layout may hold more objects than the model was trained with
(``max_objects``), up to :data:`OBJECT_LIMIT` (or ``max_objects`` if larger); such a layout is
generated, and :meth:`Layout2ImPipeline.layout_warnings` (returned with the images as
``warnings``) says that it lies outside the trained range, whose quality the ``shapes32-ood``
evaluation protocol measures.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .config import AMP_MODES, MAX_LAYOUT_OBJECTS, ConfigError, ModelConfig, model_config_from_dict
from .devices import parse_device
from .errors import Layout2ImError, quote
from .fsutil import atomic_write, write_text
from .images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, ImageError, load_image
from .layout import Layout, LayoutBatch, LayoutError, _parse_box, parse_layout
from .models import Layout2ImGenerator
from .models.layers import crop_boxes
from .models.size import generator_state_size
from .visualize import normalize, to_pil
from .vocab import Vocabulary

log = logging.getLogger(__name__)

FORMAT = "layout2im"
FORMAT_VERSION = 1
CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE = "config.json", "model.safetensors", "vocab.json"

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
"""Models shipped inside the package: ``pretrained/<name>/`` holds one model folder each."""
DEFAULT_MODEL = "shapes32"
"""The name of the shipped default model (see :func:`default_model`)."""


OBJECT_LIMIT = 32
"""Most objects a layout may hold when the model was trained with fewer (a model trained with
more, e.g. 30 on Visual Genome, takes its own maximum; see
:attr:`Layout2ImPipeline.object_limit`). The work of a call grows with its objects; the bound
keeps one request's work and memory bounded."""


class ModelLoadError(Layout2ImError, RuntimeError):
    """A pretrained model folder is missing a file or holds something unusable."""


@dataclass
class GenerationResult:
    """images: ``num_samples`` PIL images; latents: FloatTensor (num_samples, O, z_dim), the
    code used for every object; layout: the validated layout; seed: the call seed the codes
    were drawn from (drawn at random, or from the torch.Generator, when none was given)."""

    images: list[Image.Image]
    latents: torch.Tensor
    layout: Layout
    seed: int | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)


def shipped_models() -> list[str]:
    """Names of the models shipped inside the package (folders of ``layout2im/pretrained``)."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / CONFIG_FILE).is_file())


def default_model() -> Path:
    """The folder of the shipped default model: ``pretrained/<DEFAULT_MODEL>``, or the only
    shipped model when there is exactly one. Raises :class:`ModelLoadError` otherwise."""
    names = shipped_models()
    if DEFAULT_MODEL in names:
        return PRETRAINED_DIR / DEFAULT_MODEL
    if len(names) == 1:
        return PRETRAINED_DIR / names[0]
    if not names:
        raise ModelLoadError(
            "no model is shipped with this version of layout2im, so there is no default model; "
            "pass --model DIR with a model folder (config.json, model.safetensors, vocab.json), "
            "e.g. runs/00000-shapes32/model written by `layout2im train`"
        )
    raise ModelLoadError(
        f"several models are shipped ({', '.join(names)}) and none is the default "
        f"{DEFAULT_MODEL!r}; pass --model NAME_OR_DIR"
    )


def resolve_model(name_or_dir: str | Path) -> Path:
    """The model folder for a folder path or a shipped model name (see :func:`shipped_models`).

    A value without path separators that is not an existing folder is a shipped name."""
    path = Path(name_or_dir)
    if path.is_dir():
        return path
    text = os.fspath(name_or_dir)
    separators = {"/", os.sep, *([os.altsep] if os.altsep else [])}
    if text not in ("", ".", "..") and not any(sep in text for sep in separators):
        if (PRETRAINED_DIR / text / CONFIG_FILE).is_file():
            return PRETRAINED_DIR / text
        names = shipped_models()
        shipped = (
            f"shipped models: {', '.join(names)}"
            if names
            else "this version of layout2im ships no models"
        )
        raise ModelLoadError(
            f"{quote(text)} is neither a model folder nor the name of a shipped model ({shipped}); "
            "pass a model folder (config.json, model.safetensors, vocab.json)"
        )
    raise ModelLoadError(f"model folder not found: {path}")


MAX_METADATA_BYTES = 16 * 1024 * 1024
"""config.json and vocab.json of a model folder larger than this are refused unread."""


def _read_json(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_METADATA_BYTES + 1)
    except OSError as exc:
        raise ModelLoadError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_METADATA_BYTES:
        raise ModelLoadError(f"{path} is larger than {MAX_METADATA_BYTES // 2**20} MB")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ModelLoadError(f"{path} is not valid JSON: nesting too deep") from None


def read_model_meta(path: Path) -> dict:
    """A model folder's config.json (read with the :data:`MAX_METADATA_BYTES` bound), checked
    to be a layout2im model config; :class:`ModelLoadError` otherwise."""
    meta = _read_json(path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelLoadError(f"{path} is not a layout2im model config")
    return meta


def _check_weights_size(path: Path, config: ModelConfig) -> None:
    """Refuse a config whose generator has more parameters than the weights file holds, before
    building it: the network is counted on the meta device (no memory), the file from its
    header (no tensor read)."""
    wanted = generator_state_size(config)
    try:
        with safe_open(str(path), framework="pt") as f:
            held = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118
    except Exception as exc:
        raise ModelLoadError(f"{path} is unreadable: {exc}") from None
    if wanted > held:
        raise ModelLoadError(
            f"{path} does not match its config: it holds {held:,} values but config.json "
            f"describes a generator of {wanted:,}"
        )


def derived_seed(seed: int, sample: int, obj: int | str) -> int:
    """A well-mixed 63-bit seed for object ``obj`` (an index or an ``id``) of sample ``sample``
    of a call with ``seed``. String ids are hashed (sha256), so they never share an integer's
    stream by accident; an integer id ``j`` gives the same codes as index ``j``."""
    if isinstance(obj, str):
        digest = hashlib.sha256(obj.encode("utf-8")).digest()
        words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4)]
        entropy = [seed, sample, 2**32 - 1, *words]  # the marker keeps ids apart from indices
    else:
        entropy = [seed, sample, obj]
    state = np.random.SeedSequence(entropy).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def normal_from_seed(seed: int, dim: int) -> torch.Tensor:
    return torch.randn(dim, generator=torch.Generator().manual_seed(seed))


class Layout2ImPipeline:
    """Generate images from layouts with a trained Layout2Im generator (eval mode).

    ``amp="bf16"`` runs the generator under bfloat16 autocast (weights stay float32; images come
    back as float32): faster on CPUs with AVX512-BF16 or AMX and on recent GPUs, at about 1%
    relative error on the images (tests bound it)."""

    def __init__(
        self,
        generator: Layout2ImGenerator,
        vocab: Vocabulary,
        max_objects: int = 8,
        device: str | torch.device = "cpu",
        amp: str = "off",
    ):
        if len(vocab) != generator.config.num_classes:
            raise ValueError(
                f"vocabulary has {len(vocab)} rows but the model has {generator.config.num_classes}"
            )
        if amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, got {amp!r}")
        self.device = parse_device(device, "device")
        self.generator = generator.to(self.device).eval()
        self.vocab = vocab
        self.max_objects = max_objects
        self.amp = amp
        # Limits for reference images given as ``style`` in layouts (see layout2im.images).
        self.max_image_bytes = DEFAULT_MAX_BYTES
        self.max_image_pixels = DEFAULT_MAX_PIXELS

    @property
    def config(self) -> ModelConfig:
        return self.generator.config

    @property
    def object_limit(self) -> int:
        """Most objects :meth:`parse` accepts: :data:`OBJECT_LIMIT`, or the trained
        ``max_objects`` when that is larger."""
        return max(OBJECT_LIMIT, self.max_objects)

    def layout_warnings(self, layout: Layout) -> list[str]:
        """What the images of a valid ``layout`` should be read with: a layout with more
        objects than the model was trained with is generated, with this warning."""
        n = len(layout.objects)
        if n > self.max_objects:
            return [
                f"the layout has {n} objects; this model was trained with at most "
                f"{self.max_objects} objects per image, so images of more objects are outside "
                f"its trained range (accepted up to {self.object_limit})"
            ]
        return []

    # -- files ----------------------------------------------------------------------------------

    def save_pretrained(self, folder: str | Path, provenance: dict | None = None) -> Path:
        """Write config.json, model.safetensors and vocab.json into ``folder``. ``provenance``
        (JSON-serialisable, e.g. which checkpoints were averaged) is recorded in config.json."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.config.model_dump(),
            "max_objects": self.max_objects,
        }
        if provenance:
            meta["provenance"] = provenance
        state = {k: v.detach().cpu().contiguous() for k, v in self.generator.state_dict().items()}
        with atomic_write(folder / WEIGHTS_FILE) as tmp:
            save_file(state, str(tmp), metadata={"format": FORMAT})
        write_text(folder / CONFIG_FILE, json.dumps(meta, indent=2))
        self.vocab.save(folder / VOCAB_FILE)
        return folder

    @classmethod
    def from_pretrained(
        cls, name_or_dir: str | Path, device: str | torch.device = "cpu", amp: str = "off"
    ) -> Layout2ImPipeline:
        """Load a folder written by :meth:`save_pretrained`, or a shipped model by name
        (see :func:`resolve_model`). Only safetensors weights are read. ``amp``: see the
        class."""
        folder = resolve_model(name_or_dir)
        for name in (CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE):
            if not (folder / name).is_file():
                raise ModelLoadError(f"{folder} is not a layout2im model: {name} is missing")
        meta = read_model_meta(folder / CONFIG_FILE)
        try:
            config = model_config_from_dict(meta.get("model", {}))
            vocab = Vocabulary.from_json(_read_json(folder / VOCAB_FILE))
        except (ConfigError, ValueError) as exc:
            raise ModelLoadError(f"{folder}: {exc}") from None
        _check_weights_size(folder / WEIGHTS_FILE, config)
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
        ok = isinstance(max_objects, int) and not isinstance(max_objects, bool)
        if not ok or not 1 <= max_objects <= MAX_LAYOUT_OBJECTS:
            raise ModelLoadError(
                f"{folder / CONFIG_FILE}: max_objects must be an integer between 1 and "
                f"{MAX_LAYOUT_OBJECTS}"
            )
        return cls(generator, vocab, max_objects=max_objects, device=device, amp=amp)

    # -- generation -----------------------------------------------------------------------------

    def parse(self, layout: Any, allow_style_files: bool = True) -> Layout:
        """Validate a layout (dict, list of objects or :class:`Layout`) against this model;
        see :func:`layout2im.layout.parse_layout`."""
        return parse_layout(
            layout,
            self.vocab,
            z_dim=self.config.z_dim,
            max_objects=self.object_limit,
            allow_style_files=allow_style_files,
        )

    @torch.no_grad()
    def encode_style(
        self,
        image: str | Path | bytes | Image.Image,
        box: Any,
        category: str,
        max_bytes: int | None = None,
        max_pixels: int | None = None,
    ) -> torch.Tensor:
        """The code (z_dim,) of the object of ``category`` inside ``box`` (normalised xyxy) of a
        reference ``image`` (path, data: URL, encoded bytes or PIL image).

        The image is resized to the model's image size (as training images are), the box is
        cropped with the training crop (:func:`~layout2im.models.layers.crop_boxes`), and the
        object latent estimator's posterior mean ``mu`` is the code. The image limits default to
        ``self.max_image_bytes`` and ``self.max_image_pixels``. Raises
        :class:`~layout2im.images.ImageError` for an unusable image and
        :class:`~layout2im.layout.LayoutError` for a bad box or category.
        """
        box = _parse_box("box", box)
        if not isinstance(category, str) or category not in self.vocab:
            raise LayoutError(f"category: {self.vocab.unknown_message(category)}")
        picture = load_image(
            image,
            max_bytes=self.max_image_bytes if max_bytes is None else max_bytes,
            max_pixels=self.max_image_pixels if max_pixels is None else max_pixels,
        )
        return self._encode_picture(picture, box, category)

    def _encode_picture(
        self, picture: Image.Image, box: tuple[float, float, float, float], category: str
    ) -> torch.Tensor:
        size = self.config.image_size
        picture = picture.resize((size, size), Image.BICUBIC)
        pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0)
        x = normalize(pixels.permute(2, 0, 1))[None].to(self.device)
        boxes = torch.tensor([box], dtype=torch.float32, device=self.device)
        zero = torch.zeros(1, dtype=torch.long, device=self.device)
        crop = crop_boxes(x, boxes, zero, self.config.crop_size)
        label = torch.tensor([self.vocab.index(category)], device=self.device)
        self.generator.eval()
        mu, _ = self.generator.crop_encoder(crop, label)
        return mu[0].float().cpu()

    @torch.no_grad()
    def style_codes(
        self, layout: Layout, max_total_pixels: int | None = None
    ) -> dict[int, torch.Tensor]:
        """Codes (z_dim,) of the objects of ``layout`` that have a ``style``, by index.
        ``max_total_pixels`` bounds the decoded pixels of all style images together (each is
        also bounded by ``self.max_image_pixels``); images are decoded one at a time and
        dropped once encoded. Errors name the object: ``objects[1].style.image: not an
        image; ...``."""
        codes = {}
        remaining = max_total_pixels
        for j, obj in enumerate(layout.objects):
            if obj.style is None:
                continue
            limit = self.max_image_pixels
            if remaining is not None and remaining < limit:
                limit = remaining
            try:
                picture = load_image(
                    obj.style.image, max_bytes=self.max_image_bytes, max_pixels=limit
                )
            except ImageError as exc:
                if exc.kind == "too_large" and limit != self.max_image_pixels:
                    raise LayoutError(
                        f"objects[{j}].style.image: the style images of this layout hold more "
                        f"than {max_total_pixels} pixels together ({exc})"
                    ) from None
                raise LayoutError(f"objects[{j}].style.image: {exc}") from None
            if remaining is not None:
                remaining -= picture.width * picture.height
            codes[j] = self._encode_picture(picture, obj.style.box, obj.category)
            del picture
        return codes

    def latents(
        self,
        layout: Layout,
        num_samples: int = 1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        style_codes: dict[int, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The codes (num_samples, O, z_dim) for ``layout``: per-object ``z``, ``seed`` or
        ``style`` first, else from ``(seed, k, id)`` (see the module docstring). With neither
        ``seed`` nor ``generator``, the call seed is random; :meth:`__call__` returns it."""
        seed = self._call_seed(seed, generator)
        if style_codes is None:
            style_codes = self.style_codes(layout)
        z_dim = self.config.z_dim
        keys = layout.object_keys()
        out = torch.empty(num_samples, len(layout.objects), z_dim)
        for j, obj in enumerate(layout.objects):
            if obj.z is not None:
                out[:, j] = torch.tensor(obj.z)
            elif obj.seed is not None:
                out[:, j] = normal_from_seed(obj.seed, z_dim)
            elif j in style_codes:
                out[:, j] = style_codes[j]
            else:
                for k in range(num_samples):
                    out[k, j] = normal_from_seed(derived_seed(seed, k, keys[j]), z_dim)
        return out

    @staticmethod
    def _call_seed(seed: int | None, generator: torch.Generator | None) -> int:
        if seed is not None:
            if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
                raise ValueError(f"seed must be an integer in [0, 2**63), got {quote(seed)}")
            return seed
        draw = torch.randint(0, 2**62, (1,), generator=generator)
        return int(draw.item())

    @torch.no_grad()
    def generate_tensor(self, layout: Layout, latents: torch.Tensor) -> torch.Tensor:
        """Images (K, 3, H, W), ImageNet-normalised, for ``latents`` (K, O, z_dim)."""
        num_samples = latents.shape[0]
        labels, boxes = layout.labels(self.vocab), layout.boxes()
        batch = LayoutBatch.from_lists([labels] * num_samples, [boxes] * num_samples)
        batch = batch.to(self.device)
        z = latents.reshape(-1, latents.shape[-1]).to(self.device)
        with self.autocast():
            return self.generator.decode(batch, z).float()

    def autocast(self):
        """bfloat16 autocast when ``amp == "bf16"``, else a no-op context."""
        enabled = self.amp == "bf16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def __call__(
        self,
        layout: Any,
        num_samples: int = 1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        rescale: str | None = None,
        style_codes: dict[int, torch.Tensor] | None = None,
    ) -> GenerationResult:
        """Generate ``num_samples`` images of ``layout`` (a layout dict, a list of objects or a
        :class:`~layout2im.layout.Layout`); ``seed`` (or a ``torch.Generator``) draws the codes of
        objects without their own ``seed``, ``z`` or ``style``. ``rescale`` (``clamp`` or
        ``minmax``, see :func:`~layout2im.visualize.to_uint8`) defaults to the model's
        ``output_rescale``. Raises
        :class:`~layout2im.layout.LayoutError` naming the object and field of any problem.
        ``style_codes``: codes of the styled objects computed beforehand by
        :meth:`style_codes` (for example with a pixel budget); by default they are computed
        here.

        ``model_dir`` is a model folder (``layout2im train`` writes ``runs/<run>/model``):

        >>> pipe = Layout2ImPipeline.from_pretrained(model_dir)
        >>> scene = {"objects": [
        ...     {"id": "sun", "category": "circle", "box": [0.1, 0.1, 0.5, 0.5]},
        ...     {"id": "house", "category": "square", "box": [0.4, 0.4, 0.9, 0.9]},
        ... ]}
        >>> out = pipe(scene, num_samples=4, seed=0)
        >>> len(out.images), out.images[0].size == (pipe.config.image_size,) * 2
        (4, True)
        >>> tuple(out.latents.shape) == (4, 2, pipe.config.z_dim)  # samples, objects, z_dim
        True

        Same seed, same images; move the house and the sun keeps its code (it has an id):

        >>> again = pipe(scene, num_samples=4, seed=0)
        >>> again.images[3].tobytes() == out.images[3].tobytes()
        True
        >>> scene["objects"][1]["box"] = [0.0, 0.5, 0.5, 1.0]
        >>> moved = pipe(scene, num_samples=4, seed=0)
        >>> torch.equal(moved.latents[:, 0], out.latents[:, 0])
        True

        Lock the sun of sample 2 in every sample while the house varies:

        >>> scene["objects"][0]["z"] = out.latents[2, 0].tolist()
        >>> locked = pipe(scene, num_samples=4, seed=1)
        >>> all(torch.equal(locked.latents[k, 0], out.latents[2, 0]) for k in range(4))
        True
        >>> torch.equal(locked.latents[0, 1], locked.latents[1, 1])
        False

        Take the sun's look from a reference photo (a red square here):

        >>> from PIL import Image
        >>> red = Image.new("RGB", (40, 40), (255, 0, 0))
        >>> del scene["objects"][0]["z"]
        >>> scene["objects"][0]["style"] = {"image": red, "box": [0.0, 0.0, 1.0, 1.0]}
        >>> styled = pipe(scene, seed=0)
        >>> torch.allclose(styled.latents[0, 0], pipe.encode_style(red, [0, 0, 1, 1], "circle"))
        True
        """
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {quote(num_samples)}")
        parsed = self.parse(layout)
        call_seed = self._call_seed(seed, generator)
        latents = self.latents(parsed, num_samples, call_seed, style_codes=style_codes)
        images = self.generate_tensor(parsed, latents)
        rescale = self.config.output_rescale if rescale is None else rescale
        return GenerationResult(
            to_pil(images, rescale), latents, parsed, call_seed, self.layout_warnings(parsed)
        )
