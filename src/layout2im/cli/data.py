"""``layout2im data``: export the shapes dataset, inspect a dataset, prepare Visual Genome."""

from __future__ import annotations

import argparse
import json
import shlex
import time

from ..data.inspect import format_report, inspect_dataset
from ..data.shapes_export import export_shapes_coco
from ..data.sources import vg_index
from . import limits
from .options import (
    CLIError,
    add_config_arg,
    add_config_args,
    add_int,
    add_path,
    config_from_args,
)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="dataset tools").add_subparsers(metavar="DATA_COMMAND")
    p = data.add_parser("export-shapes", help="write the synthetic shapes dataset in COCO format")
    add_path(p, "--out", kind="output folder", required=True, help="output folder")
    add_int(
        p,
        "--images",
        bound=limits.EXPORT_IMAGES,
        default=1000,
        help="number of images (default 1000)",
    )
    add_int(
        p, "--size", bound=limits.IMAGE_SIZE, default=64, help="image side in pixels (default 64)"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="dataset seed (default 0: the training scenes)"
    )
    p.set_defaults(func=cmd_export_shapes)

    p = data.add_parser(
        "inspect",
        help="what the dataset filters kept and dropped, split sizes, objects per image",
        description="Open a config's dataset (building its cached index if needed) and report, "
        "per split, what each filter kept and dropped, the objects per image, the most common "
        "categories and the split sizes; --check-images also decodes every image.",
    )
    add_config_args(p)
    p.add_argument(
        "--check-images", action="store_true", help="decode every image and list unreadable ones"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_data_inspect)

    p = data.add_parser(
        "prepare-vg", help="preprocess Visual Genome (sg2im's rules) into a cached index"
    )
    add_config_arg(p, default="paper-vg64", help="preset or YAML (default paper-vg64)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    add_path(p, "--root", kind="folder", help="the Visual Genome folder (sets data.root)")
    p.add_argument("--force", action="store_true", help="rebuild even if a cached index exists")
    p.set_defaults(func=cmd_prepare_vg)


def cmd_export_shapes(args) -> int:
    try:
        path = export_shapes_coco(
            args.out, num_images=args.images, image_size=args.size, seed=args.seed
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    print(f"wrote {args.images} images and {path}")
    print("train a small model on it with:")
    print(f"  {train_command(args.out)}")
    return 0


def train_command(root: str) -> str:
    """The command that trains the ``custom-small`` preset on the COCO-format folder ``root``
    that ``data export-shapes`` writes (``annotations/instances.json`` and ``images/``, the
    preset's file names)."""
    return f"layout2im train --config custom-small --root {shlex.quote(str(root))}"


def cmd_data_inspect(args) -> int:
    config = config_from_args(args)
    report = inspect_dataset(config.data, check_images=args.check_images, progress=True)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def cmd_prepare_vg(args) -> int:
    config = config_from_args(args)
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
    return 0
