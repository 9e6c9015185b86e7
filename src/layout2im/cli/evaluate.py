"""``layout2im evaluate``: score a model (``run``, the default action), write a protocol's
layouts, score another system's images, train the evaluation networks, list what exists."""

from __future__ import annotations

import argparse
import json

from ..config import Config, preset_names
from ..errors import quote, short
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
from ..evaluation.classifier import (
    network_files,
    save_network,
    saved_network_files,
    train_network,
)
from ..evaluation.external import export_layouts, score_folder
from ..evaluation.report import format_folder_counts
from ..evaluation.runner import resolve_metrics
from ..fsutil import check_output_file, write_text
from ..model_folder import trained_data_config
from ..threads import GENERATE, TRAIN
from . import limits
from .options import (
    CLIError,
    add_config_args,
    add_device_arg,
    add_int,
    add_model_arg,
    add_path,
    add_threads_arg,
    config_from_args,
)

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
    add_model_arg(p, "a model folder (config.json, ...) or a shipped model's name", required=True)
    _add_scoring_args(p, config_help="(default: the data the model folder records)")
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
    add_path(
        p, "--out", kind="output file", required=True, help="the layouts file to write (.jsonl)"
    )
    add_int(
        p,
        "--num-images",
        bound=limits.LAYOUTS_NUM_IMAGES,
        help="only the first N layouts (quick checks)",
    )
    _add_image_size_arg(p)
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
    add_path(
        p, "folder", kind="folder", metavar="DIR", help="folder of PNG/JPEG images named <id>.png"
    )
    _add_scoring_args(p, "(default: the preset the --protocol is named after, e.g. shapes32)")
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="score the layouts whose images are all there and readable (says how many)",
    )
    _add_image_size_arg(p)
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
    add_path(
        p,
        "--out",
        kind="output file",
        files=network_files,
        help="output path without suffix; writes PATH.safetensors and PATH.json "
        "(default outputs/eval-networks/<data>-<kind>)",
    )
    p.add_argument("--steps", type=int, default=1500, help="training steps (default 1500)")
    add_int(
        p,
        "--batch-size",
        bound=limits.CLASSIFIER_BATCH_SIZE,
        default=32,
        help="images per step (default 32)",
    )
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (default 2e-3)")
    p.add_argument("--seed", type=int, default=0)
    add_int(
        p, "--val-images", bound=limits.VAL_IMAGES, default=500, help="held-out images to score"
    )
    add_int(
        p,
        "--input-size",
        bound=limits.IMAGE_SIZE,
        default=32,
        help="network input side: object crops are resized to it (default 32, the paper's)",
    )
    p.add_argument(
        "--widths",
        help="residual stage channels, comma-separated (default: NetworkConfig's, 32,64,96)",
    )
    add_int(
        p,
        "--stem-channels",
        bound=limits.CHANNELS,
        help="channels of the stem conv (default: NetworkConfig's, 24)",
    )
    add_device_arg(p)
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
    add_path(p, "--out", kind="output file", help="write the results JSON here")
    add_path(
        p,
        "--markdown",
        kind="output file",
        help="also write the table (with the protocol line) here",
    )
    add_device_arg(p)
    add_int(
        p,
        "--num-images",
        bound=limits.EVAL_NUM_IMAGES,
        help="use only the first N layouts (quick checks)",
    )
    add_int(
        p, "--batch-size", bound=limits.BATCH_SIZE, default=64, help="images per batch (default 64)"
    )
    add_path(p, "--inception", kind="file", help="Inception pool3 TorchScript file for FID")
    add_path(
        p,
        "--inception-logits",
        kind="file",
        help="pt_inception-2015-12-05-6726825d.pth (pytorch-fid) for IS",
    )
    add_path(
        p,
        "--lpips-weights",
        kind="folder",
        help="folder with alexnet-owt-7be5be79.pth and LPIPS v0.1 alex.pth",
    )
    add_path(
        p,
        "--classifier",
        kind="file",
        files=saved_network_files,
        help="object classifier (from train-classifier)",
    )
    add_path(
        p,
        "--scene-features",
        kind="file",
        files=saved_network_files,
        help="scene feature network (train-classifier --kind scenes)",
    )
    add_path(
        p,
        "--cache-dir",
        kind="output folder",
        help="real statistics cache (default $LAYOUT2IM_CACHE or ~/.cache/layout2im)",
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_image_size_arg(p: argparse.ArgumentParser) -> None:
    add_int(
        p, "--image-size", bound=limits.IMAGE_SIZE, help="image side (for protocols that fix none)"
    )


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
    config = config_from_args(args, base)
    protocol = get_protocol(args.protocol, config.data.name)
    protocol.check_dataset(config.data.name)
    metrics = _metric_list(args.metrics)
    resolve_metrics(metrics, protocol)  # unknown names fail before any work
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
    came from (a preset's name, or the folder's config.json); folders without the record
    (format_version 1) need --config."""
    config = trained_data_config(model)
    if config is not None:
        return config, config.name if config.name in preset_names() else f"{model}/config.json"
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


def _config_named_by_protocol(args) -> None:
    """Without --config, the preset the --protocol is named after (``shapes32``)."""
    if args.config is None:
        if args.protocol not in preset_names():
            raise CLIError(
                "--config: needed"
                + (f" (protocol {args.protocol} names no preset)" if args.protocol else "")
                + f"; presets: {', '.join(preset_names())}, or a YAML file"
            )
        args.config = args.protocol


def cmd_evaluate_layouts(args) -> int:
    _config_named_by_protocol(args)
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
    _config_named_by_protocol(args)
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
    widths = None if args.widths is None else _widths(args.widths)
    config = config_from_args(args)
    out = args.out
    if out is None:  # a given --out is checked with the other options
        out = f"outputs/eval-networks/{config.data.name}-{args.kind}"
        for path in network_files(out):
            check_output_file(path, "--out")
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


def _widths(text: str) -> list[int]:
    """--widths: comma-separated channel counts, as many as a config's channel lists take."""
    try:
        widths = [int(w) for w in text.split(",")]
    except ValueError:
        widths = []
    stages, channels = limits.STAGES, limits.CHANNELS
    ok = stages[0] <= len(widths) <= stages[1] and all(
        channels[0] <= w <= channels[1] for w in widths
    )
    if not ok:
        raise CLIError(
            f"--widths must be {stages[0]} to {stages[1]} integers from {channels[0]} to "
            f"{channels[1]}, comma-separated like 32,64,96; got {quote(text)}"
        )
    return widths


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
