"""LostGAN-v2 generators: parameter counts, conversion time, generation speed on this machine.

    python benchmarks/lostgan_models.py --reps 3

The authors' files are not needed: random tensors with the original's key names and shapes
(from the library's key table, u and v of every spectral norm from a few power iterations, as a
trained network has them) stand in for their released ``G_coco``/``G_vg`` files; conversion and
generation cost do not depend on the values. Measures

- the parameter counts of the 128 and 256 generators for COCO-Stuff and Visual Genome;
- the wall time of converting a COCO-Stuff file into a model folder
  (:func:`layout2im.conversion.convert_lostgan`: ``torch.load`` with ``weights_only=True``,
  the key table's checks, building and loading the generator, writing the folder);
- generation with one 8-object layout (the COCO-Stuff loader's slots, 5 objects and 3 padding
  objects), eval mode, no grad, at batch 1 and 8, 128 and 256, float32 and bf16 autocast, after
  one untimed call each, ``--reps`` timed calls round-robin so that load drift on a shared
  machine affects every setting alike. Median [min, max] per image are reported.

Writes ``benchmarks/results/lostgan-v2-<device>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from layout2im.architectures import get_architecture
from layout2im.conversion.lostgan import convert_lostgan
from layout2im.conversion.lostgan_keys import lostgan_generator_keys
from layout2im.fsutil import write_text
from layout2im.hardware import cpu_summary
from layout2im.model_folder import load_model_folder
from layout2im.models.lostgan import PADDING_BOX, LostGANConfig

RESULTS = Path(__file__).parent / "results"
BOXES = [  # [x0, y0, w, h]
    (0.0, 0.0, 1.0, 0.45),
    (0.0, 0.55, 1.0, 0.45),
    (0.02, 0.15, 0.28, 0.55),
    (0.4, 0.35, 0.15, 0.5),
    (0.6, 0.6, 0.2, 0.25),
]
LABELS = [157, 124, 169, 1, 18]  # sky-other, grass, tree, person, dog


def random_original_state(config: LostGANConfig, seed: int) -> dict[str, torch.Tensor]:
    """The authors' state dict of ``config`` with random values at a trained network's scale."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for m in lostgan_generator_keys(config):
        if not m.ours:
            continue  # read and not used: the pre-1.0 normalised weight of a spectral norm,
            # the ICCV 2019 ISLA-Norm's own statistics; the LostGAN-v2 code saves neither
        if m.original.endswith("num_batches_tracked"):
            state[m.original] = torch.tensor(0)
        elif m.original.endswith("running_var"):
            state[m.original] = torch.ones(m.shape)
        elif len(m.shape) >= 2 and not m.original.startswith(("alpha", "label_embedding")):
            state[m.original] = torch.randn(m.shape, generator=g) / math.prod(m.shape[1:]) ** 0.5
        else:
            state[m.original] = torch.randn(m.shape, generator=g) * 0.1
    for key in [k for k in state if k.endswith(".weight_orig")]:
        prefix = key[: -len("_orig")]
        mat = state[key].flatten(1)
        u = F.normalize(torch.randn(mat.shape[0], generator=g), dim=0)
        for _ in range(3):
            v = F.normalize(mat.t() @ u, dim=0)
            u = F.normalize(mat @ v, dim=0)
        state[prefix + "_u"], state[prefix + "_v"] = u, v
    return state


