"""Reading real photos (any PIL mode to RGB, resized straight to the model's size) and turning
pixels into the model's input (:func:`to_imagenet_tensor`).

Photos in COCO and Visual Genome come as RGB, grayscale (``L``), palette (``P``), CMYK, RGBA
and now and then 16-bit or otherwise odd modes. :func:`to_rgb` turns each into 8-bit RGB:
grayscale is replicated, CMYK goes through PIL's conversion, 16-bit and float images are scaled
to their full range, and images with transparency are composited over white. EXIF orientation
is not applied: COCO and VG boxes refer to the stored pixels, as in the original code.

:func:`load_image` raises :class:`BadImageError` (with the path) for a missing, unreadable or
truncated file, so the dataset can skip it or fail with that message.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..errors import short_path
from ..imagenet import IMAGENET_MEAN, IMAGENET_STD
from ..readers import InputError, check_path

RESAMPLE = Image.Resampling.BILINEAR  # as sg2im / Layout2Im (PIL resize, bilinear)


class BadImageError(OSError):
    """An image file is missing or cannot be decoded; the message names the path."""


def to_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB copy of ``image`` whatever its mode."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
        if image.mode == "F" and values.max() <= 1.0:
            top = 1.0
        gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_image(path) -> Image.Image:
    """Decode ``path`` fully and return it as 8-bit RGB at its stored size. A FIFO, socket or
    device is refused unopened (it could block the read forever)."""
    try:
        check_path(path, "image file")
    except InputError as exc:
        raise BadImageError(str(exc)) from None
    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb(image)
    except FileNotFoundError:
        raise BadImageError(f"image file not found: {short_path(path)}") from None
    except Image.DecompressionBombError as exc:
        raise BadImageError(
            f"image {short_path(path)} is too large to decode safely: {exc}"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise BadImageError(f"cannot read image {short_path(path)}: {reason}") from None


def resize_to_array(image: Image.Image, size: int) -> np.ndarray:
    """Resize straight to ``size`` x ``size`` (no crop, no flip) -> (size, size, 3) uint8."""
    if image.size != (size, size):
        image = image.resize((size, size), RESAMPLE)
    return np.array(image, dtype=np.uint8)  # a writable copy (torch.from_numpy needs one)


def to_imagenet_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32 tensor normalised with ImageNet mean/std."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    tensor = torch.from_numpy(image).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return tensor.sub_(mean).div_(std)
