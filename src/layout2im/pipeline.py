"""Inference: a trained generator of any registered architecture, its vocabulary, and
layout -> images.

:meth:`Layout2ImPipeline.from_pretrained` takes a model folder (:mod:`layout2im.model_folder`:
config.json, model.safetensors, vocab.json) or the name of a model shipped inside the package,
and rebuilds its generator through the architecture registry (:mod:`layout2im.architectures`);
the pipeline itself never names a generator class.

Latent codes: every object has an identity, its ``id`` if the layout gives one, else its index
``j``. With no per-object control, object ``id`` of sample ``k`` gets its code drawn (from the
architecture's distribution: N(0, I) for Layout2Im) from a generator seeded by
``(seed, k, id)`` (:func:`layout2im.seeding.derived_seed`), so adding, removing, moving or
resizing an object leaves every other object's code unchanged (with ids; without ids, adding at
the end does too). A ``torch.Generator`` passed instead of ``seed`` draws the call seed. An
object's own ``seed`` fixes its code across samples and calls, ``z`` gives it directly, and
``style`` takes it from a reference image (architectures with the ``style`` capability; for
Layout2Im the object latent estimator's posterior mean for that crop). An architecture with an
image code draws it per ``(seed, k)`` (:func:`layout2im.seeding.image_seed`), or takes the
layout's ``image_z``. The codes used are returned with the images (``latents``,
``image_latents``), so any sample can be reproduced or edited; so are the objects' masks for
architectures that make them. The example in :meth:`Layout2ImPipeline.__call__` runs as a
test.

Object counts: a layout may hold more objects than the model was trained with
(``max_objects``), up to the architecture's object limit (or ``max_objects`` if larger); such a
layout is generated, and :meth:`Layout2ImPipeline.layout_warnings` (returned with the images as
``warnings``) says that it lies outside the trained range, whose quality the ``shapes32-ood``
evaluation protocol measures.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image
from torch import nn

from .architectures import IMAGE_CODE, OBJECT_CODE, Architecture, get_architecture
from .config import AMP_MODES
from .devices import parse_device
from .errors import Layout2ImError, quote
from .images import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, ImageError, load_image
from .layout import Layout, LayoutBatch, LayoutError, parse_box, parse_layout
from .model_folder import (
    CONFIG_FILE,
    DEFAULT_MODEL,
    MAX_METADATA_BYTES,
    PRETRAINED_DIR,
    VOCAB_FILE,
    WEIGHTS_FILE,
    ModelLoadError,
    default_model,
    load_model_folder,
    read_model_meta,
    resolve_model,
    shipped_models,
    trained_data,
    write_model_folder,
)
from .schema.layout import MAX_SAMPLES, SEED_LIMIT
from .schema.model_folder import TrainedData
from .seeding import derived_seed, image_seed
from .vocab import Vocabulary

if TYPE_CHECKING:
    from .schema.config import Config

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_MODEL",
    "MAX_METADATA_BYTES",
    "PRETRAINED_DIR",
    "VOCAB_FILE",
    "WEIGHTS_FILE",
    "GenerationError",
    "GenerationResult",
    "Layout2ImPipeline",
    "ModelLoadError",
    "default_model",
    "read_model_meta",
    "resolve_model",
    "shipped_models",
]

log = logging.getLogger(__name__)


class GenerationError(Layout2ImError, ValueError):
    """A generation call's own arguments are invalid (``num_samples``, ``seed``)."""


@dataclasses.dataclass
class GenerationResult:
    """images: ``num_samples`` PIL images; latents: FloatTensor (num_samples, O, dim), the
    per-object code used for every object; layout: the validated layout; seed: the call seed
    the codes were drawn from (drawn at random, or from the torch.Generator, when none was
    given); image_latents: FloatTensor (num_samples, dim), the per-image code used, or None
    for architectures without one; masks: FloatTensor (num_samples, O, H, W) in [0, 1], each
    object's final mask, or None for architectures without masks."""

    images: list[Image.Image]
    latents: torch.Tensor
    layout: Layout
    seed: int | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    image_latents: torch.Tensor | None = None
    masks: torch.Tensor | None = None


