"""Where a training iteration and a generation call spend their time, module by module.

    python benchmarks/profile_step.py --config paper-coco64 --batch 8 --iters 2

Forward and backward wall time of the main modules of the three networks, measured with
module forward hooks and full backward hooks (each module's backward is the time between its
output gradient arriving and its input gradients being ready; the CPU autograd engine runs one
node at a time, so this is close to the module's own backward). The rest of the step (losses,
crops, optimiser updates, autograd bookkeeping) is the difference to the measured total.
Runs ``benchmarks/speed.py``'s fast configuration (``--amp`` as there, default off here) or,
with ``--reference``, the straightforward one.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from speed import REFERENCE, apply_mode, fast_mode, random_layouts

from layout2im.config import apply_overrides, load_config
from layout2im.training.trainer import Trainer
from layout2im.vocab import Vocabulary


def watched_modules(trainer: Trainer) -> dict[str, torch.nn.Module]:
    g = trainer.generator
    named = {"G.crop_encoder": g.crop_encoder}
    for i, conv in enumerate(g.object_encoder.convs):
        named[f"G.object_encoder.conv{i}"] = conv
        named[f"G.object_encoder.norm{i}"] = g.object_encoder.norms[i]
    named["G.fuser"] = g.fuser
    named["G.decoder.res_blocks"] = g.decoder.res_blocks
    for i, layer in enumerate(g.decoder.up):
        if not isinstance(layer, torch.nn.ReLU):
            named[f"G.decoder.up{i}.{type(layer).__name__}"] = layer
    named["D.image"] = trainer.image_d
    named["D.object"] = trainer.object_d
    return named


class Timer:
    """Accumulates forward and backward seconds per watched module."""

    def __init__(self, modules: dict[str, torch.nn.Module]):
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.handles = []
        for name, module in modules.items():
            self._watch(name, module)

    def _watch(self, name: str, module: torch.nn.Module) -> None:
        starts: list[float] = []
        back: list[float] = []

        def pre(_m, _inputs):
            starts.append(time.perf_counter())

        def post(_m, _inputs, _output):
            self.seconds[(name, "forward")] += time.perf_counter() - starts.pop()

        def back_pre(_m, _grad_out):
            back.append(time.perf_counter())

        def back_post(_m, _grad_in, _grad_out):
            if back:
                self.seconds[(name, "backward")] += time.perf_counter() - back.pop()

        self.handles += [
            module.register_forward_pre_hook(pre),
            module.register_forward_hook(post),
            module.register_full_backward_pre_hook(back_pre),
            module.register_full_backward_hook(back_post),
        ]

    def reset(self) -> None:
        self.seconds.clear()

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", default="paper-coco64")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--iters", type=int, default=2)
    p.add_argument("--gen-iters", type=int, default=3)
    p.add_argument("--reference", action="store_true")
    p.add_argument("--amp", choices=["off", "bf16"], default="off")
    args = p.parse_args(argv)
    config = apply_overrides(
        load_config(args.config), [f"train.batch_size={args.batch}", "train.device=cpu"]
    )
    vocab = Vocabulary([f"c{i}" for i in range(config.model.num_classes)])
    trainer = Trainer(config, vocab)
    apply_mode(trainer, REFERENCE if args.reference else fast_mode(args.amp))
    g = torch.Generator().manual_seed(0)
    size = config.model.image_size
    layout = random_layouts(args.batch, config.model.num_classes, g)
    images = torch.randn(args.batch, 3, size, size, generator=g)
    print(f"{layout.num_objects} objects in {args.batch} images")
    timer = Timer(watched_modules(trainer))
    trainer.train_step(images, layout)  # warm-up
    timer.reset()
    start = time.perf_counter()
    for _ in range(args.iters):
        trainer.train_step(images, layout)
    total = (time.perf_counter() - start) / args.iters
    report("training iteration", timer, total, args.iters)

    generator = trainer.generator.eval()
    z = torch.randn(layout.num_objects, config.model.z_dim, generator=g)
    with torch.no_grad(), trainer.autocast():
        generator.decode(layout, z)
        timer.reset()
        start = time.perf_counter()
        for _ in range(args.gen_iters):
            generator.decode(layout, z)
    total = (time.perf_counter() - start) / args.gen_iters
    report(f"generation call (batch {args.batch})", timer, total, args.gen_iters)
    timer.remove()
    return 0


def report(title: str, timer: Timer, total: float, n: int) -> None:
    print(f"\n{title}: {total:.3f} s")
    print("| module | forward s | backward s | share |")
    print("|---|---|---|---|")
    names = dict.fromkeys(name for name, _ in timer.seconds)
    covered = 0.0
    for name in names:
        f = timer.seconds.get((name, "forward"), 0.0) / n
        b = timer.seconds.get((name, "backward"), 0.0) / n
        covered += f + b
        print(f"| {name} | {f:.3f} | {b:.3f} | {100 * (f + b) / total:.1f}% |")
    rest = total - covered
    print(f"| rest | | | {100 * rest / total:.1f}% ({rest:.3f} s) |")


if __name__ == "__main__":
    sys.exit(main())
