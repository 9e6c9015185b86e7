"""Training and generation speed of a preset, fast computation vs. the straightforward one.

    python benchmarks/speed.py --config shapes32 --batch 8 --iters 20
    python benchmarks/speed.py --config paper-coco64 --batch 8 --iters 3 --reference

Reports the median and spread over repeated runs of (a) seconds per training iteration (one D
step + one G step), (b) milliseconds per generated image at batch 1 and at ``--batch`` (eval
mode, no grad) and (c) peak memory (process max RSS on CPU, allocator peak on CUDA). With
``--reference`` the same measurements run in the same process with the straightforward
computation (generator forward recomputed for the G step, image-by-image ConvLSTM, full
composer maps, one discriminator call per input, NCHW), so each figure comes with its ratio.
Layouts are random but realistic (3..8 objects, boxes of varied sizes) from a fixed seed.
Writes ``benchmarks/results/speed-<config>-<device>-b<batch>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from layout2im.config import apply_overrides, load_config
from layout2im.layout import LayoutBatch
from layout2im.training.trainer import Trainer
from layout2im.vocab import Vocabulary

RESULTS = Path(__file__).parent / "results"

FAST = {
    "train.reuse_generator_forward": True,
    "train.batch_discriminator_calls": True,
    "train.channels_last": True,
}
REFERENCE = {k: False for k in FAST}


def random_layouts(batch: int, num_classes: int, generator: torch.Generator) -> LayoutBatch:
    """``batch`` layouts of 3..8 objects with boxes from 10% to 60% of the image side."""
    labels, boxes = [], []
    for _ in range(batch):
        n = int(torch.randint(3, 9, (1,), generator=generator))
        size = 0.1 + 0.5 * torch.rand(n, 2, generator=generator)
        corner = torch.rand(n, 2, generator=generator) * (1 - size)
        boxes.append(torch.cat([corner, corner + size], dim=1))
        labels.append(torch.randint(1, num_classes, (n,), generator=generator))
    return LayoutBatch.from_lists(labels, boxes)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeats: int, device: torch.device) -> list[float]:
    out = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        out.append(time.perf_counter() - start)
    return out


def summary(values: list[float], scale: float = 1.0) -> dict:
    values = [v * scale for v in values]
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def measure(args, mode: dict, device: torch.device) -> dict:
    config = apply_overrides(
        load_config(args.config),
        [f"{k}={str(v).lower()}" for k, v in mode.items()]
        + [f"train.batch_size={args.batch}", f"train.device={device.type}"],
    )
    vocab = Vocabulary([f"c{i}" for i in range(config.model.num_classes)])
    trainer = Trainer(config, vocab, device=device)
    if not mode["train.reuse_generator_forward"]:
        trainer.generator.computation = "reference"
    g = torch.Generator().manual_seed(args.seed)
    size = config.model.image_size
    batches = []
    for _ in range(4):
        layout = random_layouts(args.batch, config.model.num_classes, g)
        batches.append((torch.randn(args.batch, 3, size, size, generator=g), layout))
    k = iter(range(10**9))

    def train_once():
        images, layout = batches[next(k) % len(batches)]
        trainer.train_step(images, layout)

    for _ in range(args.warmup):
        train_once()
    train_times = timed(train_once, args.iters, device)

    generator = trainer.generator.eval()
    result = {"train_s_per_iter": summary(train_times)}
    for gen_batch in sorted({1, args.batch}):
        layout = random_layouts(gen_batch, config.model.num_classes, g).to(device)
        z = torch.randn(layout.num_objects, config.model.z_dim, generator=g).to(device)

        @torch.no_grad()
        def generate(layout=layout, z=z):
            generator.decode(layout, z)

        for _ in range(args.warmup):
            generate()
        times = timed(generate, args.gen_iters, device)
        result[f"generate_ms_per_image_b{gen_batch}"] = summary(times, 1000.0 / gen_batch)
    result["peak_memory_mb"] = peak_memory_mb(device)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", default="shapes32")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--iters", type=int, default=10, help="timed training iterations")
    p.add_argument("--gen-iters", type=int, default=20, help="timed generation calls")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--reference", action="store_true", help="also measure the straightforward computation"
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = {"fast": measure(args, FAST, device)}
    if args.reference:
        rows["reference"] = measure(args, REFERENCE, device)
    record = {
        "config": args.config,
        "batch": args.batch,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "args": {k: str(v) for k, v in vars(args).items()},
        "results": rows,
    }
    table = render(record)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"speed-{args.config}-{device.type}-b{args.batch}"
    (args.out / f"{stem}.json").write_text(json.dumps(record, indent=2))
    (args.out / f"{stem}.md").write_text(table + "\n")
    return 0


def render(record: dict) -> str:
    rows = record["results"]
    metrics = [k for k in rows["fast"] if k != "peak_memory_mb"]
    lines = [
        f"{record['config']}, batch {record['batch']}, {record['device']} "
        f"({record['device_name']}), {record['threads']} threads, torch {record['torch']}",
        "",
        "| measure | fast (median [min, max]) |"
        + (" reference | ratio |" if "reference" in rows else ""),
        "|---|---|" + ("---|---|" if "reference" in rows else ""),
    ]
    for m in metrics:
        f = rows["fast"][m]
        line = f"| {m} | {f['median']:.4g} [{f['min']:.4g}, {f['max']:.4g}] |"
        if "reference" in rows:
            r = rows["reference"][m]
            ratio = r["median"] / f["median"]
            line += f" {r['median']:.4g} [{r['min']:.4g}, {r['max']:.4g}] | {ratio:.2f}x |"
        lines.append(line)
    mem = f"| peak_memory_mb | {rows['fast']['peak_memory_mb']:.0f} |"
    if "reference" in rows:
        mem += f" {rows['reference']['peak_memory_mb']:.0f} (cumulative process peak) | |"
    lines.append(mem)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
