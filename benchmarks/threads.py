"""Threads and OpenMP wait policy on a CPU that other work also uses.

    python benchmarks/threads.py                                  # the committed table
    python benchmarks/threads.py --train-steps 4 --gen-reps 2     # quicker

Times ``shapes32`` training steps (batch 8, the preset's computation) and ``paper-coco64``
generation (``Layout2ImPipeline`` on an untrained generator: the same work as a trained one,
``--gen-batch`` samples of a 5-object layout per call) at each ``--threads`` count, each

- with torch's OpenMP default (``OMP_WAIT_POLICY`` unset: idle threads spin before sleeping) and
  with ``OMP_WAIT_POLICY=PASSIVE`` (what the ``layout2im`` command sets, see
  ``layout2im.threads``);
- on the machine as it is, and with a competing process that keeps one core busy (a Python
  spin loop, started before the case and stopped after it, and bounded by
  ``--competitor-limit`` seconds whatever happens).

libgomp reads the wait policy when torch is imported, so every case is a fresh process of this
script (``--worker``) with its own environment. The load average before and after every case
and ``uptime`` at the start and end are recorded: on a shared machine "no competitor" means
"only the load that was there". Writes ``benchmarks/results/threads-cpu.{md,json}`` (``--out``)
with the CPU model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
POLICIES = ("default", "PASSIVE")
LOADS = ("none", "one busy core")
TASKS = ("train", "generate")
TASK_TITLES = {
    "train": "shapes32 training, s per step (batch 8)",
    "generate": "paper-coco64 generation, ms per image",
}
# environment variables that would change what a case measures; every case sets its own
OMP_VARIABLES = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT", "MKL_NUM_THREADS")
COMPETITOR = (
    "import time\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"
)


# ----------------------------------------------------------------------------- one case


def train_times(threads: int, steps: int, warmup: int) -> list[float]:
    """Seconds of each of ``steps`` shapes32 training steps after ``warmup`` untimed ones."""
    import torch

    sys.path.insert(0, str(HERE))
    from speed import random_layouts

    from layout2im.config import apply_overrides, load_config
    from layout2im.threads import use_threads
    from layout2im.training.trainer import Trainer
    from layout2im.vocab import Vocabulary

    use_threads(threads)
    config = apply_overrides(load_config("shapes32"), ["train.device=cpu"])
    vocab = Vocabulary([f"c{i}" for i in range(config.model.num_classes)])
    torch.manual_seed(0)
    trainer = Trainer(config, vocab, device="cpu")
    g = torch.Generator().manual_seed(0)
    size, batch = config.model.image_size, config.train.batch_size
    batches = [
        (
            torch.randn(batch, 3, size, size, generator=g),
            random_layouts(batch, config.model.num_classes, g, config.data.max_objects),
        )
        for _ in range(4)
    ]
    times = []
    for step in range(warmup + steps):
        images, layout = batches[step % len(batches)]
        start = time.perf_counter()
        trainer.train_step(images, layout)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return times


def generate_times(threads: int, reps: int, warmup: int, batch: int) -> list[float]:
    """Milliseconds per image of ``reps`` paper-coco64 generation calls of ``batch`` samples."""
    import torch

    from layout2im.config import load_config
    from layout2im.models.generator import Layout2ImGenerator
    from layout2im.pipeline import Layout2ImPipeline
    from layout2im.threads import use_threads
    from layout2im.vocab import Vocabulary

    use_threads(threads)
    config = load_config("paper-coco64")
    torch.manual_seed(0)
    generator = Layout2ImGenerator(config.model).eval()
    vocab = Vocabulary(["__image__", *(f"c{i}" for i in range(1, config.model.num_classes))])
    pipe = Layout2ImPipeline(generator, vocab, max_objects=config.data.max_objects)
    boxes = [[0.05, 0.05, 0.5, 0.5], [0.4, 0.1, 0.9, 0.6], [0.1, 0.5, 0.6, 0.95]]
    boxes += [[0.5, 0.5, 0.95, 0.9], [0.3, 0.3, 0.7, 0.7]]
    scene = {"objects": [{"category": f"c{i + 1}", "box": box} for i, box in enumerate(boxes)]}
    times = []
    for rep in range(warmup + reps):
        start = time.perf_counter()
        pipe(scene, num_samples=batch, seed=rep)
        if rep >= warmup:
            times.append((time.perf_counter() - start) * 1000 / batch)
    return times


def run_worker(args) -> int:
    import torch

    if args.worker == "train":
        times = train_times(args.case_threads, args.train_steps, args.warmup)
    else:
        times = generate_times(args.case_threads, args.gen_reps, args.warmup, args.gen_batch)
    record = {
        "times": times,
        "threads": torch.get_num_threads(),
        "wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "cpu_seconds": time.process_time(),
    }
    print(json.dumps(record))
    return 0


# ----------------------------------------------------------------------------- the table


def start_competitor(limit: float) -> subprocess.Popen:
    """A process that keeps one core busy for at most ``limit`` seconds."""
    return subprocess.Popen([sys.executable, "-c", COMPETITOR.format(limit=limit)])


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def case_environment(policy: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OMP_VARIABLES}
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    return env


def run_case(args, task: str, threads: int, policy: str, load: str) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", task]
    command += ["--case-threads", str(threads), "--warmup", str(args.warmup)]
    command += ["--train-steps", str(args.train_steps), "--gen-reps", str(args.gen_reps)]
    command += ["--gen-batch", str(args.gen_batch)]
    load_before = os.getloadavg()
    competitor = start_competitor(args.competitor_limit) if load != "none" else None
    try:
        if competitor is not None:
            time.sleep(0.5)  # running before the case starts
        done = subprocess.run(
            command,
            env=case_environment(policy),
            capture_output=True,
            text=True,
            timeout=args.competitor_limit,
        )
    finally:
        if competitor is not None:
            stop(competitor)
    if done.returncode != 0:
        raise SystemExit(f"case {task} {threads} {policy} {load} failed:\n{done.stderr}")
    record = json.loads(done.stdout.strip().splitlines()[-1])
    times = record.pop("times")
    record.update(
        task=task,
        threads_asked=threads,
        policy=policy,
        load=load,
        times=times,
        median=statistics.median(times),
        min=min(times),
        max=max(times),
        loadavg_before=list(load_before),
        loadavg_after=list(os.getloadavg()),
    )
    return record


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def cell(record: dict, task: str) -> str:
    digits = 3 if task == "train" else 1
    return f"{record['median']:.{digits}f} ({record['min']:.{digits}f}-{record['max']:.{digits}f})"


def render(report: dict) -> str:
    lines = [
        "# Threads and OpenMP wait policy on a shared CPU",
        "",
        f"`{report['command']}`",
        "",
        f"CPU: {report['cpu']}; {report['cores']} cores; torch {report['torch']}; "
        f"{report['created']}.",
        f"Load at the start: `{report['uptime_start']}`; at the end: `{report['uptime_end']}`.",
        "",
        "Median (min-max) over the timed repetitions; *one busy core* adds a process that "
        "spins on one core for the whole case. The machine's own load (other users) is in "
        "every column: the load average before each case is in the JSON.",
        "",
    ]
    records = report["cases"]
    for task in report["tasks"]:
        lines += [f"## {TASK_TITLES[task]}", ""]
        lines += ["| threads | wait policy | " + " | ".join(f"{x}" for x in LOADS) + " |"]
        lines += ["|---|---|" + "---|" * len(LOADS)]
        for threads in report["threads"]:
            for policy in POLICIES:
                row = [
                    cell(r, task)
                    for load in LOADS
                    for r in records
                    if (r["task"], r["threads_asked"], r["policy"], r["load"])
                    == (task, threads, policy, load)
                ]
                name = "torch default (spin)" if policy == "default" else policy
                lines.append(f"| {threads} | {name} | " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    p.add_argument("--train-steps", type=int, default=8, help="timed training steps per case")
    p.add_argument("--gen-reps", type=int, default=3, help="timed generation calls per case")
    p.add_argument("--gen-batch", type=int, default=8, help="samples per generation call")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps or calls per case")
    p.add_argument(
        "--competitor-limit",
        type=float,
        default=900.0,
        help="seconds after which the competing process (and a case) stops in any case",
    )
    p.add_argument("--out", type=Path, default=RESULTS / "threads-cpu")
    p.add_argument("--worker", choices=TASKS, help=argparse.SUPPRESS)
    p.add_argument("--case-threads", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return run_worker(args)

    import torch

    from layout2im.fsutil import write_text
    from layout2im.hardware import cpu_summary
    from layout2im.threads import available_cores

    report = {
        "command": " ".join(
            ["python benchmarks/threads.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "cpu": cpu_summary(),
        "cores": available_cores(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "uptime_start": uptime(),
        "tasks": args.tasks,
        "threads": args.threads,
        "settings": {
            "train_steps": args.train_steps,
            "gen_reps": args.gen_reps,
            "gen_batch": args.gen_batch,
            "warmup": args.warmup,
        },
        "cases": [],
    }
    for task in args.tasks:
        for load in LOADS:
            for threads in args.threads:
                for policy in POLICIES:
                    record = run_case(args, task, threads, policy, load)
                    report["cases"].append(record)
                    print(
                        f"{task:8s} threads {threads} {policy:8s} {load:14s} "
                        f"{cell(record, task)}  (load {record['loadavg_before'][0]:.2f})",
                        flush=True,
                    )
    report["uptime_end"] = uptime()
    text = render(report)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out.with_suffix(".json"), json.dumps(report, indent=1) + "\n")
    write_text(args.out.with_suffix(".md"), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
