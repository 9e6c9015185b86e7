"""Turning model outputs into pictures: box drawing, grids, the files ``generate`` writes.

Pixels come from the architecture's pixel rule (see :mod:`layout2im.architectures`); for
Layout2Im that is :func:`layout2im.imagenet.to_uint8`, re-exported here with
:func:`~layout2im.imagenet.normalize`.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image, ImageDraw

from .fsutil import atomic_write
from .imagenet import IMAGENET_MEAN, IMAGENET_STD, normalize, to_uint8

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "category_color",
    "draw_layout",
    "grid",
    "normalize",
    "save_generation",
    "to_pil",
    "to_uint8",
]

if TYPE_CHECKING:
    from .pipeline import GenerationResult
    from .vocab import Vocabulary


def to_pil(images: torch.Tensor, rescale: str = "clamp") -> list[Image.Image]:
    return [Image.fromarray(a) for a in to_uint8(images, rescale)]


def category_color(index: int) -> tuple[int, int, int]:
    """A stable, distinct colour per category row."""
    r, g, b = colorsys.hsv_to_rgb((index * 0.618034) % 1.0, 0.85, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_layout(
    boxes: torch.Tensor | Sequence[Sequence[float]],
    labels: Sequence[int],
    names: Sequence[str],
    size: int,
    background: Image.Image | None = None,
    scale: int = 1,
) -> Image.Image:
    """Draw normalised xyxy ``boxes`` (O, 4) with their category names, ``size*scale`` pixels
    square, on ``background`` (resized) or on white."""
    side = size * scale
    if background is None:
        canvas = Image.new("RGB", (side, side), (255, 255, 255))
    else:
        canvas = background.convert("RGB").resize((side, side), Image.NEAREST)
    draw = ImageDraw.Draw(canvas)
    for box, label, name in zip(boxes, labels, names, strict=True):
        x0, y0, x1, y1 = (float(v) * side for v in box)
        color = category_color(int(label))
        draw.rectangle(
            [x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=color, width=max(1, scale // 2)
        )
        if background is None or scale >= 3:
            draw.text((x0 + 2, y0 + 1), name, fill=color)
    return canvas


def grid(rows: Sequence[Sequence[Image.Image]], pad: int = 2, fill=(255, 255, 255)) -> Image.Image:
    """Tile equally sized images row by row with ``pad`` pixels between them."""
    if not rows or not rows[0]:
        raise ValueError("grid needs at least one image")
    w, h = rows[0][0].size
    ncols = max(len(r) for r in rows)
    out = Image.new("RGB", (ncols * (w + pad) + pad, len(rows) * (h + pad) + pad), fill)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            out.paste(img.resize((w, h), Image.NEAREST), (pad + j * (w + pad), pad + i * (h + pad)))
    return out


def mask_pictures(masks, stem: str) -> dict[str, Image.Image]:
    """Each object's mask of each sample as an 8-bit grayscale picture, by file name
    (``<stem>-sampleNN-maskJJ.png``, JJ the object's index in the layout): ``masks`` is the
    pipeline's (samples, objects, H, W) in [0, 1]; 255 is fully the object."""
    levels = (masks.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8).cpu().numpy()
    return {
        f"{stem}-sample{k:02d}-mask{j:02d}.png": Image.fromarray(levels[k, j])
        for k in range(levels.shape[0])
        for j in range(levels.shape[1])
    }


def save_generation(
    result: GenerationResult,
    vocab: Vocabulary,
    out: str | Path,
    stem: str,
    masks: bool = False,
) -> list[Path]:
    """Write one PNG per sample (``<stem>-sampleNN.png``) and a grid (``<stem>-grid.png``:
    the layout, then the samples; a second row with the boxes drawn on them) into ``out``;
    with ``masks``, also each object's mask (:func:`mask_pictures`; the result must hold
    masks). Returns the paths, the grid first.

    Every file is written atomically; if one cannot be written (disk full, ...), the files this
    call already wrote are removed and :class:`~layout2im.errors.OutputError` is raised."""
    out = Path(out)
    size = result.images[0].width
    scale = max(1, 128 // size)
    objects = result.layout.objects
    boxes = [o.box for o in objects]
    labels = [vocab.index(o.category) for o in objects]
    names = [o.category for o in objects]
    panel = draw_layout(boxes, labels, names, size, scale=scale)
    big = [img.resize((size * scale, size * scale)) for img in result.images]
    boxed = [
        draw_layout(boxes, labels, names, size, background=img, scale=scale)
        for img in result.images
    ]
    pictures = {out / f"{stem}-grid.png": grid([[panel, *big], [panel, *boxed]])}
    pictures.update({out / f"{stem}-sample{k:02d}.png": img for k, img in enumerate(result.images)})
    if masks:
        if result.masks is None:
            raise ValueError("this result holds no masks")
        pictures.update(
            {out / name: pic for name, pic in mask_pictures(result.masks, stem).items()}
        )
    written: list[Path] = []
    try:
        for path, picture in pictures.items():
            with atomic_write(path) as tmp:
                picture.save(tmp, format="PNG")
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written
