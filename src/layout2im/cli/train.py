"""``layout2im train``, ``average`` and ``info``: training runs, averaged exports, what a
config builds."""

from __future__ import annotations

import argparse
import json
import os

from ..architectures import get_architecture
from ..models.size import generator_module_counts
from ..threads import TRAIN
from . import limits
from .options import CLIError, add_config_args, add_int, add_path, add_threads_arg, config_from_args


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model; writes a run folder and exports the model")
    add_config_args(p)
    p.add_argument("--steps", type=int, help="total training steps (overrides train.steps)")
    add_path(
        p,
        "--out",
        kind="output folder",
        default="runs",
        help="folder of run folders (default: runs)",
    )
    p.add_argument("--desc", help="suffix for the run folder name")
    add_path(
        p,
        "--resume",
        kind="folder",
        nargs="?",
        const=True,
        default=None,
        metavar="RUN_DIR",
        help="continue RUN_DIR, or the latest run of this config under --out",
    )
    add_path(
        p,
        "--init-from",
        kind="folder",
        metavar="MODEL_DIR",
        help="start a new run from this model folder's networks (all three when it holds a "
        "training checkpoint, e.g. from convert-original --discriminators); optimisers start "
        "fresh",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_int(
        p,
        "--nproc",
        bound=limits.PROCESSES,
        help="train with N processes on this machine (runs this command under torchrun)",
    )
    add_int(
        p,
        "--master-port",
        bound=limits.MASTER_PORT,
        help="with --nproc: rendezvous port (default: a free one)",
    )
    add_threads_arg(p, TRAIN)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "average",
        help="export a model whose generator is the average of a run's checkpoints",
        description="Average the generator weights over a run's checkpoints (Polyak averaging: "
        "parameters and BatchNorm statistics, the arithmetic mean) and save the result as a "
        "model folder, as `train` exports its final generator.",
    )
    add_path(
        p,
        "run",
        kind="folder",
        metavar="RUN_DIR",
        help="a run folder (runs/NNNNN-name) with checkpoints/ckpt-*.pt",
    )
    add_path(
        p,
        "--out",
        kind="output folder",
        required=True,
        help="model folder to write (replaced if present)",
    )
    p.add_argument("--from-step", type=int, help="only checkpoints of this step or later")
    p.add_argument("--last", type=int, help="only the newest N of the chosen checkpoints")
    p.set_defaults(func=cmd_average)

    p = sub.add_parser("info", help="parameter counts and settings of a config")
    add_config_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)


def cmd_train(args) -> int:
    # training/ is loaded when a training command runs: generate and serve start without it
    from ..training.distributed import launch_local
    from ..training.loop import train

    config = config_from_args(args)
    if args.nproc is not None and "WORLD_SIZE" not in os.environ:
        return launch_local(
            args.nproc, without_options(args.argv, "--nproc", "--master-port"), args.master_port
        )
    run_dir = train(
        config,
        out_root=args.out,
        resume=args.resume,
        desc=args.desc,
        progress=not args.no_progress,
        init_from=args.init_from,
    ).run_dir
    if os.environ.get("RANK", "0") == "0":
        print(f"run folder: {run_dir}")
        print(f"model:      {run_dir / 'model'}")
    return 0


def without_options(argv: list[str], *options: str) -> list[str]:
    """``argv`` less the given options and their values (``--opt V`` or ``--opt=V``)."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item in options:
            skip = True
        elif not any(item.startswith(opt + "=") for opt in options):
            out.append(item)
    return out


def cmd_average(args) -> int:
    # training/ is loaded when a training command runs: generate and serve start without it
    from ..training.averaging import export_averaged_model

    if args.last is not None and args.last < 1:
        raise CLIError("--last must be at least 1")
    if args.from_step is not None and args.from_step < 0:
        raise CLIError("--from-step must be >= 0")
    out, steps = export_averaged_model(args.run, args.out, args.from_step, args.last)
    shown = ", ".join(str(s) for s in steps)
    print(f"averaged {len(steps)} checkpoints (steps {shown})")
    print(f"model: {out}")
    return 0


def cmd_info(args) -> int:
    config = config_from_args(args)
    m = config.model
    if m.num_classes is None:
        raise CLIError(
            f"config {config.name}: model.num_classes is null (read from the data when training "
            "starts); give the count to see the parameters: --set model.num_classes=N "
            "(`layout2im data inspect` prints the vocabulary size)"
        )
    architecture = get_architecture("layout2im")  # what a training config describes
    info = {
        "name": config.name,
        "architecture": architecture.name,
        "params": architecture.parameter_counts(m),
        "generator_modules": generator_module_counts(m),
        "config": config.model_dump(),
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(
            f"config {config.name}: {architecture.name}, {m.image_size}x{m.image_size} images, "
            f"{m.num_classes} classes, z_dim {m.z_dim}"
        )
        for key, value in info["params"].items():
            print(f"  {key:<22} {value / 1e6:8.2f}M parameters")
            if key == "generator":  # its modules under it
                for module, count in info["generator_modules"].items():
                    print(f"    {module:<20} {count / 1e6:8.2f}M")
    return 0
