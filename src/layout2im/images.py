"""Reading untrusted reference images safely (style references, uploads).

An image arrives as raw bytes, a ``data:`` URL, a file path or a PIL image. Before any pixel is
decoded, :func:`load_image`:

- caps the encoded size (``max_bytes``), so a huge file or data URL is refused unread;
- opens only the formats in :data:`IMAGE_FORMATS`, identified by PIL from the bytes themselves
  (magic numbers), never from a file name or a declared content type;
- refuses images whose declared width x height exceeds ``max_pixels`` (decompression bombs: a
  tiny PNG can declare 100000 x 100000 pixels), and turns PIL's own
  ``DecompressionBombWarning`` into an error while decoding;
- decodes fully inside a ``try``: truncated or corrupt data becomes an :class:`ImageError`.

The result is an RGB image (transparency composited on white, EXIF orientation applied).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import re
import warnings
from pathlib import Path

from PIL import Image, ImageOps

from .errors import Layout2ImError, short_path

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
"""The formats accepted for reference images (PIL format names)."""

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000

_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?((?:;[\w.+-]+=[\w.+-]+)*)(;base64)?,", re.I)


class ImageError(Layout2ImError, ValueError):
    """An image could not be used. ``kind`` says why: ``"not_image"`` (not one of
    :data:`IMAGE_FORMATS`), ``"too_large"`` (bytes or pixels over the limit), ``"corrupt"``
    (truncated or undecodable) or ``"unreadable"`` (missing file, bad data: URL, wrong type)."""

    def __init__(self, message: str, kind: str = "unreadable"):
        super().__init__(message)
        self.kind = kind


def is_data_url(value: object) -> bool:
    return isinstance(value, str) and value[:5].lower() == "data:"


def decode_data_url(url: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of a base64 ``data:`` URL (the declared media type is ignored: the bytes are
    identified by :func:`load_image`)."""
    match = _DATA_URL.match(url)
    if match is None:
        raise ImageError("malformed data: URL (expected data:image/png;base64,...)")
    if not match.group(3):
        raise ImageError("data: URL must be base64-encoded (data:image/png;base64,...)")
    payload = url[match.end() :]
    if len(payload) * 3 // 4 > max_bytes:
        raise ImageError(f"image data is larger than {_mb(max_bytes)}", "too_large")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("data: URL holds invalid base64") from None


def read_image_bytes(source: str | Path | bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Bytes from raw bytes, a ``data:`` URL or a file path, refusing more than ``max_bytes``."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif is_data_url(source):
        data = decode_data_url(str(source), max_bytes)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise ImageError(f"not a file: {short_path(path)}")
            if size > max_bytes:
                raise ImageError(f"{short_path(path)} is larger than {_mb(max_bytes)}", "too_large")
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImageError(f"image file not found: {short_path(path)}") from None
        except OSError as exc:
            raise ImageError(
                f"cannot read image file {short_path(path)}: {exc.strerror or exc}"
            ) from None
    else:
        raise ImageError(
            f"expected image bytes, a data: URL or a file path, got {type(source).__name__}"
        )
    if len(data) > max_bytes:
        raise ImageError(f"image data is larger than {_mb(max_bytes)}", "too_large")
    if not data:
        raise ImageError("image data is empty")
    return data


def load_image(
    source: str | Path | bytes | Image.Image,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode an untrusted image into a fully loaded RGB PIL image; see the module docstring.

    Raises :class:`ImageError` with a short reason on any problem.
    """
    if isinstance(source, Image.Image):
        if source.width * source.height > max_pixels:
            raise ImageError(_too_many_pixels(source.width, source.height, max_pixels), "too_large")
        return _to_rgb(source)
    data = read_image_bytes(source, max_bytes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
        except Image.UnidentifiedImageError:
            raise ImageError(
                f"not an image; accepted formats: {', '.join(IMAGE_FORMATS)}", "not_image"
            ) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(
                f"image declares too many pixels (limit {max_pixels})", "too_large"
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageError(f"unreadable image: {exc}", "corrupt") from None
        if img.width * img.height > max_pixels:
            raise ImageError(_too_many_pixels(img.width, img.height, max_pixels), "too_large")
        if img.width < 1 or img.height < 1:
            raise ImageError("image has no pixels", "corrupt")
        try:
            img.load()
            return _to_rgb(img)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(
                f"image declares too many pixels (limit {max_pixels})", "too_large"
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
            raise ImageError(f"truncated or corrupt {img.format} image: {exc}", "corrupt") from None


def _to_rgb(img: Image.Image) -> Image.Image:
    with contextlib.suppress(Exception):  # malformed EXIF: keep the stored orientation
        img = ImageOps.exif_transpose(img) or img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _too_many_pixels(width: int, height: int, limit: int) -> str:
    return f"image is {width}x{height} = {width * height} pixels; the limit is {limit}"


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"
