"""Does shapes32 learn as well in bf16 autocast as in float32? Train both, score both.

    python benchmarks/bf16_training.py --runs runs/bf16 --steps 8000 --seeds 0 1 \\
        --parallel 2 --threads 1

Trains ``--config`` (default ``shapes32``) once per precision (float32, bf16 autocast) and seed,
the same steps, data and seeds, each run in its own folder ``RUNS/<precision>-seed<S>/``
(a normal run folder inside: config, log, stats, checkpoints, model). Then scores every run's
final generator with the metrics of ``benchmarks/quality_shapes.py`` on the same held-out
layouts (protocol ``shapes32``) and writes ``OUT.md`` / ``OUT.json``: per precision each seed's
value, the mean and the seed-to-seed spread (max - min) of object accuracy, layout fidelity,
FID on the shapes scene features, diversity and reconstruction, and the wall time per step; then
bf16 - float32 against that spread, so a reader sees whether the gap is inside the noise.

Resumable: run it again with the same arguments and it continues every unfinished run from its
last checkpoint (training resumes exactly) and skips finished trainings and evaluations.
``--parallel N`` trains N runs at a time in worker processes of ``--threads`` threads each; a
float32 run and the bf16 run of the same seed run side by side, so their times see the same
machine load. Progress: one bar over all runs' steps.

Every result records the CPU model and its bf16 features (AVX512-BF16, AMX): without them bf16
autocast is emulated and slower, which says nothing about its speed where it is native.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

from layout2im.config import Config, ConfigError, apply_overrides, load_config
from layout2im.evaluation import (
    EvalFiles,
    ScoringOptions,
    evaluate_generator,
    weight_files,
    write_results,
)
from layout2im.fsutil import portable_paths, write_text
from layout2im.hardware import cpu_info, cpu_summary
from layout2im.pipeline import Layout2ImPipeline
from layout2im.training.checkpoint import checkpoint_step, list_checkpoints
from layout2im.training.loop import train
from layout2im.training.run_dir import latest_run_dir

RESULTS = Path(__file__).parent / "results"
PROTOCOL = "shapes32"
PRECISIONS = {"off": "float32", "bf16": "bf16 autocast"}
EVAL_FORMAT = "layout2im-bf16-training-eval"
# (title, metric, value key, format, better): the rows of the table
ROWS = (
    ("object accuracy, generated crops", "object-accuracy", "object_acc_generated", "pct", "max"),
    ("layout fidelity", "layout-fidelity", "layout_fidelity_generated", "pct", "max"),
    ("FID, shapes scene features", "fid-shapes", "fid_shapes", "num", "min"),
    ("diversity: pixel L1 between two samples", "diversity-shapes", "ds_shapes_pixel_l1_mean",
     "num", "max"),
    ("diversity: per-object colour change", "diversity-objects", "ds_object_colour_mean", "num",
     "max"),
    ("reconstruction: colour error in boxes", "reconstruction-colour", "recon_colour_error",
     "num", "min"),
)  # fmt: skip
METRICS = tuple(dict.fromkeys(row[1] for row in ROWS))
TIME_ROW = "wall time per step (s, median over logging intervals)"

log = logging.getLogger("bf16_training")


# ----------------------------------------------------------------------------- runs


def run_root(runs: Path, precision: str, seed: int) -> Path:
    return runs / f"{precision}-seed{seed}"


def run_config(args: argparse.Namespace, precision: str, seed: int) -> Config:
    overrides = [
        *args.set,
        f"train.steps={args.steps}",
        f"train.seed={seed}",
        f"train.amp={precision}",
        "train.device=cpu",
    ]
    return apply_overrides(load_config(args.config), overrides)


def run_folder(root: Path, config: Config) -> Path | None:
    return latest_run_dir(root, config.name)


def trained_steps(folder: Path | None) -> int:
    """The step of a run folder's last checkpoint (0 when there is none)."""
    if folder is None:
        return 0
    found = list_checkpoints(folder / "checkpoints")
    return checkpoint_step(found[-1]) if found else 0


def logged_step(folder: Path | None) -> int:
    """The last step in a run's stats.jsonl (progress between checkpoints)."""
    if folder is None or not (folder / "stats.jsonl").is_file():
        return 0
    last = 0
    for line in (folder / "stats.jsonl").read_text().splitlines():
        try:
            last = max(last, int(json.loads(line)["step"]))
        except (ValueError, KeyError):
            continue
    return last


