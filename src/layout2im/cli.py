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
from importlib import resources
from pathlib import Path

from .config import Config, ConfigError, apply_overrides, load_config, preset_names

EXIT_USAGE = 2


class CLIError(Exception):
    """An expected failure: printed as ``error: ...`` with exit status 2."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
    except Exception as exc:
        if _is_expected(exc):
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        raise


def _is_expected(exc: Exception) -> bool:
    from .data import DatasetError
    from .layout import LayoutError
    from .pipeline import ModelLoadError
    from .training.checkpoint import CheckpointError
    from .training.loop import RunError

    expected = (
        CLIError,
        ConfigError,
        LayoutError,
        ModelLoadError,
        DatasetError,
        RunError,
        CheckpointError,
    )
    return isinstance(exc, expected)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layout2im",
        description="Image generation from layout (Layout2Im, Zhao et al., CVPR 2019).",
    )
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("generate", help="generate images for a layout JSON file")
    p.add_argument(
        "--model", required=True, help="a model folder (config.json, model.safetensors, vocab.json)"
    )
    p.add_argument("--layout", required=True, help="layout JSON file")
    p.add_argument("--samples", type=int, default=4, help="images to generate (default 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default="outputs/generate", help="output folder")
    p.add_argument(
        "--rescale",
        choices=("clamp", "minmax"),
        default="clamp",
        help="how images are mapped to pixels",
    )
    p.add_argument("--device", default="cpu")
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
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("info", help="parameter counts and settings of a config")
    _config_args(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", help="train shapes32 briefly and generate the example layouts")
    p.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the demo's)")
    p.add_argument("--runs", default="runs", help="folder of run folders")
    p.set_defaults(func=cmd_demo)

    data = sub.add_parser("data", help="dataset tools").add_subparsers(metavar="DATA_COMMAND")
    p = data.add_parser("export-shapes", help="write the synthetic shapes dataset in COCO format")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--images", type=int, default=1000, help="number of images")
    p.add_argument("--size", type=int, default=64, help="image side in pixels")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (0 = training scenes)")
    p.set_defaults(func=cmd_export_shapes)
    return parser


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", required=True, help=f"preset ({', '.join(preset_names())}) or YAML file"
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )


def _load_config(args) -> Config:
    overrides = list(args.set)
    if getattr(args, "steps", None) is not None:
        overrides.append(f"train.steps={args.steps}")
    return apply_overrides(load_config(args.config), overrides)


# ----------------------------------------------------------------------------- commands


def cmd_train(args) -> int:
    from .training.loop import train

    config = _load_config(args)
    run_dir = train(
        config, out_root=args.out, resume=args.resume, desc=args.desc, progress=not args.no_progress
    )
    print(f"run folder: {run_dir}")
    print(f"model:      {run_dir / 'model'}")
    return 0


def cmd_generate(args) -> int:
    from .layout import load_layout_file
    from .pipeline import Layout2ImPipeline

    if args.samples < 1 or args.samples > 256:
        raise CLIError(f"--samples must be between 1 and 256, got {args.samples}")
    pipe = Layout2ImPipeline.from_pretrained(args.model, device=args.device)
    layout = load_layout_file(args.layout, pipe.vocab, pipe.config.z_dim, pipe.max_objects)
    start = time.perf_counter()
    result = pipe(layout, num_samples=args.samples, seed=args.seed, rescale=args.rescale)
    elapsed = time.perf_counter() - start
    paths = write_generation(result, pipe, Path(args.out), Path(args.layout).stem)
    print(f"generated {args.samples} image(s) in {elapsed * 1000:.0f} ms")
    for path in paths:
        print(path)
    return 0


def write_generation(result, pipe, out: Path, stem: str) -> list[Path]:
    """Write one PNG per sample and a grid (layout | samples, then the same with boxes)."""
    from .visualize import draw_layout, grid

    size = pipe.config.image_size
    scale = max(1, 128 // size)
    boxes = [o.box for o in result.layout.objects]
    labels = [pipe.vocab.index(o.category) for o in result.layout.objects]
    names = [o.category for o in result.layout.objects]
    panel = draw_layout(boxes, labels, names, size, scale=scale)
    big = [img.resize((size * scale, size * scale)) for img in result.images]
    boxed = [
        draw_layout(boxes, labels, names, size, background=img, scale=scale)
        for img in result.images
    ]
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, img in enumerate(result.images):
        path = out / f"{stem}-sample{k:02d}.png"
        img.save(path)
        paths.append(path)
    grid_path = out / f"{stem}-grid.png"
    grid([[panel, *big], [panel, *boxed]]).save(grid_path)
    return [grid_path, *paths]


def cmd_serve(args) -> int:
    from .pipeline import Layout2ImPipeline, default_model

    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port must be between 0 and 65535, got {args.port}")
    model = args.model if args.model is not None else default_model()
    pipe = Layout2ImPipeline.from_pretrained(model, device=args.device)
    try:
        from .web.app import create_app
        from .web.server import bind_socket, is_loopback, make_server
    except ImportError as exc:
        raise CLIError(
            f"the editor needs fastapi, uvicorn and python-multipart ({exc}); "
            "install them with: pip install fastapi uvicorn python-multipart"
        ) from None
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        raise CLIError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    host, port = sock.getsockname()[:2]
    folder = Path(str(model)).resolve()  # runs/<run>/model is named after its run
    name = f"{folder.parent.name}/{folder.name}" if folder.name == "model" else folder.name
    app = create_app(pipe, model_name=name)
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
    from .models import ImageDiscriminator, Layout2ImGenerator, ObjectDiscriminator

    config = _load_config(args)
    m = config.model

    def count(module) -> int:
        return sum(p.numel() for p in module.parameters())

    g = Layout2ImGenerator(m)
    info = {
        "name": config.name,
        "params": {
            "generator": count(g),
            "image_discriminator": count(ImageDiscriminator(m.image_disc_channels)),
            "object_discriminator": count(
                ObjectDiscriminator(m.object_disc_channels, m.num_classes)
            ),
        },
        "generator_modules": {name: count(mod) for name, mod in g.named_children()},
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
    from .layout import load_layout_file
    from .pipeline import Layout2ImPipeline
    from .training.loop import train

    config = load_config("shapes32")
    steps = args.steps if args.steps is not None else DEMO_STEPS
    config = apply_overrides(
        config, [f"train.steps={steps}", f"train.sample_every={max(1, steps // 3)}"]
    )
    print(f"layout2im demo: training shapes32 on the built-in shapes dataset for {steps} steps")
    run_dir = train(config, out_root=args.runs, desc="demo")
    pipe = Layout2ImPipeline.from_pretrained(run_dir / "model")
    out = Path(args.out)
    written = []
    for path in sorted(example_layouts()):
        layout = load_layout_file(path, pipe.vocab, pipe.config.z_dim, pipe.max_objects)
        result = pipe(layout, num_samples=6, seed=0)
        written.append(write_generation(result, pipe, out, path.stem)[0])
    print(f"run folder: {run_dir} (training samples in {run_dir / 'samples'})")
    print("generated grids (layout | 6 samples; second row with boxes drawn):")
    for path in written:
        print(f"  {path}")
    return 0


def example_layouts() -> list[Path]:
    folder = resources.files("layout2im") / "examples"
    return [Path(str(p)) for p in folder.iterdir() if p.name.endswith(".json")]


def cmd_export_shapes(args) -> int:
    from .data.shapes import export_shapes_coco

    try:
        path = export_shapes_coco(
            args.out, num_images=args.images, image_size=args.size, seed=args.seed
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    print(f"wrote {args.images} images and {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
