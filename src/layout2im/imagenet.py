"""ImageNet normalisation, both ways: the pixel space the datasets feed and Layout2Im draws in.

Layout2Im's images are normalised with ImageNet's per-channel mean and std (no tanh), as its
real training images are (``layout2im.data``). :func:`normalize` maps [0, 1] pixels there;
:func:`to_uint8` maps them back with the mean and std, then either clamps to [0, 1]
(``rescale="clamp"``) or stretches each image to its own min..max over all channels and pixels
(``rescale="minmax"``), and takes ``uint8(255 * x)`` (truncating, as ``ByteTensor`` conversion
does; clamp rounds). ``minmax`` is exactly what the authors' ``test.py`` saved (sg2im's
``imagenet_deprocess_batch`` with ``rescale=True``); it changes IS/FID, so evaluation protocols
name the choice, and a model's ``model.output_rescale`` picks its default (``minmax`` in the
``paper-*`` presets).
"""

from __future__ import annotations

import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESCALE_MODES = ("clamp", "minmax")


def normalize(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) or (3, H, W) in [0, 1] -> ImageNet-normalised."""
    mean = images.new_tensor(IMAGENET_MEAN)[:, None, None]
    std = images.new_tensor(IMAGENET_STD)[:, None, None]
    return (images - mean) / std


def to_uint8(images: torch.Tensor, rescale: str = "clamp") -> np.ndarray:
    """ImageNet-normalised (B, 3, H, W) -> uint8 array (B, H, W, 3)."""
    x = images.detach().float().cpu()
    mean = x.new_tensor(IMAGENET_MEAN)[:, None, None]
    std = x.new_tensor(IMAGENET_STD)[:, None, None]
    if rescale == "clamp":
        x = ((x * std + mean).clamp(0, 1) * 255.0).round().to(torch.uint8)
    elif rescale == "minmax":
        # sg2im's imagenet_deprocess: divide by 1/std, add the mean, then min-max per image
        inv_std = x.new_tensor([1.0 / s for s in IMAGENET_STD])[:, None, None]
        x = x / inv_std + mean
        lo = x.amin(dim=(1, 2, 3), keepdim=True)
        hi = x.amax(dim=(1, 2, 3), keepdim=True)
        x = (x - lo) / (hi - lo).clamp_min(1e-8)
        x = (x * 255.0).clamp(0, 255).to(torch.uint8)  # truncates, as .byte() does
    else:
        raise ValueError(f"rescale must be 'clamp' or 'minmax', got {rescale!r}")
    return x.permute(0, 2, 3, 1).numpy()
