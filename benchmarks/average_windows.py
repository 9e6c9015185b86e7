"""Which checkpoints to average: object accuracy of a run's averaged generators, by first step.

    python benchmarks/average_windows.py runs/00000-shapes32 --from-steps 40000 36000 32000 28000

For each first step S, the generator averaged over the run's checkpoints of step >= S (what
``layout2im average RUN --from-step S`` exports; the newest step alone is the plain last
checkpoint) is scored by the ``object-accuracy`` metric on the first ``--num-layouts`` layouts of
``--split``. The default split is ``test`` (dataset seed + 2), not the ``val`` layouts that
``benchmarks/quality_shapes.py`` reports on, so choosing a window here leaves the benchmark's
layouts unseen. Writes ``<out>.md`` and ``<out>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

from layout2im.config import load_config
from layout2im.evaluation import ScoringOptions, evaluate_model
from layout2im.evaluation.protocols import get_protocol
from layout2im.fsutil import portable_paths, write_text
from layout2im.training.averaging import export_averaged_model
from layout2im.training.checkpoint import CheckpointError

RESULTS = Path(__file__).parent / "results"


def score_windows(run: Path, from_steps: list[int], split: str, num_layouts: int) -> list[dict]:
    protocol = dataclasses.replace(get_protocol("shapes32"), split=split, name=f"shapes32-{split}")
    data = load_config("shapes32").data
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for start in from_steps:
            model, steps = export_averaged_model(run, Path(tmp) / f"from-{start}", from_step=start)
            result = evaluate_model(
                model, data, ScoringOptions(protocol, ["object-accuracy"], num_images=num_layouts)
            )
            values = result["metrics"]["object-accuracy"]["values"]
            rows.append(
                {
                    "from_step": start,
                    "steps": steps,
                    "object_acc_generated": values["object_acc_generated"],
                    "object_acc_real": values["object_acc_real"],
                    "objects": int(values["objects_generated"]),
                    "classifier_sha256": result["networks"]["object_classifier"]["sha256"],
                }
            )
            accuracy = rows[-1]["object_acc_generated"]
            print(f"from step {start}: {len(steps)} checkpoints, {accuracy:.1%}", flush=True)
    return rows


def render(record: dict) -> str:
    lines = [
        f"# Averaged generators of `{record['run']}`",
        "",
        f"Object accuracy (bundled classifier) on the first {record['num_layouts']} layouts of the "
        f"shapes `{record['split']}` split; classifier sha256 "
        f"`{record['rows'][0]['classifier_sha256'][:16]}`. Command: `{record['command']}`.",
        "",
        "| checkpoints averaged | count | object accuracy, generated | real images |",
        "|---|---|---|---|",
    ]
    for row in record["rows"]:
        span = f"{row['steps'][0]}-{row['steps'][-1]}" if len(row["steps"]) > 1 else "last only"
        lines.append(
            f"| {span} | {len(row['steps'])} | {row['object_acc_generated']:.1%} | "
            f"{row['object_acc_real']:.1%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("run", type=Path, help="run folder with checkpoints/ckpt-*.pt")
    p.add_argument("--from-steps", type=int, nargs="+", required=True)
    p.add_argument("--split", default="test", choices=["test", "val"])
    p.add_argument("--num-layouts", type=int, default=500)
    p.add_argument("--out", type=Path, default=RESULTS / "average_windows")
    args = p.parse_args(argv)
    if args.num_layouts < 2:
        p.error("--num-layouts must be at least 2")
    start = time.perf_counter()
    try:
        rows = score_windows(args.run, args.from_steps, args.split, args.num_layouts)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    record = {
        "run": str(args.run),
        "split": args.split,
        "num_layouts": args.num_layouts,
        "command": "python benchmarks/average_windows.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "seconds": round(time.perf_counter() - start, 1),
        "rows": rows,
    }
    record = portable_paths(record)
    table = render(record)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out.with_suffix(".json"), json.dumps(record, indent=2))
    write_text(args.out.with_suffix(".md"), table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
