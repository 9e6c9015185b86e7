"""Fuzzing every input family, with many more examples than ``make test`` runs.

    python benchmarks/fuzz.py --parser 5000 --cli 1500 --api 2000 \
        --model-folder 3000 --checkpoint 3000 --dataset 8000 --http 4000 --slow-clients 300

Random and mutated layouts (``tests/layout_fuzz.py``: well-formed, wrong in one field, any JSON
value, cut or spliced bytes, 50,000-deep nesting, non-finite and out-of-range numbers, style
images that are not images) go through the layout parser and the pipeline, ``layout2im
generate`` (in-process) and ``POST /api/generate`` on the shipped model (or ``--model``). Every
example must be refused with one short error line (exit 2, a 4xx) and nothing written, or
generate finite images; a traceback, a 5xx, a non-finite value or a partial file is a failure.
Hypothesis draws fresh examples each run (``--seed`` repeats one). Writes ``<out>.json`` and
``<out>.md`` (default ``benchmarks/results/fuzz``) with the counts tried and the failures.

The other families (``tests/input_fuzz.py``, ``tests/dataset_fuzz.py``, ``tests/http_fuzz.py``):
model folders with one of config.json, vocab.json or the safetensors header mutated, loaded;
training checkpoints with a key, a network or a tensor replaced, loaded; a small Visual Genome
root (image_data, objects, relationships, alias or split file) or a COCO-format instances file
(whole, or its categories) with one file mutated, built with ``build_dataset``; raw HTTP
requests (a valid ``GET /api/info`` or ``POST /api/generate`` as is, cut, spliced, with extra
framing headers or a mutated body) sent to a running server. Each must load or be refused with
one short error (a 4xx, or a connection closed unanswered), never a 5xx or another exception.
Slow clients (headers or body trickled, stopping part-way, idle, steady uploads) against a
server with 0.3 s deadlines: one within the deadlines gets its answer, a slower one is
disconnected within its deadline plus a second, and the server keeps answering.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import traceback
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.layout_fuzz

import torch
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, seed, settings
from tests import dataset_fuzz as fd
from tests import http_fuzz as fh
from tests import input_fuzz as fi
from tests import layout_fuzz as fz

import layout2im
from layout2im.fsutil import write_text
from layout2im.model_folder import resolve_model
from layout2im.pipeline import Layout2ImPipeline, default_model
from layout2im.training.trainer import Trainer
from layout2im.web import create_app

RESULTS = Path(__file__).parent / "results"


def run_target(name: str, strategy, check, examples: int, seed_value: int | None) -> dict:
    """Run ``check`` on ``examples`` drawn examples; the counts and the first failure."""
    outcomes: Counter[str] = Counter()
    config = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )

    @config
    @given(strategy)
    def target(example):
        outcomes[check(example)] += 1

    if seed_value is not None:
        target = seed(seed_value)(target)
    start = time.perf_counter()
    failure = None
    try:
        target()
    except Exception as exc:  # the shrunk failing example, reported
        failure = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:4000]
    seconds = time.perf_counter() - start
    tried = sum(outcomes.values())
    print(f"{name}: {tried} tried, {dict(outcomes)}, {seconds:.0f} s, failure: {failure}")
    return {"tried": tried, "outcomes": dict(outcomes), "seconds": round(seconds, 1),
            "failure": failure}  # fmt: skip


def other_families(args, pipe: Layout2ImPipeline, model: str) -> dict[str, dict]:
    """Model folders, checkpoints, dataset files, raw HTTP requests and slow clients."""
    from layout2im.config import load_config
    from layout2im.data import build_dataset

    targets = {}
    folder = resolve_model(model)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        targets["model folders"] = run_target(
            "model folders", fi.model_folder_files(folder),
            lambda c: fi.check_model_folder(folder, c, work), args.model_folder, args.seed,
        )  # fmt: skip
        config = load_config("shapes32")
        _, vocab = build_dataset(config.data, config.model.image_size)
        state = Trainer(config, vocab).state_dict()
        targets["checkpoints"] = run_target(
            "checkpoints", fi.checkpoint_states(state),
            lambda s: fi.check_checkpoint(s, work), args.checkpoint, args.seed,
        )  # fmt: skip
        roots = fd.write_roots(work)
        targets["VG roots and COCO files (built)"] = run_target(
            "dataset files", fd.dataset_changes(),
            lambda c: fd.check_dataset(roots, c), args.dataset, args.seed,
        )  # fmt: skip
    app = create_app(pipe, max_pending=64)
    category = pipe.vocab.categories[0]
    with fh.serving(app, header_timeout_s=2, body_timeout_s=2) as port:
        targets["raw HTTP requests"] = run_target(
            "http", fh.raw_requests(category), lambda d: fh.check_raw_request(port, d),
            args.http, args.seed,
        )  # fmt: skip
    with fh.serving(app, **fh.slow_server_deadlines()) as port:
        targets["slow HTTP clients"] = run_target(
            "slow clients", fh.slow_clients(fh.min_body_size(category)),
            lambda p: fh.check_slow_client(port, category, p), args.slow_clients, args.seed,
        )  # fmt: skip
    return targets


def render(record: dict) -> str:
    lines = [
        "# Fuzzing layouts (parser, `layout2im generate`, `POST /api/generate`), model folders, "
        "checkpoints, dataset files, raw HTTP and slow clients",
        "",
        f"Command: `{record['command']}`",
        f"Model: {record['model']}; layout2im {record['layout2im']}, torch {record['torch']}, "
        f"{record['platform']}, {record['created']}.",
        "",
        "| target | examples tried | refused (exit 2 / 4xx) | generated / accepted | failures "
        "| seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in record["targets"].items():
        o = r["outcomes"]
        made = o.get("generated", 0) + o.get("accepted", 0)
        lines.append(
            f"| {name} | {r['tried']:,} | {o.get('refused', 0):,} | {made:,} | "
            f"{0 if r['failure'] is None else 1} | {r['seconds']:.0f} |"
        )
    lines += ["", f"Total tried: {record['total_tried']:,}; failures: {record['failures']}."]
    for name, r in record["targets"].items():
        if r["failure"]:
            lines += ["", f"Failure in {name}:", "", "```", r["failure"], "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model folder or shipped name (default: the shipped model)")
    p.add_argument("--parser", type=int, default=5000, help="examples for the parser")
    p.add_argument("--cli", type=int, default=1500, help="examples for layout2im generate")
    p.add_argument("--api", type=int, default=2000, help="examples for POST /api/generate")
    p.add_argument("--model-folder", type=int, default=3000, help="examples of model folders")
    p.add_argument("--checkpoint", type=int, default=3000, help="examples of checkpoints")
    p.add_argument("--dataset", type=int, default=8000, help="examples of dataset files")
    p.add_argument("--http", type=int, default=4000, help="examples of raw HTTP requests")
    p.add_argument("--slow-clients", type=int, default=300, help="examples of slow clients")
    p.add_argument("--seed", type=int, help="Hypothesis seed (default: fresh examples)")
    p.add_argument("--out", type=Path, default=RESULTS / "fuzz", help="output path stem")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    model = args.model or str(default_model())
    pipe = Layout2ImPipeline.from_pretrained(model)
    shape = (pipe.vocab.categories, pipe.config.z_dim, pipe.max_objects)
    targets = {}
    with tempfile.TemporaryDirectory() as tmp:
        targets["parser + pipeline"] = run_target(
            "parser", fz.layouts(*shape), lambda d: fz.check_parse(pipe, d), args.parser, args.seed
        )
        counter = iter(range(10**9))
        targets["layout2im generate"] = run_target(
            "cli",
            fz.layout_bytes(*shape),
            lambda text: fz.check_cli_generate(model, text, Path(tmp), next(counter)),
            args.cli,
            args.seed,
        )
        leftovers = [str(q) for q in Path(tmp).rglob("*") if q.name.startswith(".")]
        if leftovers:
            targets["layout2im generate"]["failure"] = f"temporary files left: {leftovers[:5]}"
    with TestClient(create_app(pipe, max_pending=64), base_url="http://127.0.0.1:8000") as client:
        targets["POST /api/generate"] = run_target(
            "api", fz.api_bodies(*shape), lambda b: fz.check_api_generate(client, b), args.api,
            args.seed,
        )  # fmt: skip
    targets.update(other_families(args, pipe, model))
    record = {
        "command": " ".join(["python", "benchmarks/fuzz.py", *(argv or sys.argv[1:])]),
        "model": Path(model).name,
        "layout2im": layout2im.__version__,
        "torch": torch.__version__,
        "platform": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "targets": targets,
        "total_tried": sum(t["tried"] for t in targets.values()),
        "failures": sum(t["failure"] is not None for t in targets.values()),
    }
    write_text(args.out.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
    write_text(args.out.with_suffix(".md"), render(record))
    print(render(record))
    return 1 if record["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
