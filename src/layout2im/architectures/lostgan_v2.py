"""LostGAN-v2 (Sun and Wu, TPAMI 2021; code WillSuen/LostGANs) as a registered architecture.

Codes as the authors' ``test.py`` samples them: one code per object (128) and one per image
(128), each drawn from the normal truncated at ``|x| <= 2`` (their ``truncted_random(thres=2.0)``).
A Visual Genome model also reads the code of the ``__image__`` object its data loader puts over
the whole image after the real objects; that code is per image too, so the image code of a
Visual Genome model has 256 values: the image code, then the ``__image__`` object's code.

Layouts reach the generator as the authors' loaders handed them over (see
:class:`~layout2im.models.lostgan.LostGANConfig`): the real objects in order, the ``__image__``
object for Visual Genome, then padding objects (label 0, box ``[-0.6, -0.6, 0.5, 0.5]``, code
zero: their masks are zero everywhere, so neither their codes nor their labels reach the image)
up to the loader's slot count (8 COCO-Stuff, 31 Visual Genome); layouts with more objects get
more slots. Boxes go from this library's ``[x0, y0, x1, y1]`` to the authors' ``[x0, y0, w, h]``
in float64 and are handed over in the precision of the authors' loader.

Pixels as the authors' ``test.py`` saved them (``minmax``, the default): ``x * 0.5 + 0.5``
written with ``scipy.misc.imsave``, whose ``bytescale`` stretches each image (all channels
together) to its own min..max in float32 and rounds (``uint8(clip(255 (x - min) / (max - min))
+ 0.5)``); ``clamp`` clips ``x * 0.5 + 0.5`` to [0, 1] and rounds. Each object's final mask
comes with the image. Not trainable in this library (its discriminators need ROIAlign and its
recipe is its own): ``train --init-from`` refuses such a folder.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import ValidationError

from ..errors import Layout2ImError, quote
from ..layout import LayoutBatch
from ..models.lostgan import IMAGE_LABEL, PADDING_BOX, LostGANConfig, LostGANGenerator
from ..seeding import Normal
from .registry import (
    IMAGE_CODE,
    OBJECT_CODE,
    Architecture,
    Capabilities,
    LatentCode,
    LatentCodes,
    register_architecture,
)

NAME = "lostgan-v2"
TRUNCATION = 2.0
RESCALE_MODES = ("minmax", "clamp")
WHOLE_IMAGE = (0.0, 0.0, 1.0, 1.0)


class LostGANConfigError(Layout2ImError, ValueError):
    """A model section that is not a valid LostGAN-v2 config."""


def config_from_dict(data: dict) -> LostGANConfig:
    try:
        return LostGANConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "model"
        raise LostGANConfigError(
            f"model.{where}: {first['msg']} (got {quote(first.get('input'))})"
        ) from None


def latent_codes(config: LostGANConfig) -> LatentCodes:
    sampler = Normal(TRUNCATION)
    image_dim = config.z_dim * (2 if config.image_object else 1)
    return LatentCodes(
        objects=LatentCode(OBJECT_CODE, config.z_dim, sampler),
        image=LatentCode(IMAGE_CODE, image_dim, sampler),
    )


def original_inputs(
    config: LostGANConfig,
    layout: LayoutBatch,
    object_codes: torch.Tensor,
    image_codes: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The generator's inputs laid out as the authors' loaders gave them.

    layout: labels (B, O), boxes (B, O, 4) normalised xyxy, mask (B, O) with the real objects
    first; object_codes: (B, O, z_dim); image_codes: (B, z_dim), or (B, 2 z_dim) with the
    ``__image__`` object's code second when ``config.image_object``. Returns labels (B, S),
    boxes (B, S, 4) ``[x0, y0, w, h]`` in ``config.box_dtype``, codes (B, S, z_dim) and the
    image codes (B, z_dim), with S = max(``config.object_slots``, the most objects of a row,
    plus the ``__image__`` object)."""
    device = layout.labels.device
    batch, width = layout.labels.shape
    counts = layout.mask.sum(dim=1).tolist()
    extra = 1 if config.image_object else 0
    slots = max(config.object_slots, max(counts) + extra)
    dtype = getattr(torch, config.box_dtype)
    labels = torch.full((batch, slots), IMAGE_LABEL, dtype=torch.long, device=device)
    boxes = torch.tensor(PADDING_BOX, dtype=torch.float64, device=device).repeat(batch, slots, 1)
    codes = object_codes.new_zeros(batch, slots, config.z_dim)
    xyxy = layout.boxes.to(torch.float64)
    xywh = torch.cat([xyxy[..., :2], xyxy[..., 2:] - xyxy[..., :2]], dim=-1)
    real = layout.mask
    labels[:, :width][real] = layout.labels[real]
    boxes[:, :width][real] = xywh[real]
    codes[:, :width][real] = object_codes[real]
    if config.image_object:
        rows = torch.arange(batch, device=device)
        at = torch.tensor(counts, device=device)
        boxes[rows, at] = torch.tensor(WHOLE_IMAGE, dtype=torch.float64, device=device)
        codes[rows, at] = image_codes[:, config.z_dim :]
    return labels, boxes.to(dtype), codes, image_codes[:, : config.z_dim]