def seconds_per_step(folder: Path) -> dict:
    """Median, min, max of the seconds per step of a run's logging intervals (stats.jsonl)."""
    times = []
    for line in (folder / "stats.jsonl").read_text().splitlines():
        if line:
            its = json.loads(line)["it_per_s"]
            if its > 0:
                times.append(1.0 / its)
    if not times:
        return {"median": None, "n": 0}
    return {
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "n": len(times),
    }


def eval_settings(args: argparse.Namespace, model_sha: str) -> dict:
    return {"num_layouts": args.num_layouts, "steps": args.steps, "model_sha256": model_sha}


def run_one(args: argparse.Namespace, precision: str, seed: int) -> Path:
    """Train (or continue, or skip) one run, then evaluate it (or skip). Returns eval.json."""
    config = run_config(args, precision, seed)
    root = run_root(args.runs, precision, seed)
    folder = run_folder(root, config)
    model = folder / "model" if folder else None
    done = folder is not None and trained_steps(folder) >= args.steps and model.is_dir()
    if not done:
        resume = folder if folder is not None and trained_steps(folder) > 0 else None
        if folder is not None and resume is None:
            log.warning("%s has no checkpoint yet: starting a new run folder", folder)
        folder = train(config, root, resume=resume, progress=False).run_dir
        model = folder / "model"
    out = root / "eval.json"
    sha = weight_files.sha256_of(model / "model.safetensors")
    settings = eval_settings(args, sha)
    if out.is_file() and json.loads(out.read_text()).get("settings") == settings:
        return out
    pipe = Layout2ImPipeline.from_pretrained(model, device="cpu")
    results = evaluate_generator(
        pipe.generator,
        config.data,
        ScoringOptions(
            PROTOCOL,
            list(METRICS),
            device="cpu",
            num_images=args.num_layouts,
            files=EvalFiles(cache_dir=args.cache_dir),
            batch_size=64,
            progress=False,
        ),
        vocab=pipe.vocab,
    )
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    record = {
        "format": EVAL_FORMAT,
        "precision": precision,
        "amp_in_run_config": saved["train"]["amp"],
        "seed": seed,
        "run": str(folder),
        "settings": settings,
        "seconds_per_step": seconds_per_step(folder),
        "threads": torch.get_num_threads(),
        "results": results,
    }
    write_results(record, out)
    return out


# ----------------------------------------------------------------------------- driver


def jobs(args: argparse.Namespace) -> list[tuple[str, int]]:
    """Float32 and bf16 of one seed next to each other (they run side by side)."""
    return [(precision, seed) for seed in args.seeds for precision in PRECISIONS]


def worker_command(args: argparse.Namespace, precision: str, seed: int) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), *args.argv, "--worker", precision,
            str(seed)]  # fmt: skip


def is_finished(args: argparse.Namespace, precision: str, seed: int) -> bool:
    out = run_root(args.runs, precision, seed) / "eval.json"
    if not out.is_file():
        return False
    settings = json.loads(out.read_text()).get("settings", {})
    return settings.get("steps") == args.steps and settings.get("num_layouts") == args.num_layouts


def progress_of(args: argparse.Namespace, precision: str, seed: int) -> int:
    config = run_config(args, precision, seed)
    folder = run_folder(run_root(args.runs, precision, seed), config)
    return min(args.steps, max(logged_step(folder), trained_steps(folder)))