def layout_inputs(batch: int, config: LostGANConfig):
    """Labels (B, 8), boxes (B, 8, 4) float64, codes (B, 8, 128), image codes (B, 128)."""
    slots = config.object_slots
    padding = slots - len(BOXES)
    labels = torch.tensor([LABELS + [0] * padding] * batch)
    boxes = torch.tensor([BOXES + [PADDING_BOX] * padding] * batch, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(batch, slots, config.z_dim, generator=g).clamp(-2, 2)
    image_codes = torch.randn(batch, config.z_dim, generator=g).clamp(-2, 2)
    return labels, boxes, codes, image_codes


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--reps", type=int, default=3, help="timed repetitions of each measure")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    device = torch.device(args.device)

    architecture = get_architecture("lostgan-v2")
    parameters = {}
    for resolution in (128, 256):
        for dataset in ("coco", "vg"):
            config = LostGANConfig.for_dataset(dataset, resolution)
            parameters[f"{dataset}-{resolution}"] = architecture.parameter_counts(config)[
                "generator"
            ]

    tmp = Path(tempfile.mkdtemp(prefix="lostgan-models-"))
    generators, conversion = {}, {}
    for resolution in (128, 256):
        path = tmp / f"G_coco_{resolution}.pth"
        state = random_original_state(LostGANConfig.for_dataset("coco", resolution), resolution)
        torch.save({f"module.{k}": v for k, v in state.items()}, path)
        del state
        seconds = []
        for _ in range(args.reps):
            result = convert_lostgan(path, "coco", tmp / f"model-{resolution}")
            seconds.append(result.seconds)
        generators[resolution] = load_model_folder(tmp / f"model-{resolution}").generator
        generators[resolution].to(device)
        conversion[str(resolution)] = summary(seconds)
        path.unlink()
        progress(f"conversion {resolution}: {seconds}")

    settings = [(r, b, amp) for r in (128, 256) for amp in ("off", "bf16") for b in (1, 8)]
    inputs = {
        (r, b): [t.to(device) for t in layout_inputs(b, generators[r].config)]
        for r in (128, 256)
        for b in (1, 8)
    }

    @torch.no_grad()
    def call(r: int, b: int, amp: str) -> float:
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp == "bf16"):
            generators[r](*inputs[r, b]).images.float()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    times: dict[str, list[float]] = {f"{r}-b{b}-{amp}": [] for r, b, amp in settings}
    for r, b, amp in settings:
        call(r, b, amp)
        progress(f"warmed up {r}, batch {b}, amp {amp}")
    for rep in range(args.reps):
        for r, b, amp in settings:
            key = f"{r}-b{b}-{amp}"
            times[key].append(call(r, b, amp) / b)
            progress(f"round {rep + 1}: {key}: {times[key][-1]:.3f} s/image")
    result = {
        "device": str(device),
        "cpu": cpu_summary(),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "load_average_at_end": os.getloadavg(),
        "reps": args.reps,
        "parameters": parameters,
        "conversion_seconds": conversion,
        "generation_ms_per_image": {
            k: {key: v * 1e3 for key, v in summary(values).items()} for k, values in times.items()
        },
        "command": " ".join(["python", *sys.argv]),
    }
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"lostgan-v2-{device.type}"
    write_text(stem.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    write_text(stem.with_suffix(".md"), markdown(result))
    print(markdown(result))
    return 0


def markdown(r: dict) -> str:
    def span(s: dict, unit: str = "") -> str:
        return f"{s['median']:.0f}{unit} [{s['min']:.0f}, {s['max']:.0f}]"

    lines = [
        f"LostGAN-v2 generators on {r['device']} ({r['cpu']}; {r['cpus']} CPUs, {r['threads']} "
        f"threads, torch {r['torch']}; load average at the end {r['load_average_at_end'][0]:.1f}: "
        f"a shared machine, so medians of {r['reps']} round-robin repetitions with their range).",
        "",
        f"Command: `{r['command']}`",
        "",
        "| generator | parameters |",
        "|---|---|",
        *(f"| {k} | {v:,} |" for k, v in r["parameters"].items()),
        "",
        "| conversion into a model folder | seconds |",
        "|---|---|",
        *(
            f"| {k}x{k} COCO-Stuff | {s['median']:.1f} [{s['min']:.1f}, {s['max']:.1f}] |"
            for k, s in r["conversion_seconds"].items()
        ),
        "",
        "| generation, 8 slots (5 objects) | batch 1 | batch 8 |",
        "|---|---|---|",
    ]
    g = r["generation_ms_per_image"]
    for res in (128, 256):
        for amp, name in (("off", "float32"), ("bf16", "bf16 autocast")):
            b1, b8 = g[f"{res}-b1-{amp}"], g[f"{res}-b8-{amp}"]
            lines.append(f"| {res}x{res} {name} | {span(b1, ' ms')} | {span(b8, ' ms')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