def generate(
    generator: LostGANGenerator, layout: LayoutBatch, codes: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (B, 3, R, R) in [-1, 1] and each object's final mask (B, O, R, R), zeros in the
    padding slots of ``layout``."""
    inputs = original_inputs(generator.config, layout, codes[OBJECT_CODE], codes[IMAGE_CODE])
    out = generator(*inputs)
    width = layout.labels.shape[1]
    masks = out.masks[:, :width] * layout.mask[:, :, None, None].to(out.masks.dtype)
    return out.images, masks


def to_uint8(images: torch.Tensor, rescale: str = "minmax") -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> uint8 (B, H, W, 3) by the rule ``rescale`` (module docstring)."""
    x = images.detach().float().cpu() * 0.5 + 0.5
    if rescale == "minmax":
        lo = x.amin(dim=(1, 2, 3), keepdim=True)
        span = x.amax(dim=(1, 2, 3), keepdim=True) - lo
        span = torch.where(span == 0, torch.ones_like(span), span)
        scale = (255.0 / span.double()).float()  # a float64 scalar applied in float32
        x = ((x - lo) * scale).clamp(0, 255) + 0.5
        x = x.to(torch.uint8)  # truncates, as numpy's astype(uint8)
    elif rescale == "clamp":
        x = (x.clamp(0, 1) * 255.0).round().to(torch.uint8)
    else:
        raise ValueError(f"rescale must be one of {', '.join(RESCALE_MODES)}, got {rescale!r}")
    return x.permute(0, 2, 3, 1).numpy()


def state_size(config: LostGANConfig) -> int:
    with torch.device("meta"):
        generator = LostGANGenerator(config)
    return sum(t.numel() for t in generator.state_dict().values())


def parameter_counts(config: LostGANConfig) -> dict[str, int]:
    with torch.device("meta"):
        generator = LostGANGenerator(config)
    return {"generator": sum(p.numel() for p in generator.parameters())}


ARCHITECTURE = register_architecture(
    Architecture(
        name=NAME,
        description="LostGAN-v2 (TPAMI 2021): ISLA-Norm, learned object masks, 128 or 256",
        config_from_dict=config_from_dict,
        config_to_dict=lambda config: config.model_dump(),
        build_generator=LostGANGenerator,
        state_size=state_size,
        parameter_counts=parameter_counts,
        latent_codes=latent_codes,
        generate=generate,
        to_uint8=to_uint8,
        rescale_modes=RESCALE_MODES,
        default_rescale=lambda config: "minmax",
        image_size=lambda config: config.resolution,
        num_classes=lambda config: config.num_classes,
        capabilities=Capabilities(masks=True, image_code=True),
        object_limit=32,
    )
)