def run_all(args: argparse.Namespace) -> list[tuple[str, int, str]]:
    """Every unfinished job, ``--parallel`` at a time (0: one after the other in this process).
    Returns (precision, seed, reason) of each job that failed."""
    todo = [job for job in jobs(args) if not is_finished(args, *job)]
    failures = []
    total = args.steps * len(jobs(args))
    with tqdm(total=total, unit="step", desc="bf16 vs float32", disable=args.no_progress) as bar:

        def refresh() -> None:
            bar.n = sum(progress_of(args, *job) for job in jobs(args))
            bar.refresh()

        refresh()
        if args.parallel == 0:
            for job in todo:
                run_one(args, *job)
                refresh()
            return failures
        waiting, running = list(todo), {}
        while waiting or running:
            while waiting and len(running) < args.parallel:
                precision, seed = job = waiting.pop(0)
                root = run_root(args.runs, precision, seed)
                root.mkdir(parents=True, exist_ok=True)
                env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
                with open(root / "worker.log", "a") as logfile:
                    running[job] = subprocess.Popen(
                        worker_command(args, precision, seed),
                        stdout=logfile,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
            time.sleep(args.poll)
            for job, proc in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[job]
                if proc.returncode != 0:
                    reason = (
                        f"exit status {proc.returncode}; see {run_root(args.runs, *job)}/worker.log"
                    )
                    failures.append((*job, reason))
                    tqdm.write(f"{job[0]} seed {job[1]} failed: {reason}")
                else:
                    tqdm.write(f"{PRECISIONS[job[0]]} seed {job[1]}: trained and scored")
            refresh()
    return failures


# ----------------------------------------------------------------------------- table


def metric_value(results: dict, metric: str, key: str) -> float | None:
    entry = results["metrics"].get(metric)
    if not entry or entry.get("status") != "ok":
        return None
    return entry["values"].get(key)


def summarise(values: list[float]) -> dict:
    return {
        "values": values,
        "mean": statistics.fmean(values),
        "spread": max(values) - min(values),
    }


def build_table(evals: dict[tuple[str, int], dict]) -> list[dict]:
    """One row per metric: per precision the seeds' values, mean and spread (max - min); the
    gap (bf16 mean - float32 mean) and whether it is within the larger of the two spreads."""
    rows = []
    specs = [(t, m, k, f, b) for t, m, k, f, b in ROWS] + [(TIME_ROW, None, None, "sec", "min")]
    for title, metric, key, fmt, better in specs:
        cells = {}
        for precision in PRECISIONS:
            values = []
            for (p, _seed), record in sorted(evals.items()):
                if p != precision:
                    continue
                if metric is None:
                    v = record["seconds_per_step"]["median"]
                else:
                    v = metric_value(record["results"], metric, key)
                if v is not None:
                    values.append(v)
            cells[precision] = summarise(values) if values else None
        row = {"metric": title, "format": fmt, "better": better, **cells}
        if cells["off"] and cells["bf16"]:
            gap = cells["bf16"]["mean"] - cells["off"]["mean"]
            noise = max(cells["off"]["spread"], cells["bf16"]["spread"])
            row["gap"] = gap
            row["noise"] = noise
            if metric is None:
                row["ratio"] = cells["off"]["mean"] / cells["bf16"]["mean"]
            row["verdict"] = verdict(gap, noise, better)
        rows.append(row)
    return rows


def verdict(gap: float, noise: float, better: str) -> str:
    if abs(gap) <= noise:
        return "within seed spread"
    worse = gap < 0 if better == "max" else gap > 0
    return "bf16 worse" if worse else "bf16 better"


def fmt_value(v: float, fmt: str) -> str:
    if fmt == "pct":
        return f"{100 * v:.1f}%"
    if fmt == "sec":
        return f"{v:.3f}"
    return f"{v:.4g}"


def fmt_cell(cell: dict | None, fmt: str) -> str:
    if cell is None:
        return "—"
    values = ", ".join(fmt_value(v, fmt) for v in cell["values"])
    return (
        f"{fmt_value(cell['mean'], fmt)} (seeds: {values}; spread {fmt_value(cell['spread'], fmt)})"
    )


def markdown(report: dict) -> str:
    s = report["settings"]
    cpu = report["cpu"]
    lines = [
        f"# bf16 autocast vs float32 training: {s['config']}, {s['steps']} steps, "
        f"seeds {', '.join(map(str, s['seeds']))}",
        "",
        f"**Command:** `{report['command']}`",
        f"**When, where:** {report['created']}; CPU {report['cpu_summary']}; torch "
        f"{report['torch']}; {s['threads']} thread(s) per run, {s['parallel']} run(s) at a "
        "time (a float32 run beside the bf16 run of the same seed).",
        f"**Scored on:** the first {s['num_layouts']} held-out layouts of protocol `{PROTOCOL}` "
        "(never trained on), the same layouts and sample codes for every run; metrics of "
        "`benchmarks/quality_shapes.py`.",
        "",
        "| metric | float32 | bf16 autocast | bf16 - float32 | seed spread (larger) | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for row in report["table"]:
        fmt = row["format"]
        gap = noise = verdict_text = "—"
        if "gap" in row:
            sign = "+" if row["gap"] >= 0 else "-"
            gap = sign + fmt_value(abs(row["gap"]), fmt)
            if "ratio" in row:
                gap += f" (float32 / bf16 = {row['ratio']:.2f}x)"
            noise = fmt_value(row["noise"], fmt)
            verdict_text = row["verdict"]
        lines.append(
            f"| {row['metric']} | {fmt_cell(row['off'], fmt)} | {fmt_cell(row['bf16'], fmt)} | "
            f"{gap} | {noise} | {verdict_text} |"
        )
    lines += [
        "",
        "Spread: max - min over seeds within a precision; a gap within the larger spread is "
        "not distinguishable from seed noise at this number of seeds. Wall time per step: "
        "median of the logging intervals of `stats.jsonl` (sample grids and checkpoints "
        "included), measured while the runs shared the machine; the ratio, not the absolute "
        "time, carries over. "
        + (
            "This CPU has native bf16 (AVX512-BF16 or AMX)."
            if cpu["bf16_native"]
            else "This CPU has no native bf16 (no AVX512-BF16, no AMX): oneDNN emulates bf16 "
            "here, so the time row says nothing about bf16's speed on CPUs that have it."
        ),
    ]
    if report["missing"]:
        lines += ["", "Not finished (not in the table): " + ", ".join(report["missing"])]
    return "\n".join(lines) + "\n"


def report_for(args: argparse.Namespace) -> dict:
    evals, missing = {}, []
    for precision, seed in jobs(args):
        if is_finished(args, precision, seed):
            path = run_root(args.runs, precision, seed) / "eval.json"
            evals[(precision, seed)] = json.loads(path.read_text())
        else:
            missing.append(f"{PRECISIONS[precision]} seed {seed}")
    return portable_paths({
        "format": "layout2im-bf16-training",
        "version": 1,
        "command": "python benchmarks/bf16_training.py " + shlex.join(args.argv),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_info(),
        "cpu_summary": cpu_summary(),
        "torch": torch.__version__,
        "settings": {
            "config": args.config,
            "steps": args.steps,
            "seeds": args.seeds,
            "set": args.set,
            "num_layouts": args.num_layouts,
            "threads": args.threads,
            "parallel": args.parallel,
        },
        "table": build_table(evals),
        "missing": missing,
        "runs": {f"{p}-seed{s}": {k: v for k, v in r.items() if k != "results"} | {
            "metrics": r["results"]["metrics"]} for (p, s), r in evals.items()},
    })  # fmt: skip


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", default="shapes32", help="preset or YAML (shapes data)")
    p.add_argument("--runs", type=Path, default=Path("runs/bf16-training"),
                   help="folder of the runs (one sub-folder per precision and seed)")  # fmt: skip
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every run (not steps, seed, amp)")  # fmt: skip
    p.add_argument("--num-layouts", type=int, default=1000,
                   help="held-out layouts scored per run (2..2000)")  # fmt: skip
    p.add_argument(
        "--parallel",
        type=int,
        default=2,
        help="runs at a time in worker processes (0: one by one in this process)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--out", type=Path, default=None,
                   help="output path without suffix (default: benchmarks/results/"
                   "bf16-training-<config>-<steps>)")  # fmt: skip
    p.add_argument("--cache-dir", help="real statistics cache (default ~/.cache/layout2im)")
    p.add_argument("--poll", type=float, default=30.0, help="seconds between progress checks")
    p.add_argument("--table-only", action="store_true",
                   help="write the table from the finished runs without training")  # fmt: skip
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--worker", nargs=2, metavar=("PRECISION", "SEED"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if "--worker" in args.argv:
        i = args.argv.index("--worker")
        del args.argv[i : i + 3]
    if args.steps < 1:
        p.error("--steps must be positive")
    if not 2 <= args.num_layouts <= 2000:
        p.error("--num-layouts must be in 2..2000")
    if len(set(args.seeds)) != len(args.seeds):
        p.error("--seeds must be distinct")
    if args.parallel < 0 or args.threads < 1:
        p.error("--parallel must be >= 0 and --threads >= 1")
    for item in args.set:
        if item.split("=", 1)[0].strip() in ("train.steps", "train.seed", "train.amp"):
            p.error(f"--set {item}: steps, seeds and precisions are this script's to set")
    if args.out is None:
        name = Path(args.config).stem
        args.out = RESULTS / f"bf16-training-{name}-{args.steps}"
    args.runs = args.runs.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    try:
        if args.worker:
            precision, seed = args.worker[0], int(args.worker[1])
            if precision not in PRECISIONS:
                raise ConfigError(f"unknown precision {precision!r}")
            logging.getLogger("layout2im").setLevel(logging.INFO)
            run_one(args, precision, seed)
            return 0
        load_config(args.config)  # a bad preset fails here, not in every worker
        failures = [] if args.table_only else run_all(args)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = report_for(args)
    write_results(report, args.out.with_suffix(".json"))
    text = markdown(report)
    write_text(args.out.with_suffix(".md"), text)
    print(text)
    print(f"wrote {args.out.with_suffix('.md')}, {args.out.with_suffix('.json')}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
