"""The README's figures are the committed measurements, rounded as shown."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = (ROOT / "README.md").read_text()
# the shipped model's quality table lives in its page, linked from the README
SHIPPED_MODEL_DOC = (ROOT / "docs" / "shipped-model.md").read_text()

# the quality-table rows (docs/shipped-model.md), in order, and the benchmark table's rows they show
QUALITY_ROWS = [
    "object accuracy, generated crops",
    "layout fidelity (object found in a window around its box)",
    "FID, Inception pool3",
    "FID, shapes scene features",
    "diversity: pixel L1 between two samples",
    "diversity: per-object colour change",
    "reconstruction: colour error in boxes, z = estimated code",
]


def shown(cell: str, value: float) -> bool:
    """Whether ``cell`` ("90.9%", "1.08", "0") is ``value`` rounded to the digits shown."""
    cell = cell.strip().replace(",", "")
    if cell.endswith("%"):
        cell, value = cell[:-1], value * 100
    decimals = len(cell.split(".")[1]) if "." in cell else 0
    return f"{value:.{decimals}f}" == cell


def quality_table() -> list[list[str]]:
    start = SHIPPED_MODEL_DOC.index("| metric (1,000 held-out layouts")
    lines = SHIPPED_MODEL_DOC[start:].split("\n\n")[0].splitlines()[2:]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines]


def test_quality_table_matches_the_benchmark_results():
    report = json.loads((RESULTS / "quality_shapes32.json").read_text())
    rows = {row["metric"]: row for row in report["table"]}
    table = quality_table()
    assert len(table) == len(QUALITY_ROWS)
    for cells, name in zip(table, QUALITY_ROWS, strict=True):
        row = rows[name]
        for cell, column in zip(cells[1:], ("model", "zero_latent", "real"), strict=True):
            if row[column] is None:
                assert cell == "—", (name, column)
            else:
                assert shown(cell, row[column]["value"]), (name, column, cell, row[column])
    random_codes = re.search(r"random codes ([0-9.]+)", table[-1][0]).group(1)
    reference = rows["reference: colour error in boxes, z ~ N(0, I)"]["model"]["value"]
    assert shown(random_codes, reference)


def test_shapes32_step_time_matches_the_speed_results():
    record = json.loads((RESULTS / "speed-shapes32-cpu-b8.json").read_text())
    median = record["results"]["fast"]["train_s_per_iter"]["median"]
    claimed = re.search(r"([0-9.]+) s per training step at batch 8", README).group(1)
    assert shown(claimed, median)


def test_the_quickstart_training_times_with_one_thread_are_the_threads_tables():
    text = " ".join(README.split())
    for name in ("threads-cpu", "threads-cpu-idle"):
        record = json.loads((RESULTS / f"{name}.json").read_text())
        one_thread = [
            case["median"]
            for case in record["cases"]
            if case["task"] == "train"
            and case["threads_asked"] == 1
            and case["policy"] == "PASSIVE"
        ]
        pattern = (
            rf"(\d+)-(\d+) minutes on 2 [^(]*\(([0-9.]+)-([0-9.]+) s per step[^[]*\[{name}\.md\]"
        )
        *minutes, low, high = re.search(pattern, text).groups()
        assert shown(low, min(one_thread)) and shown(high, max(one_thread)), name
        assert [int(m) for m in minutes] == [
            round(3000 * s / 60) for s in (min(one_thread), max(one_thread))
        ], name
