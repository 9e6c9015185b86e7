"""``layout2im generate`` and ``demo``: images for a layout file, or for the example layouts."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..layout import example_layouts, load_layout_file
from ..pipeline import Layout2ImPipeline, default_model, shipped_models
from ..schema.layout import SEED_LIMIT
from ..threads import GENERATE
from ..visualize import save_generation
from . import limits
from .options import CLIError, add_device_arg, add_int, add_model_arg, add_path, add_threads_arg


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate images for a layout JSON file")
    add_model_arg(
        p,
        "a model folder (config.json, model.safetensors, vocab.json) or the name of a "
        "shipped model (default: the shipped default model)",
    )
    add_path(p, "--layout", kind="file", required=True, help="layout JSON file")
    add_int(
        p,
        "--samples",
        bound=limits.GENERATE_SAMPLES,
        default=4,
        help="images to generate (default 4)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_path(p, "--out", kind="output folder", default="outputs/generate", help="output folder")
    p.add_argument(
        "--rescale",
        choices=("clamp", "minmax"),
        default=None,
        help="how images are mapped to pixels: clamp, or minmax (per-image min-max, as the "
        "authors' test.py saved images); default: the model's model.output_rescale",
    )
    p.add_argument(
        "--masks",
        action="store_true",
        help="also write each object's mask per sample (<layout>-sampleNN-maskJJ.png, grayscale; "
        "architectures with masks, such as lostgan-v2)",
    )
    add_device_arg(p)
    p.add_argument(
        "--amp",
        choices=("off", "bf16"),
        default="off",
        help="bf16: bfloat16 autocast (faster on CPUs with AVX512-BF16/AMX; default off)",
    )
    add_threads_arg(p, GENERATE)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "demo", help="generate the example layouts with the shipped model (--train: train first)"
    )
    add_path(
        p,
        "--out",
        kind="output folder",
        default="outputs/demo",
        help="output folder (default outputs/demo)",
    )
    p.add_argument(
        "--train",
        action="store_true",
        help="train shapes32 on the built-in shapes dataset first (a few minutes) and generate "
        "with that model instead of the shipped one",
    )
    p.add_argument(
        "--steps", type=int, default=None, help="training steps with --train (default: the demo's)"
    )
    add_path(
        p,
        "--runs",
        kind="output folder",
        only_with="train",
        default="runs",
        help="folder of run folders (with --train)",
    )
    add_int(
        p, "--samples", bound=limits.DEMO_SAMPLES, default=6, help="samples per layout (default 6)"
    )
    add_threads_arg(p, GENERATE)
    p.set_defaults(func=cmd_demo)


def cmd_generate(args) -> int:
    if not 0 <= args.seed < SEED_LIMIT:
        raise CLIError(f"--seed must be between 0 and 2**63 - 1, got {args.seed}")
    model = args.model if args.model is not None else default_model()
    pipe = Layout2ImPipeline.from_pretrained(model, device=args.device, amp=args.amp)
    if args.masks and not pipe.architecture.capabilities.masks:
        raise CLIError(
            f"--masks: the {pipe.architecture.name} architecture makes no object masks "
            "(lostgan-v2 does)"
        )
    layout = load_layout_file(args.layout, pipe.vocab, pipe.config.z_dim, pipe.object_limit)
    start = time.perf_counter()
    result = pipe(layout, num_samples=args.samples, seed=args.seed, rescale=args.rescale)
    elapsed = time.perf_counter() - start
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    stem = Path(args.layout).stem
    paths = save_generation(result, pipe.vocab, Path(args.out), stem, masks=args.masks)
    print(f"generated {args.samples} image(s) in {elapsed * 1000:.0f} ms")
    for path in paths:
        print(path)
    return 0


def cmd_demo(args) -> int:
    if args.steps is not None and not args.train:
        raise CLIError("--steps only applies with --train (the demo otherwise trains nothing)")
    if args.steps is not None and args.steps < 1:
        raise CLIError(f"--steps must be positive, got {args.steps}")
    run_dir = None
    if args.train or not shipped_models():
        if not args.train:
            print("layout2im demo: no model is shipped with this installation; training one")
        run_dir = _train_demo_model(args.runs, args.steps, args.threads)
        model = run_dir / "model"
    else:
        model = default_model()
        print(f"layout2im demo: the shipped model {model.name!r} ({model})")
    pipe = Layout2ImPipeline.from_pretrained(model)
    out = Path(args.out)
    written = []
    start = time.perf_counter()
    for path in sorted(example_layouts()):
        layout = load_layout_file(path, pipe.vocab, pipe.config.z_dim, pipe.object_limit)
        result = pipe(layout, num_samples=args.samples, seed=0)
        written.append(save_generation(result, pipe.vocab, out, path.stem)[0])
    elapsed = time.perf_counter() - start
    if run_dir is not None:
        print(f"run folder: {run_dir} (training samples in {run_dir / 'samples'})")
    print(
        f"generated {len(written)} layouts x {args.samples} samples in {elapsed:.1f} s; grids "
        f"(layout | {args.samples} samples; second row with boxes drawn):"
    )
    for path in written:
        print(f"  {path}")
    return 0


def _train_demo_model(runs: str, steps: int | None, threads: int | None) -> Path:
    # training/ is loaded only when the demo trains: generating starts without it
    from ..training.demo import DEMO_PRESET, DEMO_STEPS, train_demo_model

    steps = DEMO_STEPS if steps is None else steps
    print(
        f"layout2im demo: training {DEMO_PRESET} on the built-in shapes dataset for {steps} steps"
    )
    return train_demo_model(runs, steps, threads)
