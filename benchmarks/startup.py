"""Start-up of generation: how long importing the package and one ``layout2im generate`` take.

Measured in fresh Python processes, round-robin over the source trees given, so that a machine
whose load drifts affects them alike:

- ``import``: ``import layout2im; from layout2im import Layout2ImPipeline`` with torch, numpy
  and PIL already imported (the package's own share);
- ``import with torch``: the same in a bare interpreter (what a script pays);
- ``generate``: ``python -m layout2im generate --layout examples/three-shapes.json --samples 1``
  on the shipped model, wall time of the whole process.

It also counts the modules the import loads and whether it loads the data, training,
evaluation, CLI, web or conversion code. ``--tree`` adds another checkout (its ``src`` is put
first on ``PYTHONPATH``; e.g. a ``git worktree`` of an older commit) to compare with.

    python benchmarks/startup.py --reps 7
    python benchmarks/startup.py --reps 7 --tree before=../old-checkout
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from layout2im.fsutil import portable_paths, write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "startup"
HEAVY = ("data", "training", "evaluation", "cli", "web", "conversion")

PACKAGE_IMPORT = """
import time, torch, numpy, PIL.Image
start = time.perf_counter()
import layout2im
from layout2im import Layout2ImPipeline
print(time.perf_counter() - start)
"""
MODULES = """
import json, sys, torch, numpy, PIL.Image
before = set(sys.modules)
import layout2im
from layout2im import Layout2ImPipeline
new = set(sys.modules) - before
ours = sorted(m for m in new if m.startswith("layout2im"))
layers = sorted({m.split(".")[1] for m in ours if m.count(".") >= 1} & set(sys.argv[1:]))
print(json.dumps({"package_modules": len(ours), "modules": len(new), "heavy_layers": layers,
                  "pydantic": "pydantic" in sys.modules}))
"""


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree / "src")}


def _wall(tree: Path, argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], cwd=tree, env=_env(tree), check=True,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - start


def _stdout(tree: Path, argv: list[str]) -> str:
    done = subprocess.run([sys.executable, *argv], cwd=tree, env=_env(tree), check=True,
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout.strip()


def measure(trees: dict[str, Path], reps: int) -> dict:
    times = {name: {"import": [], "import with torch": [], "generate": []} for name in trees}
    with tempfile.TemporaryDirectory() as out:
        for rep in range(reps):
            for name, tree in trees.items():
                t = times[name]
                t["import"].append(float(_stdout(tree, ["-c", PACKAGE_IMPORT])))
                t["import with torch"].append(
                    _wall(tree, ["-c", "import layout2im; from layout2im import Layout2ImPipeline"])
                )
                layout = str(tree / "examples" / "three-shapes.json")
                target = str(Path(out) / f"{name}-{rep}")
                argv = ["-m", "layout2im", "generate", "--layout", layout, "--samples", "1"]
                t["generate"].append(_wall(tree, [*argv, "--out", target]))
    results = {}
    for name, tree in trees.items():
        row = {m: {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v), "runs": v}
               for m, v in times[name].items()}  # fmt: skip
        row["imports"] = json.loads(_stdout(tree, ["-c", MODULES, *HEAVY]))
        row["commit"] = _stdout(tree, ["-c", "import subprocess; print(subprocess.run("
                                "['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,"
                                " text=True).stdout.strip())"])  # fmt: skip
        results[name] = row
    return results


def table(results: dict) -> str:
    lines = [
        "| tree | commit | import (s) | import with torch (s) | generate (s) | package modules "
        "| all modules | data/training/... loaded | pydantic |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, row in results.items():
        cells = [f"{row[m]['median_s']:.3f} [{row[m]['min_s']:.3f}, {row[m]['max_s']:.3f}]"
                 for m in ("import", "import with torch", "generate")]  # fmt: skip
        imports = row["imports"]
        heavy = ", ".join(imports["heavy_layers"]) or "none"
        lines.append(
            f"| {name} | {row['commit']} | {' | '.join(cells)} | {imports['package_modules']} "
            f"| {imports['modules']} | {heavy} | {'yes' if imports['pydantic'] else 'no'} |"
        )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=7, help="rounds over the trees (default 7)")
    p.add_argument("--tree", action="append", default=[], metavar="NAME=DIR",
                   help="another checkout to measure beside this one")  # fmt: skip
    p.add_argument("--out", type=Path, default=RESULTS, help="output path stem")
    args = p.parse_args()
    trees = {"this tree": ROOT}
    for item in args.tree:
        name, _, folder = item.partition("=")
        if not folder or not (Path(folder) / "src" / "layout2im").is_dir():
            p.error(f"--tree takes NAME=DIR with DIR a layout2im checkout, got {item!r}")
        trees[name] = Path(folder).resolve()
    results = measure(trees, args.reps)
    text = table(results)
    command = "python benchmarks/startup.py " + " ".join(sys.argv[1:])
    header = (
        f"Start-up of generation, medians [min, max] of {args.reps} round-robin repetitions; "
        f"{platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end.\n\n"
        f"Command: `{command}`\n\n"
    )
    print(header + text)
    record = {"command": command, "reps": args.reps, "trees": results}
    write_text(args.out.with_suffix(".json"), json.dumps(portable_paths(record), indent=2) + "\n")
    write_text(args.out.with_suffix(".md"), header + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
