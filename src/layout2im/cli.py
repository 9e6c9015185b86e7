"""``layout2im`` command line: parse, build config, call the library, print.

Every expected failure (bad layout, config, model folder, dataset) prints one ``error:`` line
and exits with status 2; nothing is written before the input has been validated.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from . import __version__
from .config import Config, apply_overrides, load_config, preset_names
from .errors import Layout2ImError, short
from .fsutil import check_output_folder

EXIT_USAGE = 2
SEED_LIMIT = 2**63


class CLIError(Layout2ImError):
    """A bad command-line value: printed as ``error: ...`` with exit status 2."""


EVALUATE_ACTIONS = ("run", "layouts", "images", "train-classifier", "list")


def _default_evaluate_action(argv: list[str]) -> list[str]:
    """``layout2im evaluate --model ...`` means ``layout2im evaluate run --model ...``."""
    if argv and argv[0] == "evaluate":
        rest = argv[1:]
        if not rest or (rest[0] not in EVALUATE_ACTIONS and rest[0] not in ("-h", "--help")):
            return ["evaluate", "run", *rest]
    return argv


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_default_evaluate_action(argv))
    args.argv = argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("layout2im").setLevel(
        logging.INFO if getattr(args, "verbose", True) else logging.WARNING
    )
    if not hasattr(args, "func"):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Layout2ImError as exc:
        print(f"error: {_worker_message(str(exc))}", file=sys.stderr)
        return EXIT_USAGE


def _worker_message(message: str) -> str:
    """The original message of an error re-raised from a DataLoader worker, whose text is
    "Caught X in DataLoader worker process N. Original Traceback ...: module.X: message"."""
    if message.startswith("Caught ") and "Original Traceback" in message:
        last = message.rstrip().splitlines()[-1]
        return last.split(": ", 1)[1] if ": " in last else last
    return message


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layout2im",
        description="Image generation from layout (Layout2Im, Zhao et al., CVPR 2019).",
    )
    parser.add_argument("--version", action="version", version=f"layout2im {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")

    p = sub.add_parser("train", help="train a model; writes a run folder and exports the model")
    _config_args(p)
    p.add_argument("--steps", type=int, help="total training steps (overrides train.steps)")
    p.add_argument("--out", default="runs", help="folder of run folders (default: runs)")
    p.add_argument("--desc", help="suffix for the run folder name")
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="RUN_DIR",
        help="continue RUN_DIR, or the latest run of this config under --out",
    )
    p.add_argument(
        "--init-from",
        metavar="MODEL_DIR",
        help="start a new run from this model folder's networks (all three when it holds a "
        "training checkpoint, e.g. from convert-original --discriminators); optimisers start "
        "fresh",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--nproc",
        type=int,
        help="train with N processes on this machine (runs this command under torchrun)",
    )
    p.add_argument(
        "--master-port", type=int, help="with --nproc: rendezvous port (default: a free one)"
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "average",
        help="export a model whose generator is the average of a run's checkpoints",
        description="Average the generator weights over a run's checkpoints (Polyak averaging: "
        "parameters and BatchNorm statistics, the arithmetic mean) and save the result as a "
        "model folder, as `train` exports its final generator.",
    )
    p.add_argument("run", help="a run folder (runs/NNNNN-name) with checkpoints/ckpt-*.pt")
    p.add_argument("--out", required=True, help="model folder to write (replaced if present)")
    p.add_argument("--from-step", type=int, help="only checkpoints of this step or later")
    p.add_argument("--last", type=int, help="only the newest N of the chosen checkpoints")
    p.set_defaults(func=cmd_average)

    p = sub.add_parser(
        "convert-original",
        help="convert the authors' trained COCO or Visual Genome model into a model folder",
        description="Convert the generator state dict of the authors' code (zhaobozb/layout2im: "
        "the released netG_coco.pt / netG_vg.pt, or a training script's iter-N_netG.pkl) into "
        "a model folder (config.json, model.safetensors, vocab.json) for generate, serve, "
        "evaluate and train --init-from. Files are read with torch.load(weights_only=True) "
        "only. See docs/original-models.md.",
    )
    p.add_argument("generator", help="the authors' generator state dict (.pt or .pkl)")
    p.add_argument(
        "--dataset", required=True, choices=("coco", "vg"), help="what it was trained on"
    )
    p.add_argument("--out", required=True, help="model folder to write (replaced if a model)")
    p.add_argument(
        "--vocab",
        help="vg only: the vocab.json the original VG preprocessing wrote (or a layout2im one)",
    )
    p.add_argument(
        "--vg-root",
        help="vg only: take the vocabulary from layout2im's preprocessing of this VG folder",
    )
    p.add_argument(
        "--discriminators",
        nargs=2,
        metavar=("NETD_IMAGE", "NETD_OBJECT"),
        help="also convert the training script's iter-N_netD_image.pkl and iter-N_netD_object.pkl "
        "into a training checkpoint (for train --init-from)",
    )
    p.set_defaults(func=cmd_convert_original)

    p = sub.add_parser("generate", help="generate images for a layout JSON file")
    p.add_argument(
        "--model",
        default=None,
        help="a model folder (config.json, model.safetensors, vocab.json) or the name of a "
        "shipped model (default: the shipped default model)",
    )
    p.add_argument("--layout", required=True, help="layout JSON file")
    p.add_argument("--samples", type=int, default=4, help="images to generate (default 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default="outputs/generate", help="output folder")
    p.add_argument(
        "--rescale",
        choices=("clamp", "minmax"),
        default=None,
        help="how images are mapped to pixels: clamp, or minmax (per-image min-max, as the "
        "authors' test.py saved images); default: the model's model.output_rescale",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--amp",
        choices=("off", "bf16"),
        default="off",
        help="bf16: bfloat16 autocast (faster on CPUs with AVX512-BF16/AMX; default off)",
    )
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("serve", help="the interactive layout editor in the browser")
    p.add_argument(
        "--model",
        help="a model folder or the name of a shipped model (default: the shipped default model)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes it)",
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks one)")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this host name (e.g. the name a reverse proxy forwards); "
        "by default only loopback names and the --host address are answered, any with "
        "--host 0.0.0.0 or ::",
    )
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("info", help="parameter counts and settings of a config")
    _config_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "demo", help="generate the example layouts with the shipped model (--train: train first)"
    )
    p.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    p.add_argument(
        "--train",
        action="store_true",
        help="train shapes32 on the built-in shapes dataset first (a few minutes) and generate "
        "with that model instead of the shipped one",
    )
    p.add_argument(
        "--steps", type=int, default=None, help="training steps with --train (default: the demo's)"
    )
    p.add_argument("--runs", default="runs", help="folder of run folders (with --train)")
    p.add_argument("--samples", type=int, default=6, help="samples per layout (default 6)")
    p.set_defaults(func=cmd_demo)

    data = sub.add_parser("data", help="dataset tools").add_subparsers(metavar="DATA_COMMAND")
    p = data.add_parser("export-shapes", help="write the synthetic shapes dataset in COCO format")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--images", type=int, default=1000, help="number of images")
    p.add_argument("--size", type=int, default=64, help="image side in pixels")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (0 = training scenes)")
    p.set_defaults(func=cmd_export_shapes)

    p = data.add_parser(
        "inspect",
        help="what the dataset filters kept and dropped, split sizes, objects per image",
    )
    _config_args(p)
    p.add_argument(
        "--check-images", action="store_true", help="decode every image and list unreadable ones"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_data_inspect)

    p = data.add_parser(
        "prepare-vg", help="preprocess Visual Genome (sg2im's rules) into a cached index"
    )
    p.add_argument("--config", default="paper-vg64", help="preset or YAML (default paper-vg64)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    p.add_argument("--root", help="the Visual Genome folder (sets data.root)")
    p.add_argument("--force", action="store_true", help="rebuild even if a cached index exists")
    p.set_defaults(func=cmd_prepare_vg)

    _evaluate_parsers(sub)
    return parser


def _evaluate_parsers(sub) -> None:
    from .evaluation.protocols import protocol_names

    ev = sub.add_parser(
        "evaluate",
        help="metrics of a model under a pinned protocol (FID, IS, diversity, object accuracy)",
        description=(
            "layout2im evaluate [run] --model DIR --config DATA_CONFIG [...]: generate images for "
            "the protocol's layouts and compute metrics; `run` may be left out. "
            "layout2im evaluate train-classifier --config DATA_CONFIG: train the dataset's "
            "object classifier (or scene feature network). layout2im evaluate list: metrics "
            "and protocols."
        ),
    )
    actions = ev.add_subparsers(metavar="ACTION")

    p = actions.add_parser("run", help="evaluate a model folder (the default action)")
    p.add_argument(
        "--model", required=True, help="a model folder (config.json, ...) or a shipped model's name"
    )
    _scoring_args(p, config_help="(default: a shipped model's own preset)")
    p.set_defaults(func=cmd_evaluate)

    p = actions.add_parser(
        "layouts",
        help="write a protocol's layouts (JSON lines) for another system to draw",
        description=(
            "Write the protocol's layouts in order, one JSON object a line after a header "
            "line: id, real image id, boxes normalised and in pixels, category names and ids. "
            "Draw one image per layout as <id>.png (several: <id>_<k>.png, k = 0, 1, ...) and "
            "score the folder with `layout2im evaluate images`. See docs/evaluation.md."
        ),
    )
    _config_args(p)
    p.add_argument("--protocol", choices=protocol_names(), help="(default: the dataset's)")
    p.add_argument("--out", required=True, help="the layouts file to write (.jsonl)")
    p.add_argument("--num-images", type=int, help="only the first N layouts (quick checks)")
    p.add_argument("--image-size", type=int, help="image side (for protocols that fix none)")
    p.set_defaults(func=cmd_evaluate_layouts)

    p = actions.add_parser(
        "images",
        help="score a folder of any system's images under a protocol",
        description=(
            "Score the images in DIR, named by the ids `layout2im evaluate layouts` writes, "
            "with the protocol's metrics. Missing, extra, unreadable or wrongly sized images "
            "are reported by name; an incomplete folder is refused unless --allow-missing."
        ),
    )
    p.add_argument("folder", metavar="DIR", help="folder of PNG/JPEG images named <id>.png")
    _scoring_args(p)
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="score the layouts whose images are all there and readable (says how many)",
    )
    p.add_argument("--image-size", type=int, help="image side (for protocols that fix none)")
    p.set_defaults(func=cmd_evaluate_images)

    p = actions.add_parser(
        "train-classifier",
        help="train the object classifier (or scene feature network) on real images",
    )
    _config_args(p)
    p.add_argument(
        "--kind",
        choices=("objects", "scenes"),
        default="objects",
        help="objects: classifier of object crops (object accuracy); scenes: whole-image "
        "features (fid-shapes, diversity-shapes). Default objects",
    )
    p.add_argument(
        "--out",
        help="output path without suffix; writes PATH.safetensors and PATH.json "
        "(default outputs/eval-networks/<data>-<kind>)",
    )
    p.add_argument("--steps", type=int, default=1500, help="training steps (default 1500)")
    p.add_argument("--batch-size", type=int, default=32, help="images per step (default 32)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (default 2e-3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-images", type=int, default=500, help="held-out images to score")
    p.add_argument(
        "--input-size",
        type=int,
        default=32,
        help="network input side: object crops are resized to it (default 32, the paper's)",
    )
    p.add_argument(
        "--widths",
        help="residual stage channels, comma-separated (default: NetworkConfig's, 32,64,96)",
    )
    p.add_argument(
        "--stem-channels",
        type=int,
        help="channels of the stem conv (default: NetworkConfig's, 24)",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train_classifier)

    p = actions.add_parser("list", help="list metrics and protocols")
    p.set_defaults(func=cmd_evaluate_list)


def _scoring_args(p: argparse.ArgumentParser, config_help: str | None = None) -> None:
    """The options of commands that score images under a protocol; with ``config_help``,
    ``--config`` may be left out (the command then finds the config itself)."""
    from .evaluation.protocols import protocol_names

    _config_args(p, config_help)
    p.add_argument(
        "--protocol",
        choices=protocol_names(),
        help="evaluation protocol (default: the dataset's: shapes32, paper-coco64, paper-vg64)",
    )
    p.add_argument(
        "--metrics",
        nargs="+",
        metavar="NAME",
        help="metrics to compute, names separated by spaces or commas (default: the protocol's)",
    )
    p.add_argument("--out", help="write the results JSON here")
    p.add_argument("--markdown", help="also write the table (with the protocol line) here")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    p.add_argument("--num-images", type=int, help="use only the first N layouts (quick checks)")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64)")
    p.add_argument("--inception", help="Inception pool3 TorchScript file for FID")
    p.add_argument(
        "--inception-logits", help="pt_inception-2015-12-05-6726825d.pth (pytorch-fid) for IS"
    )
    p.add_argument(
        "--lpips-weights", help="folder with alexnet-owt-7be5be79.pth and LPIPS v0.1 alex.pth"
    )
    p.add_argument("--classifier", help="object classifier (from train-classifier)")
    p.add_argument(
        "--scene-features", help="scene feature network (train-classifier --kind scenes)"
    )
    p.add_argument(
        "--cache-dir", help="real statistics cache (default $LAYOUT2IM_CACHE or ~/.cache/layout2im)"
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _scoring_options(args) -> dict:
    """The keyword arguments of evaluate_model and score_folder that the options give."""
    from .evaluation import EvalFiles

    files = EvalFiles(
        inception=args.inception,
        inception_logits=args.inception_logits,
        lpips_weights=args.lpips_weights,
        object_classifier=args.classifier,
        scene_features=args.scene_features,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
    )
    return {
        "device": args.device,
        "num_images": args.num_images,
        "files": files,
        "batch_size": args.batch_size,
        "progress": not args.no_progress,
    }


def _config_args(p: argparse.ArgumentParser, optional_help: str | None = None) -> None:
    """--config (required unless ``optional_help`` says what leaving it out means), --set,
    --root."""
    what = f"preset ({', '.join(preset_names())}) or YAML file"
    p.add_argument(
        "--config",
        required=optional_help is None,
        help=what if optional_help is None else f"{what} {optional_help}",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    p.add_argument("--root", help="the dataset folder (sets data.root)")


def _load_config(args) -> Config:
    overrides = list(args.set)
    if getattr(args, "root", None):
        overrides.append(f"data.root={json.dumps(args.root)}")
    if getattr(args, "steps", None) is not None:
        overrides.append(f"train.steps={args.steps}")
    return apply_overrides(load_config(args.config), overrides)


# ----------------------------------------------------------------------------- commands


def cmd_train(args) -> int:
    import os

    from .training.distributed import launch_local
    from .training.loop import train

    config = _load_config(args)
    check_output_folder(args.out)
    if args.nproc is not None and "WORLD_SIZE" not in os.environ:
        return launch_local(
            args.nproc, _without(args.argv, "--nproc", "--master-port"), args.master_port
        )
    run_dir = train(
        config,
        out_root=args.out,
        resume=args.resume,
        desc=args.desc,
        progress=not args.no_progress,
        init_from=args.init_from,
    )
    if os.environ.get("RANK", "0") == "0":
        print(f"run folder: {run_dir}")
        print(f"model:      {run_dir / 'model'}")
    return 0


def cmd_average(args) -> int:
    from .training.averaging import export_averaged_model

    if args.last is not None and args.last < 1:
        raise CLIError("--last must be at least 1")
    if args.from_step is not None and args.from_step < 0:
        raise CLIError("--from-step must be >= 0")
    out, steps = export_averaged_model(args.run, args.out, args.from_step, args.last)
    shown = ", ".join(str(s) for s in steps)
    print(f"averaged {len(steps)} checkpoints (steps {shown})")
    print(f"model: {out}")
    return 0


def _without(argv: list[str], *options: str) -> list[str]:
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


def cmd_convert_original(args) -> int:
    from .conversion import convert_original

    image_d, object_d = args.discriminators or (None, None)
    result = convert_original(
        args.generator,
        args.dataset,
        args.out,
        vocab_file=args.vocab,
        vg_root=args.vg_root,
        image_discriminator_file=image_d,
        object_discriminator_file=object_d,
    )
    counts = ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in result.parameters.items())
    print(f"converted in {result.seconds:.1f} s ({counts} parameters)")
    print(f"vocabulary: {len(result.vocab)} rows, {len(result.vocab.categories)} names")
    print(f"model: {result.out}")
    if result.checkpoint is not None:
        print(f"training checkpoint: {result.checkpoint} (for train --init-from {result.out})")
    return 0


def cmd_generate(args) -> int:
    from .layout import load_layout_file
    from .pipeline import Layout2ImPipeline, default_model
    from .visualize import save_generation

    if args.samples < 1 or args.samples > 256:
        raise CLIError(f"--samples must be between 1 and 256, got {args.samples}")
    if not 0 <= args.seed < SEED_LIMIT:
        raise CLIError(f"--seed must be between 0 and 2**63 - 1, got {args.seed}")
    check_output_folder(args.out)
    model = args.model if args.model is not None else default_model()
    pipe = Layout2ImPipeline.from_pretrained(model, device=args.device, amp=args.amp)
    layout = load_layout_file(args.layout, pipe.vocab, pipe.config.z_dim, pipe.object_limit)
    start = time.perf_counter()
    result = pipe(layout, num_samples=args.samples, seed=args.seed, rescale=args.rescale)
    elapsed = time.perf_counter() - start
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    paths = save_generation(result, pipe.vocab, Path(args.out), Path(args.layout).stem)
    print(f"generated {args.samples} image(s) in {elapsed * 1000:.0f} ms")
    for path in paths:
        print(path)
    return 0


def cmd_serve(args) -> int:
    from .pipeline import Layout2ImPipeline, default_model

    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be between 0 and 65535, got {args.port}")
    model = args.model if args.model is not None else default_model()
    pipe = Layout2ImPipeline.from_pretrained(model, device=args.device)
    from .web.app import create_app
    from .web.server import allowed_hosts, bind_socket, is_loopback, make_server

    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        raise CLIError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    host, port = sock.getsockname()[:2]
    folder = Path(str(model)).resolve()  # runs/<run>/model is named after its run
    name = f"{folder.parent.name}/{folder.name}" if folder.name == "model" else folder.name
    app = create_app(pipe, model_name=name, allowed_hosts=allowed_hosts(args.host, args.allow_host))
    shown = f"[{host}]" if ":" in host else host
    print(f"layout2im editor: http://{shown}:{port}/  (API docs: http://{shown}:{port}/docs)")
    if not is_loopback(args.host):
        print(
            f"warning: listening on {args.host}: anyone who can reach this machine can use the "
            "editor; there is no authentication",
            file=sys.stderr,
        )
    print("press Ctrl+C to stop")
    with sock:
        make_server(app).run(sockets=[sock])
    return 0


def cmd_info(args) -> int:
    from .models.size import generator_module_counts, parameter_counts

    config = _load_config(args)
    m = config.model
    info = {
        "name": config.name,
        "params": parameter_counts(m),
        "generator_modules": generator_module_counts(m),
        "config": config.to_dict(),
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(
            f"config {config.name}: {m.image_size}x{m.image_size} images, "
            f"{m.num_classes} classes, z_dim {m.z_dim}"
        )
        for key, value in info["params"].items():
            print(f"  {key:<22} {value / 1e6:8.2f}M parameters")
        for key, value in info["generator_modules"].items():
            print(f"    {key:<20} {value / 1e6:8.2f}M")
    return 0


DEMO_STEPS = 1500


def cmd_demo(args) -> int:
    from .layout import example_layouts, load_layout_file
    from .pipeline import Layout2ImPipeline, default_model, shipped_models
    from .visualize import save_generation

    if args.samples < 1 or args.samples > 64:
        raise CLIError(f"--samples must be between 1 and 64, got {args.samples}")
    if args.steps is not None and not args.train:
        raise CLIError("--steps only applies with --train (the demo otherwise trains nothing)")
    check_output_folder(args.out)
    if args.train:
        check_output_folder(args.runs, "--runs")
    run_dir = None
    if args.train or not shipped_models():
        if not args.train:
            print("layout2im demo: no model is shipped with this installation; training one")
        run_dir = _train_demo_model(args)
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


def _train_demo_model(args) -> Path:
    from .training.loop import train

    config = load_config("shapes32")
    steps = args.steps if args.steps is not None else DEMO_STEPS
    if steps < 1:
        raise CLIError(f"--steps must be positive, got {steps}")
    config = apply_overrides(
        config, [f"train.steps={steps}", f"train.sample_every={max(1, steps // 3)}"]
    )
    print(f"layout2im demo: training shapes32 on the built-in shapes dataset for {steps} steps")
    return train(config, out_root=args.runs, desc="demo")


def cmd_export_shapes(args) -> int:
    from .data.shapes_export import export_shapes_coco

    check_output_folder(args.out)
    try:
        path = export_shapes_coco(
            args.out, num_images=args.images, image_size=args.size, seed=args.seed
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    print(f"wrote {args.images} images and {path}")
    return 0


def cmd_data_inspect(args) -> int:
    from .data.inspect import format_report, inspect_dataset

    config = _load_config(args)
    report = inspect_dataset(config.data, check_images=args.check_images, progress=True)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def cmd_prepare_vg(args) -> int:
    from .data.inspect import format_report, inspect_dataset
    from .data.sources import vg_index

    config = _load_config(args)
    if config.data.name != "vg":
        raise CLIError(
            f"prepare-vg needs a Visual Genome config (data.name=vg), got {config.data.name!r}"
        )
    start = time.perf_counter()
    index, path, cached = vg_index(config.data, rebuild=args.force)
    elapsed = time.perf_counter() - start
    print(format_report(inspect_dataset(config.data)))
    print()
    where = path if path is not None else "(not saved: no writable cache folder)"
    how = "already prepared" if cached else f"prepared in {elapsed:.1f} s"
    print(f"Visual Genome index {how}: {where}")
    rows = len(index.meta["vocab"])
    print(f"{len(index):,} images, {index.num_objects:,} objects, {rows} vocabulary rows")


def _metric_list(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    return names or None


def _check_scoring_args(args):
    """Validate the shared scoring options before any work; returns (config, protocol,
    metric names)."""
    from .evaluation.protocols import get_protocol
    from .evaluation.runner import resolve_metrics
    from .fsutil import check_output_folder

    if args.num_images is not None and args.num_images < 2:
        raise CLIError(f"--num-images must be at least 2, got {args.num_images}")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be positive, got {args.batch_size}")
    config = _load_config(args)
    protocol = get_protocol(args.protocol, config.data.name)
    protocol.check_dataset(config.data.name)
    metrics = _metric_list(args.metrics)
    resolve_metrics(metrics, protocol)  # unknown names fail before any work
    for option in ("out", "markdown"):
        path = getattr(args, option)
        if path and Path(path).is_dir():
            raise CLIError(f"--{option} {path} is a folder; give a file path")
        if path:
            check_output_folder(Path(path).parent, f"--{option}")
    return config, protocol, metrics


def _report_results(args, config, results: dict, what: str) -> None:
    from .evaluation import format_markdown, format_table, write_results
    from .fsutil import write_text

    results["command"] = ["layout2im", *args.argv]
    results["config"] = {"name": config.name, "source": args.config, "overrides": args.set}
    print(what)
    print(format_table(results))
    if args.out:
        print(f"results: {write_results(results, args.out)}")
    if args.markdown:
        print(f"table:   {write_text(args.markdown, format_markdown(results))}")


def _shipped_model_preset(model: str) -> str:
    """The preset a shipped model was trained with (a shipped model is named after its preset);
    other model folders do not record their data config, so they need --config."""
    from .pipeline import shipped_models

    if model in shipped_models() and model in preset_names():
        return model
    raise CLIError(
        f"--config is needed for --model {short(model)}: a model folder records its network, "
        "not the data it was trained on; pass the preset or YAML of that data "
        f"({', '.join(preset_names())})"
    )


def cmd_evaluate(args) -> int:
    from .evaluation import evaluate_model

    if args.config is None:
        args.config = _shipped_model_preset(args.model)
    config, protocol, metrics = _check_scoring_args(args)
    results = evaluate_model(args.model, config.data, protocol, metrics, **_scoring_options(args))
    _report_results(args, config, results, f"model {args.model}")
    return 0


def cmd_evaluate_layouts(args) -> int:
    from .evaluation.scoring import export_layouts
    from .fsutil import check_output_folder

    if args.num_images is not None and args.num_images < 1:
        raise CLIError(f"--num-images must be positive, got {args.num_images}")
    if Path(args.out).is_dir():
        raise CLIError(f"--out {args.out} is a folder; give a file path")
    check_output_folder(Path(args.out).parent)
    config = _load_config(args)
    header = export_layouts(
        args.out,
        config.data,
        args.protocol,
        image_size=args.image_size,
        num_images=args.num_images,
        command=["layout2im", *args.argv],
    )
    per_split = ", ".join(f"{k} {v}" for k, v in header["layouts_per_split"].items())
    print(
        f"{header['layouts']} layouts of protocol {header['protocol']['name']} ({per_split}), "
        f"{header['image_size']}x{header['image_size']}: {args.out}"
    )
    print(f"name the images: {header['naming']}")
    return 0


def cmd_evaluate_images(args) -> int:
    from .evaluation.scoring import score_folder

    config, protocol, metrics = _check_scoring_args(args)
    results = score_folder(
        args.folder,
        config.data,
        protocol,
        metrics,
        allow_missing=args.allow_missing,
        image_size=args.image_size,
        **_scoring_options(args),
    )
    parts = results.get("splits", {"": results})
    lines = []
    for split, part in parts.items():
        found = part["images"]["folder"]
        lines.append(
            f"{split + ': ' if split else ''}scored {found['layouts_scored']} of "
            f"{found['layouts']} layouts ({found['images_read']} images, "
            f"{found['samples_per_layout_found']} per layout, {found['resized']} resized)"
        )
        for kind in ("missing", "unreadable", "wrong_size", "extra", "duplicates"):
            if found[kind]["count"]:
                names = ", ".join(found[kind]["names"])
                lines.append(f"  {found[kind]['count']} {kind.replace('_', ' ')}: {names}")
    _report_results(args, config, results, f"folder {args.folder}\n" + "\n".join(lines))
    return 0


def cmd_train_classifier(args) -> int:
    from .evaluation.classifier import save_network, train_network

    if args.steps < 1:
        raise CLIError(f"--steps must be positive, got {args.steps}")
    if args.batch_size < 2:
        raise CLIError(f"--batch-size must be at least 2, got {args.batch_size}")
    if args.input_size < 8:
        raise CLIError(f"--input-size must be at least 8, got {args.input_size}")
    widths = None
    if args.widths is not None:
        try:
            widths = [int(w) for w in args.widths.split(",")]
        except ValueError:
            widths = []
        if not widths or min(widths) < 1:
            raise CLIError(f"--widths must be positive integers like 32,64,96, got {args.widths!r}")
    if args.stem_channels is not None and args.stem_channels < 1:
        raise CLIError(f"--stem-channels must be positive, got {args.stem_channels}")
    config = _load_config(args)
    out = args.out or f"outputs/eval-networks/{config.data.name}-{args.kind}"
    check_output_folder(Path(out).parent, "--out")
    command = " ".join(["layout2im", *args.argv])
    result = train_network(
        config,
        kind=args.kind,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        val_images=args.val_images,
        input_size=args.input_size,
        widths=widths,
        stem_channels=args.stem_channels,
        device=args.device,
        progress=not args.no_progress,
        command=command,
    )
    weights, meta = save_network(result.network, out, result.meta)
    print(f"held-out accuracy: {json.dumps(result.meta['val'])}")
    print(f"network: {weights}")
    print(f"config:  {meta}")
    return 0


def cmd_evaluate_list(args) -> int:
    from .evaluation import PROTOCOLS, get_metric, metric_names

    print("metrics:")
    for name in metric_names():
        m = get_metric(name)
        print(f"  {name:<18} {m.description} (needs: {', '.join(m.requires) or 'no network'})")
    print("protocols:")
    for name, p in PROTOCOLS.items():
        print(f"  {name:<18} {p.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
