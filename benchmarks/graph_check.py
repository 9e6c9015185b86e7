"""Do the static-shape path and CUDA graphs compute what the default path computes, on this
device? Run before trusting their timings.

    python benchmarks/graph_check.py --config paper-coco64 --device cuda --steps 3

Three trainers from the same seed train on the same random batches (3..max_objects objects):
the default computation, ``train.static_shapes``, and (on CUDA) ``train.cuda_graphs``. Prints
each loss term's largest relative difference from the default path and each generated batch's
(eval mode, the trained generators); exits 1 when one exceeds ``--tolerance`` (loose: cuDNN
picks different kernels for different shapes, and TF32 rounds to 10 bits).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import torch

from layout2im.config import apply_overrides, load_config
from layout2im.devices import parse_device
from layout2im.fsutil import write_text
from layout2im.layout import LayoutBatch
from layout2im.training.trainer import Trainer
from layout2im.vocab import Vocabulary

sys.path.insert(0, str(Path(__file__).parent))
from speed import random_layouts


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().cpu(), b.double().cpu()
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="paper-coco64")
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--tolerance", type=float, default=2e-2)
    p.add_argument("--out", type=Path, help="also write the differences as JSON here")
    args = p.parse_args(argv)
    device = parse_device(args.device)
    config = apply_overrides(
        load_config(args.config), [f"train.batch_size={args.batch}", f"train.device={device.type}"]
    )
    vocab = Vocabulary([f"c{i}" for i in range(config.model.num_classes)])
    variants = {"default": {}, "static_shapes": {"static_shapes": True}}
    if device.type == "cuda":
        variants["cuda_graphs"] = {"static_shapes": True, "cuda_graphs": True}
    trainers = {}
    for name, options in variants.items():
        cfg = copy.deepcopy(config)
        for key, value in options.items():
            setattr(cfg.train, key, value)
        trainers[name] = Trainer(cfg, vocab, device=device)
    g = torch.Generator().manual_seed(0)
    size, slots = config.model.image_size, config.data.max_objects
    worst: dict[str, float] = {}
    for step in range(args.steps):
        layout = random_layouts(args.batch, config.model.num_classes, g, slots)
        images = torch.randn(args.batch, 3, size, size, generator=g)
        losses = {name: t.train_step(images, layout).losses for name, t in trainers.items()}
        for name in trainers:
            for key, value in losses["default"].items():
                diff = abs(losses[name][key] - value) / max(abs(value), 1e-3)
                worst[f"{name} {key}"] = max(worst.get(f"{name} {key}", 0.0), diff)
        print(f"step {step + 1}: " + ", ".join(
            f"{n} G/total {losses[n]['G/total']:.5f}" for n in trainers))  # fmt: skip
    layout = random_layouts(args.batch, config.model.num_classes, g, slots).to(device)
    z = torch.randn(layout.num_objects, config.model.z_dim, generator=g).to(device)
    images = {}
    for name, trainer in trainers.items():
        generator = trainer.generator.eval()
        lay, codes = layout, z
        if generator.static_shapes:
            lay = layout.padded(slots)
            codes = lay.scatter(z).flatten(0, 1)
        with torch.no_grad():
            images[name] = generator.decode(LayoutBatch(lay.labels, lay.boxes, lay.mask), codes)
    for name in trainers:
        worst[f"{name} generated images"] = relative(images[name], images["default"])
    failed = {k: v for k, v in worst.items() if v > args.tolerance}
    for key, value in sorted(worst.items()):
        if not key.startswith("default"):
            print(f"{key}: largest relative difference {value:.2e}")
    if args.out:
        write_text(args.out, json.dumps({"device": str(device), "worst": worst}, indent=2))
    if failed:
        print(f"FAILED (> {args.tolerance}): {', '.join(sorted(failed))}")
        return 1
    print(f"ok: every difference within {args.tolerance}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
