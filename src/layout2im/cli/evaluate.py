"""``layout2im evaluate``: score a model (``run``, the default action), write a protocol's
layouts, score another system's images, train the evaluation networks, list what exists."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..config import Config, load_config, preset_names
from ..errors import short
from ..evaluation import (
    PROTOCOLS,
    EvalFiles,
    ScoringOptions,
    evaluate_model,
    format_markdown,
    format_table,
    get_metric,
    get_protocol,
    metric_names,
    protocol_names,
    write_results,
)
from ..evaluation.classifier import save_network, train_network
from ..evaluation.external import export_layouts, score_folder
from ..evaluation.report import format_folder_counts
from ..evaluation.runner import resolve_metrics
from ..fsutil import check_output_folder, write_text
from ..model_folder import shipped_models, trained_data_config
from ..threads import GENERATE, TRAIN
from .options import CLIError, add_config_args, add_threads_arg, config_from_args

ACTIONS = ("run", "layouts", "images", "train-classifier", "list")


def with_default_action(argv: list[str]) -> list[str]:
    """``layout2im evaluate --model ...`` means ``layout2im evaluate run --model ...``."""
    if argv and argv[0] == "evaluate":
        rest = argv[1:]
        if not rest or (rest[0] not in ACTIONS and rest[0] not in ("-h", "--help")):
            return ["evaluate", "run", *rest]
    return argv


def add_parsers(sub: argparse._SubParsersAction) -> None:
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
    _add_scoring_args(p, config_help="(default: a shipped model's own preset)")
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
    add_config_args(p, "(default: the preset the --protocol is named after, e.g. shapes32)")
    p.add_argument("--protocol", choices=protocol_names(), help="(default: the dataset's)")
    p.add_argument("--out", required=True, help="the layouts file to write (.jsonl)")
    p.add_argument("--num-images", type=int, help="only the first N layouts (quick checks)")
    p.add_argument("--image-size", type=int, help="image side (for protocols that fix none)")
    add_threads_arg(p, GENERATE)
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
    _add_scoring_args(p)
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
    add_config_args(p)
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
    add_threads_arg(p, TRAIN)
    p.set_defaults(func=cmd_train_classifier)

    p = actions.add_parser("list", help="list metrics and protocols")
    p.set_defaults(func=cmd_evaluate_list)


def _add_scoring_args(p: argparse.ArgumentParser, config_help: str | None = None) -> None:
    """The options of commands that score images under a protocol; with ``config_help``,
    ``--config`` may be left out (the command then finds the config itself)."""
    add_config_args(p, config_help)
    add_threads_arg(p, GENERATE)
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


def _scoring_options(args, protocol, metrics: list[str] | None) -> ScoringOptions:
    """What evaluate_model and score_folder read from the options."""
    files = EvalFiles(
        inception=args.inception,
        inception_logits=args.inception_logits,
        lpips_weights=args.lpips_weights,
        object_classifier=args.classifier,
        scene_features=args.scene_features,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
    )
    return ScoringOptions(
        protocol=protocol,
        metrics=metrics,
        num_images=args.num_images,
        device=args.device,
        batch_size=args.batch_size,
        progress=not args.no_progress,
        files=files,
    )


def _metric_list(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    return names or None


def _check_scoring_args(args, base: Config | None = None):
    """Validate the shared scoring options before any work; returns (config, protocol,
    metric names). ``base``: the config to apply the options to instead of ``--config``'s."""
    if args.num_images is not None and args.num_images < 2:
        raise CLIError(f"--num-images must be at least 2, got {args.num_images}")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be positive, got {args.batch_size}")
    config = config_from_args(args, base)
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


def _report_results(args, config: Config, results: dict, what: str) -> None:
    """Record the command and config in ``results``, print ``what`` and the table, write the
    files asked for."""
    results["command"] = ["layout2im", *args.argv]
    results["config"] = {"name": config.name, "source": args.config, "overrides": args.set}
    print(what)
    print(format_table(results))
    if args.out:
        print(f"results: {write_results(results, args.out)}")
    if args.markdown:
        print(f"table:   {write_text(args.markdown, format_markdown(results))}")


def _model_data_config(model: str) -> tuple[Config, str]:
    """The config of the data ``model`` was trained on, as its folder records it, and where it
    came from (a preset's name, or the folder's config.json); a shipped model is named after
    its preset; other folders without the record need --config."""
    config = trained_data_config(model)
    if config is not None:
        return config, config.name if config.name in preset_names() else f"{model}/config.json"
    if model in shipped_models() and model in preset_names():
        return load_config(model), model
    raise CLIError(
        f"--config is needed for --model {short(model)}: its config.json does not record the "
        "data it was trained on (folders written before format_version 2 do not); pass the "
        f"preset or YAML of that data ({', '.join(preset_names())})"
    )


def cmd_evaluate(args) -> int:
    base = None
    if args.config is None:
        base, args.config = _model_data_config(args.model)
    config, protocol, metrics = _check_scoring_args(args, base)
    results = evaluate_model(args.model, config.data, _scoring_options(args, protocol, metrics))
    _report_results(args, config, results, f"model {args.model}")
    return 0


def cmd_evaluate_layouts(args) -> int:
    if args.num_images is not None and args.num_images < 1:
        raise CLIError(f"--num-images must be positive, got {args.num_images}")
    if Path(args.out).is_dir():
        raise CLIError(f"--out {args.out} is a folder; give a file path")
    check_output_folder(Path(args.out).parent)
    if args.config is None:
        if args.protocol not in preset_names():
            raise CLIError(
                "--config: needed"
                + (f" (protocol {args.protocol} names no preset)" if args.protocol else "")
                + f"; presets: {', '.join(preset_names())}, or a YAML file"
            )
        args.config = args.protocol
    config = config_from_args(args)
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
    config, protocol, metrics = _check_scoring_args(args)
    results = score_folder(
        args.folder,
        config.data,
        _scoring_options(args, protocol, metrics),
        allow_missing=args.allow_missing,
        image_size=args.image_size,
    )
    counts = format_folder_counts(results)
    _report_results(args, config, results, f"folder {args.folder}\n{counts}")
    return 0


def cmd_train_classifier(args) -> int:
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
    config = config_from_args(args)
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
    width = max(len(name) for name in [*metric_names(), *PROTOCOLS])
    print("metrics:")
    for name in metric_names():
        m = get_metric(name)
        print(
            f"  {name:<{width}}  {m.description} (needs: {', '.join(m.requires) or 'no network'})"
        )
    print("protocols:")
    for name, p in PROTOCOLS.items():
        print(f"  {name:<{width}}  {p.description}")
    return 0
