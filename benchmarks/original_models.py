"""Converting the authors' models: conversion time, parameter counts, generation speed.

    python benchmarks/original_models.py --reps 7

The authors' files are not needed: random tensors with the original's key names and shapes (from
the library's key table) stand in for ``netG_coco.pt``, ``netG_vg.pt`` and the training script's
discriminator files; conversion and generation cost do not depend on the values. Measures

- the wall time of ``layout2im.conversion.convert_original`` (reading, mapping, checking,
  writing the model folder; COCO with both discriminators, and VG with the generator only);
- the parameter counts of the converted networks;
- the generation speed of the converted ``paper-coco64`` model: one 8-object layout, the
  pipeline's ``generate_tensor`` (eval mode, no grad) at batch 1 and 8, float32 and bf16
  autocast, after 2 untimed calls, ``--reps`` timed calls each, round-robin so that load drift
  on a shared machine affects every setting alike (bf16: ``--bf16-reps`` calls, after one
  warm-up call at batch 1: without bfloat16 instructions a CPU emulates it, minutes per call).
  Median [min, max] are reported.

Writes ``benchmarks/results/original-models-<device>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from layout2im.conversion import convert_original
from layout2im.conversion.key_table import (
    GENERATOR_LAYERS,
    IMAGE_DISCRIMINATOR_LAYERS,
    OBJECT_DISCRIMINATOR_LAYERS,
    expand,
)
from layout2im.devices import parse_device
from layout2im.fsutil import write_text
from layout2im.pipeline import Layout2ImPipeline

RESULTS = Path(__file__).parent / "results"
LAYOUT = {
    "objects": [
        {"category": "sky-other", "box": [0.0, 0.0, 1.0, 0.45]},
        {"category": "grass", "box": [0.0, 0.55, 1.0, 1.0]},
        {"category": "tree", "box": [0.02, 0.15, 0.3, 0.7]},
        {"category": "person", "box": [0.4, 0.35, 0.55, 0.85]},
        {"category": "dog", "box": [0.6, 0.6, 0.8, 0.85]},
        {"category": "clouds", "box": [0.5, 0.05, 0.9, 0.25]},
        {"category": "bench", "box": [0.25, 0.65, 0.45, 0.85]},
        {"category": "house", "box": [0.75, 0.25, 0.98, 0.6]},
    ]
}


def random_original_file(layers, num_classes: int, path: Path, seed: int) -> None:
    """A state dict with the original's names and shapes (random values) saved at ``path``."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for m in expand(layers, num_classes):
        if m.original.endswith("num_batches_tracked"):
            state[m.original] = torch.tensor(0)
        elif m.original.endswith("running_var"):
            state[m.original] = torch.ones(m.shape)
        elif m.original.endswith("embed.weight"):  # conditional BN: scale 1, shift 0
            c = m.shape[1] // 2
            state[m.original] = torch.cat(
                [torch.ones(m.shape[0], c), torch.zeros(m.shape[0], c)], 1
            )
        elif len(m.shape) >= 2 and "embedding" not in m.original:
            # weights at the scale of a trained network's (activations neither vanish into
            # denormal numbers, which CPUs compute far more slowly, nor explode)
            fan_in = m.shape[0] if ".dc" in m.original else math.prod(m.shape[1:])
            state[m.original] = torch.randn(m.shape, generator=g) / fan_in**0.5
        else:
            state[m.original] = torch.randn(m.shape, generator=g) * 0.1
    torch.save(state, path)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--reps", type=int, default=7, help="timed repetitions of each measure")
    p.add_argument(
        "--bf16-reps",
        type=int,
        default=2,
        help="timed repetitions in bf16 (on CPUs without bfloat16 instructions each batch-8 "
        "call takes minutes)",
    )
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    device = parse_device(args.device)
    tmp = Path(tempfile.mkdtemp(prefix="original-models-"))
    files = {
        "netG_coco": (GENERATOR_LAYERS, 184),
        "netD_image": (IMAGE_DISCRIMINATOR_LAYERS, 1),
        "netD_object": (OBJECT_DISCRIMINATOR_LAYERS, 184),
        "netG_vg": (GENERATOR_LAYERS, 179),
    }
    for i, (name, (layers, k)) in enumerate(files.items()):
        random_original_file(layers, k, tmp / f"{name}.pt", seed=i)
    vocab = tmp / "vocab.json"
    vocab.write_text(
        json.dumps({"object_idx_to_name": ["__image__", *(f"c{i}" for i in range(178))]})
    )

    conversions = {"coco": [], "vg": []}
    parameters = {}
    for _ in range(max(3, args.reps // 2)):
        r = convert_original(
            tmp / "netG_coco.pt", "coco", tmp / "coco",
            image_discriminator_file=tmp / "netD_image.pt",
            object_discriminator_file=tmp / "netD_object.pt",
        )  # fmt: skip
        conversions["coco"].append(r.seconds)
        parameters["coco"] = r.parameters
        r = convert_original(tmp / "netG_vg.pt", "vg", tmp / "vg", vocab_file=vocab)
        conversions["vg"].append(r.seconds)
        parameters["vg"] = r.parameters
        progress(f"conversion: coco {conversions['coco'][-1]:.2f} s, vg {r.seconds:.2f} s")

    pipe = Layout2ImPipeline.from_pretrained(tmp / "coco", device=device)
    layout = pipe.parse(LAYOUT)
    settings = [(b, amp) for amp in ("off", "bf16") for b in (1, 8)]
    latents = {b: pipe.latents(layout, b, seed=0) for b in (1, 8)}
    times: dict[str, list[float]] = {f"b{b}-{amp}": [] for b, amp in settings}

    def call(b: int, amp: str):
        pipe.amp = amp
        pipe.generate_tensor(layout, latents[b])
        if device.type == "cuda":
            torch.cuda.synchronize()

    for b, amp in settings:  # warm-up: two calls each in float32, one at batch 1 in bf16
        for _ in range(2 if amp == "off" else int(b == 1)):
            call(b, amp)
        progress(f"warmed up batch {b}, amp {amp}")
    for rep in range(max(args.reps, args.bf16_reps)):
        for b, amp in settings:
            if rep < (args.reps if amp == "off" else args.bf16_reps):
                times[f"b{b}-{amp}"] += timed(lambda b=b, amp=amp: call(b, amp), 1)
                progress(f"round {rep + 1}: batch {b}, amp {amp}: {times[f'b{b}-{amp}'][-1]:.2f} s")
    generation = {
        key: {**summary([t * 1e3 / int(key[1:].split("-")[0]) for t in values]), "unit": "ms/image"}
        for key, values in times.items()
    }
    result = {
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "load_average_at_end": os.getloadavg(),
        "reps": args.reps,
        "bf16_reps": args.bf16_reps,
        "conversion_seconds": {k: summary(v) for k, v in conversions.items()},
        "parameters": parameters,
        "generation": generation,
        "command": " ".join(["python", *sys.argv]),
    }
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"original-models-{device.type}"
    write_text(stem.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    write_text(stem.with_suffix(".md"), markdown(result))
    print(markdown(result))
    return 0


def markdown(r: dict) -> str:
    lines = [
        f"Converted authors' models on {r['device']} ({r['cpus']} CPUs, {r['threads']} threads, "
        f"torch {r['torch']}; load average at the end {r['load_average_at_end'][0]:.1f}: a "
        f"shared machine, so medians of {r['reps']} round-robin repetitions (bf16: "
        f"{r['bf16_reps']}) with their range).",
        "",
        f"Command: `{r['command']}`",
        "",
        "| conversion | seconds (median [min, max]) | generator | image D | object D |",
        "|---|---|---|---|---|",
    ]
    for ds, s in r["conversion_seconds"].items():
        p = r["parameters"][ds]
        counts = [f"{p[k]:,}" if k in p else "-" for k in
                  ("generator", "image_discriminator", "object_discriminator")]  # fmt: skip
        what = "G + both Ds" if ds == "coco" else "G only"
        lines.append(
            f"| {ds} ({what}) | {s['median']:.2f} [{s['min']:.2f}, {s['max']:.2f}] | "
            + " | ".join(counts) + " |"
        )  # fmt: skip
    lines += [
        "",
        "| generation, paper-coco64, 8 objects | ms per image (median [min, max]) |",
        "|---|---|",
    ]
    for key, s in r["generation"].items():
        b, amp = key.split("-")
        label = f"batch {b[1:]}, {'float32' if amp == 'off' else 'bf16 autocast'}"
        lines.append(f"| {label} | {s['median']:.1f} [{s['min']:.1f}, {s['max']:.1f}] |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
