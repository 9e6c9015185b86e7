"""The README's picture: held-out shapes layouts, their real images and several samples each.

    python benchmarks/showcase.py                      # the shipped model
    python benchmarks/showcase.py --model runs/00000-shapes32/model --layouts 6 --samples 5

Each row is one layout of the held-out split (dataset seed + 1, never used in training): the
layout's boxes, the real image with its boxes, then ``--samples`` generated images (the codes
of one row come from ``--seed``). Writes one PNG (default ``docs/images/shapes32-showcase.png``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from layout2im.config import DataConfig
from layout2im.data import build_dataset
from layout2im.fsutil import atomic_write
from layout2im.pipeline import Layout2ImPipeline, default_model
from layout2im.visualize import draw_layout, grid, to_pil

ROOT = Path(__file__).resolve().parents[1]


def showcase(pipe: Layout2ImPipeline, layouts: int, samples: int, seed: int, scale: int):
    """The grid image: one row per held-out layout (layout | real | samples)."""
    size = pipe.config.image_size
    dataset, vocab = build_dataset(DataConfig(name="shapes", num_images=2000), size, split="val")
    if vocab.names != pipe.vocab.names:
        raise SystemExit("error: the model's vocabulary is not the shapes vocabulary")
    rows = []
    for i in range(layouts):
        item = dataset[i]
        labels, boxes = item["labels"].tolist(), item["boxes"]
        names = [vocab.name(k) for k in labels]
        scene = {
            "objects": [
                {"category": n, "box": b} for n, b in zip(names, boxes.tolist(), strict=True)
            ]
        }
        result = pipe(scene, num_samples=samples, seed=seed + i)
        (real,) = to_pil(item["image"][None])
        big = (size * scale, size * scale)
        rows.append(
            [
                draw_layout(boxes, labels, names, size, scale=scale),
                draw_layout(boxes, labels, names, size, background=real, scale=scale),
                *[img.resize(big, resample=0) for img in result.images],
            ]
        )
    return grid(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model folder or shipped name (default: shipped)")
    p.add_argument("--layouts", type=int, default=6, help="held-out layouts, one per row")
    p.add_argument("--samples", type=int, default=5, help="generated images per layout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=int, default=4, help="pixel scale of every panel (default 4)")
    p.add_argument("--out", default=str(ROOT / "docs" / "images" / "shapes32-showcase.png"))
    args = p.parse_args(argv)
    if not 1 <= args.layouts <= 64 or not 1 <= args.samples <= 16 or not 1 <= args.scale <= 16:
        p.error("--layouts must be 1..64, --samples 1..16, --scale 1..16")
    torch.set_grad_enabled(False)
    pipe = Layout2ImPipeline.from_pretrained(args.model or default_model())
    image = showcase(pipe, args.layouts, args.samples, args.seed, args.scale)
    out = Path(args.out)
    with atomic_write(out) as tmp:
        image.save(tmp, format="PNG")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
