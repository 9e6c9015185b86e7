"""The paper's Layout2Im (Zhao et al., CVPR 2019; code zhaobozb/layout2im) as a registered
architecture.

One standard-normal code per object (``model.z_dim``), no image code; images come out
ImageNet-normalised and become pixels by :func:`layout2im.imagenet.to_uint8` (``clamp`` or the
authors' ``minmax``, the model's ``output_rescale`` by default). Style from a photo: the object
latent estimator's posterior mean for the crop (:func:`encode_style`). Trainable with
``layout2im train``.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..config import ModelConfig, model_config_from_dict
from ..imagenet import RESCALE_MODES, normalize, to_uint8
from ..layout import LayoutBatch
from ..models import Layout2ImGenerator
from ..models.layers import crop_boxes
from ..models.size import generator_state_size, parameter_counts
from .registry import (
    OBJECT_CODE,
    Architecture,
    Capabilities,
    LatentCode,
    LatentCodes,
    register_architecture,
)

NAME = "layout2im"


def latent_codes(config: ModelConfig) -> LatentCodes:
    return LatentCodes(objects=LatentCode(OBJECT_CODE, config.z_dim))


def generate(
    generator: Layout2ImGenerator, layout: LayoutBatch, codes: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, None]:
    """Images (B, 3, H, W), ImageNet-normalised, from ``codes["z"]`` (B, O, z_dim) padded like
    ``layout`` (the real slots are read in row-major order); no masks."""
    return generator.decode(layout, codes[OBJECT_CODE][layout.mask]), None


def encode_style(
    generator: Layout2ImGenerator,
    picture: Image.Image,
    box: tuple[float, float, float, float],
    label: int,
) -> torch.Tensor:
    """The code (z_dim,) of the object of category row ``label`` inside ``box`` (normalised
    xyxy) of the RGB ``picture``: the picture is resized to the model's image size (as training
    images are), the box cropped with the training crop
    (:func:`~layout2im.models.layers.crop_boxes`), and the object latent estimator's posterior
    mean ``mu`` is the code."""
    config = generator.config
    device = next(generator.parameters()).device
    size = config.image_size
    picture = picture.resize((size, size), Image.BICUBIC)
    pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0)
    x = normalize(pixels.permute(2, 0, 1))[None].to(device)
    boxes = torch.tensor([box], dtype=torch.float32, device=device)
    zero = torch.zeros(1, dtype=torch.long, device=device)
    crop = crop_boxes(x, boxes, zero, config.crop_size)
    labels = torch.tensor([label], device=device)
    generator.eval()
    with torch.no_grad():
        mu, _ = generator.crop_encoder(crop, labels)
    return mu[0].float().cpu()


def _build(config: ModelConfig) -> nn.Module:
    return Layout2ImGenerator(config)


ARCHITECTURE = register_architecture(
    Architecture(
        name=NAME,
        description="the paper's Layout2Im generator (CVPR 2019): object latents, ConvLSTM fuser",
        config_from_dict=model_config_from_dict,
        config_to_dict=lambda config: config.model_dump(),
        build_generator=_build,
        state_size=generator_state_size,
        parameter_counts=parameter_counts,
        latent_codes=latent_codes,
        generate=generate,
        to_uint8=to_uint8,
        rescale_modes=RESCALE_MODES,
        default_rescale=lambda config: config.output_rescale,
        image_size=lambda config: config.image_size,
        num_classes=lambda config: config.num_classes,
        capabilities=Capabilities(style=True, trainable=True),
        object_limit=32,
        encode_style=encode_style,
    )
)