def _check_samples(value: Any) -> int:
    """``num_samples`` checked before anything is allocated: an integer from 1 to
    :data:`~layout2im.schema.layout.MAX_SAMPLES`."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise GenerationError(f"num_samples must be a positive integer, got {quote(value)}")
    if value > MAX_SAMPLES:
        raise GenerationError(
            f"num_samples must be at most {MAX_SAMPLES} (one batch), got {quote(value)}; "
            "make several calls for more images"
        )
    return value


class Layout2ImPipeline:
    """Generate images from layouts with a trained generator (eval mode) of a registered
    architecture (``architecture``: its name or entry; the generator's ``config`` must be that
    architecture's). ``data``: what the model was trained on, written back by
    :meth:`save_pretrained`.

    ``amp="bf16"`` runs the generator under bfloat16 autocast (weights stay float32; images come
    back as float32): faster on CPUs with AVX512-BF16 or AMX and on recent GPUs, at about 1%
    relative error on the images (tests bound it)."""

    def __init__(
        self,
        generator: nn.Module,
        vocab: Vocabulary,
        max_objects: int = 8,
        device: str | torch.device = "cpu",
        amp: str = "off",
        architecture: str | Architecture = "layout2im",
        data: TrainedData | None = None,
    ):
        if isinstance(architecture, str):
            architecture = get_architecture(architecture)
        self.architecture = architecture
        rows = architecture.num_classes(generator.config)
        if len(vocab) != rows:
            raise ValueError(f"vocabulary has {len(vocab)} rows but the model has {rows}")
        if amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, got {amp!r}")
        self.device = parse_device(device, "device")
        self.generator = generator.to(self.device).eval()
        self.vocab = vocab
        self.max_objects = max_objects
        self.amp = amp
        self.data = data
        self.latent_codes = architecture.codes(generator.config)
        # Limits for reference images given as ``style`` in layouts (see layout2im.images).
        self.max_image_bytes = DEFAULT_MAX_BYTES
        self.max_image_pixels = DEFAULT_MAX_PIXELS

    @property
    def config(self) -> Any:
        """The generator's model config (the architecture's config type)."""
        return self.generator.config

    @property
    def image_size(self) -> int:
        return self.architecture.image_size(self.config)

    @property
    def z_dim(self) -> int:
        """Length of the per-object code."""
        return self.latent_codes.objects.dim

    @property
    def image_z_dim(self) -> int | None:
        """Length of the per-image code, or None when the architecture has none."""
        image = self.latent_codes.image
        return None if image is None else image.dim

    @property
    def default_rescale(self) -> str:
        return self.architecture.default_rescale(self.config)

    @property
    def object_limit(self) -> int:
        """Most objects :meth:`parse` accepts: the architecture's object limit, or the trained
        ``max_objects`` when that is larger."""
        return max(self.architecture.object_limit, self.max_objects)

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

    def save_pretrained(
        self, folder: str | Path, provenance: dict | None = None, data: TrainedData | None = None
    ) -> Path:
        """Write config.json, model.safetensors and vocab.json into ``folder`` (see
        :func:`~layout2im.model_folder.write_model_folder`). ``data``: what the model was
        trained on (default: the pipeline's ``data``); ``provenance`` (JSON-serialisable, e.g.
        which checkpoints were averaged) is recorded in config.json."""
        return write_model_folder(
            folder,
            self.architecture,
            self.generator,
            self.vocab,
            self.max_objects,
            data=data if data is not None else self.data,
            provenance=provenance,
        )

    @classmethod
    def for_trained(
        cls,
        generator: nn.Module,
        vocab: Vocabulary,
        config: Config,
        architecture: str | Architecture = "layout2im",
        device: str | torch.device = "cpu",
    ) -> Layout2ImPipeline:
        """A pipeline for ``generator`` as trained with ``config``: its object count and the
        data it was trained on (what :meth:`save_pretrained` records)."""
        return cls(
            generator,
            vocab,
            max_objects=config.data.max_objects,
            device=device,
            architecture=architecture,
            data=trained_data(config),
        )

    @classmethod
    def from_pretrained(
        cls, name_or_dir: str | Path, device: str | torch.device = "cpu", amp: str = "off"
    ) -> Layout2ImPipeline:
        """Load a model folder, or a shipped model by name (see
        :func:`~layout2im.model_folder.resolve_model`). Only safetensors weights are read.
        ``amp``: see the class."""
        model = load_model_folder(name_or_dir)
        return cls(
            model.generator,
            model.vocab,
            max_objects=model.meta.max_objects,
            device=device,
            amp=amp,
            architecture=model.architecture,
            data=model.meta.data,
        )

    # -- layouts --------------------------------------------------------------------------------

    def parse(self, layout: Any, allow_style_files: bool = True) -> Layout:
        """Validate a layout (dict, list of objects or :class:`Layout`) against this model;
        see :func:`layout2im.layout.parse_layout`. Styles need an architecture with the
        ``style`` capability, ``image_z`` one with an image code (of that length)."""
        parsed = parse_layout(
            layout,
            self.vocab,
            z_dim=self.z_dim,
            max_objects=self.object_limit,
            allow_style_files=allow_style_files,
        )
        if not self.architecture.capabilities.style:
            for j, obj in enumerate(parsed.objects):
                if obj.style is not None:
                    raise LayoutError(
                        f"objects[{j}].style: the {self.architecture.name} architecture cannot "
                        "take an object's look from a photo; give seed or z instead"
                    )
        if parsed.image_z is not None:
            dim = self.image_z_dim
            if dim is None:
                raise LayoutError(
                    f"image_z: the {self.architecture.name} architecture has no image code; "
                    "remove image_z"
                )
            if len(parsed.image_z) != dim:
                raise LayoutError(
                    f"image_z: has {len(parsed.image_z)} values; this model's image code has {dim}"
                )
        return parsed

    # -- style ----------------------------------------------------------------------------------

    def _require_style(self, what: str) -> None:
        if not self.architecture.capabilities.style:
            raise LayoutError(
                f"{what}: the {self.architecture.name} architecture cannot take an object's "
                "look from a photo"
            )

    def encode_style(
        self,
        image: str | Path | bytes | Image.Image,
        box: Any,
        category: str,
        max_bytes: int | None = None,
        max_pixels: int | None = None,
    ) -> torch.Tensor:
        """The per-object code (z_dim,) of the object of ``category`` inside ``box``
        (normalised xyxy) of a reference ``image`` (path, data: URL, encoded bytes or PIL
        image), by the architecture's style encoder (for Layout2Im: the object latent
        estimator's posterior mean for the training crop of the resized image). The image
        limits default to ``self.max_image_bytes`` and ``self.max_image_pixels``. Raises
        :class:`~layout2im.images.ImageError` for an unusable image and
        :class:`~layout2im.layout.LayoutError` for a bad box or category, or an architecture
        without the ``style`` capability.
        """
        self._require_style("style")
        box = parse_box("box", box)
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
        assert self.architecture.encode_style is not None  # the style capability says so
        return self.architecture.encode_style(
            self.generator, picture, box, self.vocab.index(category)
        )

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
            self._require_style(f"objects[{j}].style")
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

    # -- codes ----------------------------------------------------------------------------------

    def latents(
        self,
        layout: Layout,
        num_samples: int = 1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        style_codes: dict[int, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The per-object codes (num_samples, O, z_dim) for ``layout``: per-object ``z``,
        ``seed`` or ``style`` first, else from ``(seed, k, id)`` (see the module docstring).
        With neither ``seed`` nor ``generator``, the call seed is random; :meth:`__call__`
        returns it."""
        _check_samples(num_samples)
        seed = self._call_seed(seed, generator)
        if style_codes is None:
            style_codes = self.style_codes(layout)
        code = self.latent_codes.objects
        shape = (code.dim,)
        keys = layout.object_keys()
        out = torch.empty(num_samples, len(layout.objects), code.dim)
        for j, obj in enumerate(layout.objects):
            if obj.z is not None:
                out[:, j] = torch.tensor(obj.z)
            elif obj.seed is not None:
                out[:, j] = code.sampler.from_seed(obj.seed, shape)
            elif j in style_codes:
                out[:, j] = style_codes[j]
            else:
                for k in range(num_samples):
                    out[k, j] = code.sampler.from_seed(derived_seed(seed, k, keys[j]), shape)
        return out

    def image_latents(
        self,
        layout: Layout,
        num_samples: int = 1,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor | None:
        """The per-image codes (num_samples, dim): the layout's ``image_z`` in every sample,
        else drawn per ``(seed, k)``; None for an architecture without an image code."""
        _check_samples(num_samples)
        code = self.latent_codes.image
        if code is None:
            return None
        if layout.image_z is not None:
            return torch.tensor(layout.image_z, dtype=torch.float32).expand(num_samples, -1).clone()
        seed = self._call_seed(seed, generator)
        return torch.stack(
            [code.sampler.from_seed(image_seed(seed, k), (code.dim,)) for k in range(num_samples)]
        )

    @staticmethod
    def _call_seed(seed: int | None, generator: torch.Generator | None) -> int:
        if seed is not None:
            if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < SEED_LIMIT:
                raise GenerationError(f"seed must be an integer in [0, 2**63), got {quote(seed)}")
            return seed
        draw = torch.randint(0, 2**62, (1,), generator=generator)
        return int(draw.item())

    # -- generation -----------------------------------------------------------------------------

    @torch.no_grad()
    def generate_outputs(
        self,
        layout: Layout,
        latents: torch.Tensor,
        image_latents: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Images (K, 3, H, W) in the network's pixel space and masks (K, O, H, W) or None, for
        per-object codes ``latents`` (K, O, z_dim) and per-image codes ``image_latents``
        (K, dim; needed exactly when the architecture has an image code)."""
        num_samples = latents.shape[0]
        labels, boxes = layout.labels(self.vocab), layout.boxes()
        batch = LayoutBatch.from_lists([labels] * num_samples, [boxes] * num_samples)
        batch = batch.to(self.device)
        codes = {OBJECT_CODE: latents.to(self.device)}
        if (image_latents is None) != (self.latent_codes.image is None):
            raise ValueError("image_latents are needed exactly for an architecture's image code")
        if image_latents is not None:
            codes[IMAGE_CODE] = image_latents.to(self.device)
        with self.autocast():
            images, masks = self.architecture.generate(self.generator, batch, codes)
        return images.float(), None if masks is None else masks.float().cpu()

    def generate_tensor(
        self, layout: Layout, latents: torch.Tensor, image_latents: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Images (K, 3, H, W) in the network's pixel space (ImageNet-normalised for Layout2Im)
        for ``latents`` (K, O, z_dim); see :meth:`generate_outputs`."""
        return self.generate_outputs(layout, latents, image_latents)[0]

    def to_pil(self, images: torch.Tensor, rescale: str | None = None) -> list[Image.Image]:
        """PIL images of network-space ``images`` (K, 3, H, W) by the architecture's pixel
        rule; ``rescale`` defaults to the model's."""
        rescale = self.default_rescale if rescale is None else rescale
        self.architecture.check_rescale(rescale)
        return [Image.fromarray(a) for a in self.architecture.to_uint8(images, rescale)]

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
        objects without their own ``seed``, ``z`` or ``style`` (and the image code without
        the layout's ``image_z``). ``rescale`` (one of the architecture's rescale modes; for
        Layout2Im ``clamp`` or ``minmax``, see :func:`~layout2im.imagenet.to_uint8`) defaults to
        the model's. Raises
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
        >>> len(out.images), out.images[0].size == (pipe.image_size,) * 2
        (4, True)
        >>> tuple(out.latents.shape) == (4, 2, pipe.z_dim)  # samples, objects, z_dim
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
        _check_samples(num_samples)
        rescale = self.default_rescale if rescale is None else rescale
        self.architecture.check_rescale(rescale)
        parsed = self.parse(layout)
        call_seed = self._call_seed(seed, generator)
        latents = self.latents(parsed, num_samples, call_seed, style_codes=style_codes)
        image_latents = self.image_latents(parsed, num_samples, call_seed)
        images, masks = self.generate_outputs(parsed, latents, image_latents)
        return GenerationResult(
            self.to_pil(images, rescale),
            latents,
            parsed,
            call_seed,
            self.layout_warnings(parsed),
            image_latents,
            masks,
        )
