"""layout2im.threads: the thread count a run uses and the OpenMP wait policy it asks for."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from layout2im import threads


def test_training_leaves_one_core_to_the_rest_of_the_machine_and_generation_uses_all():
    assert [threads.default_threads(n) for n in (1, 2, 4, 16)] == [1, 1, 3, 15]
    assert [threads.default_threads(n, "train") for n in (1, 2, 4, 16)] == [1, 1, 3, 15]
    assert [threads.default_threads(n, "generate") for n in (1, 2, 4, 16)] == [1, 2, 4, 16]
    with pytest.raises(ValueError, match="work must be one of"):
        threads.default_threads(2, "dance")


def test_the_defaults_are_what_the_committed_tables_show():
    """Per kind of work, the default count is never the slower one on 2 cores with a busy core
    (the passive wait the command sets), in both committed tables."""
    import json
    from pathlib import Path

    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    chosen = {
        "train": threads.default_threads(2, "train"),
        "generate": threads.default_threads(2, "generate"),
    }
    for name in ("threads-cpu.json", "threads-cpu-idle.json"):
        cases = json.loads((results / name).read_text())["cases"]
        for task, count in chosen.items():
            busy = {
                case["threads_asked"]: case["median"]
                for case in cases
                if case["task"] == task and case["policy"] == "PASSIVE" and case["load"] != "none"
            }
            assert busy[count] == min(busy.values()), (name, task, busy)


@pytest.mark.parametrize(
    "argv, work",
    [
        (["train", "--config", "shapes32"], "train"),
        (["evaluate", "train-classifier", "--config", "shapes32"], "train"),
        (["generate", "--layout", "x.json"], "generate"),
        (["demo"], "generate"),
        (["serve"], "generate"),
        (["evaluate", "run", "--model", "m"], "generate"),
        (["evaluate", "images", "d", "--config", "shapes32"], "generate"),
        (["evaluate", "layouts", "--out", "x.jsonl"], "generate"),
    ],
)
def test_every_computing_command_takes_threads_with_the_default_for_its_work(argv, work):
    from layout2im.cli.main import build_parser

    args = build_parser(argv[0]).parse_args([*argv, "--threads", "3"])
    assert args.threads == 3 and args.thread_work == work


def test_the_users_count_wins_then_omp_num_threads_then_the_default(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.requested_threads(2) == 2
    assert threads.requested_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads.requested_threads() == threads.default_threads()
    assert threads.requested_threads(work="generate") == threads.default_threads(work="generate")


@pytest.mark.parametrize("value", [0, -1, "two", 1.5, True, 10**6])
def test_a_bad_count_names_the_field_and_the_value(value):
    with pytest.raises(threads.ThreadsError, match=r"^--threads: must be an integer from 1"):
        threads.check_threads(value)


def test_a_bad_omp_num_threads_is_named(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")
    with pytest.raises(threads.ThreadsError, match=r"OMP_NUM_THREADS: .*'lots'"):
        threads.requested_threads()


def test_use_threads_sets_torch_and_describe_reports_it():
    before = torch.get_num_threads()
    try:
        assert threads.use_threads(1) == 1 and torch.get_num_threads() == 1
        assert threads.describe().startswith("threads: 1 of ")
    finally:
        torch.set_num_threads(before)


def test_the_command_sets_passive_waiting_before_torch_starts():
    """In a fresh process: importing the command line sets PASSIVE (which prefer_passive_wait
    does only while torch is not loaded, see the next test); a policy the user set is kept."""
    code = "import os, layout2im.cli\nprint(os.environ['OMP_WAIT_POLICY'])\n"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.split() == ["PASSIVE"], done.stderr
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.split() == ["ACTIVE"], done.stderr


def test_after_torch_the_policy_is_not_changed(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert "torch" in sys.modules
    assert threads.prefer_passive_wait() is False
    assert "OMP_WAIT_POLICY" not in os.environ


def test_train_threads_is_applied_and_recorded_in_the_runs_log(tmp_path, capsys):
    import yaml

    from layout2im.cli import main
    from tests.conftest import tiny_config

    before = torch.get_num_threads()
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(steps=1).model_dump()))
    try:
        args = ["train", "--config", str(config), "--out", str(tmp_path / "runs"), "--no-progress"]
        assert main([*args, "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(before)
    (run,) = (tmp_path / "runs").iterdir()
    assert "threads: 1 of " in (run / "log.txt").read_text()
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["threads"] == 1
    capsys.readouterr()
    assert main([*args, "--threads", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --threads: must be an integer from 1")
    assert len(list((tmp_path / "runs").iterdir())) == 1  # nothing started


def test_the_threads_table_in_the_training_docs_is_the_committed_results():
    import json
    import re
    from pathlib import Path

    from tests.test_readme import shown

    root = Path(__file__).resolve().parents[1]
    docs = (root / "docs" / "training.md").read_text()
    for name in ("threads-cpu", "threads-cpu-idle"):
        row = next(line for line in docs.splitlines() if f"/{name}.md)" in line)
        train, generate = row.split("|")[2:4]
        cases = json.loads((root / "benchmarks" / "results" / f"{name}.json").read_text())["cases"]
        for task, cell in (("train", train), ("generate", generate)):
            for count, shown_range in zip((1, 2), cell.split("/"), strict=True):
                medians = [
                    case["median"]
                    for case in cases
                    if case["task"] == task
                    and case["policy"] == "PASSIVE"
                    and case["threads_asked"] == count
                ]
                low, high = re.fullmatch(r"\s*([0-9.]+)-([0-9.]+)\s*", shown_range).groups()
                assert shown(low, min(medians)) and shown(high, max(medians)), (name, task, count)
