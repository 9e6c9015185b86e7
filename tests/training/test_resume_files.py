"""``train --resume`` reads the run folder's ``model-best/best.json`` and ``stats.jsonl``
through the bounded readers: a damaged best record stops the resume with one error line (exit
status 2) and nothing new written; damaged stats lines are dropped with a warning naming them."""

import json
import logging
import os
import shutil

import pytest
import yaml

from layout2im.cli import main
from layout2im.errors import short_path
from layout2im.training.loop import MAX_STATS_LINE_BYTES, RunError, train
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return train(tiny_config(steps=2), out_root=root, progress=False).run_dir


@pytest.fixture
def run(finished_run, tmp_path):
    copy = tmp_path / "runs" / finished_run.name
    shutil.copytree(finished_run, copy)
    return copy


def _resume_cli(tmp_path, run, steps=3) -> int:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(steps=steps).model_dump()))
    args = ["train", "--config", str(config), "--out", str(run.parent), "--resume", str(run)]
    return main([*args, "--no-progress"])


def _files(run) -> dict[str, bytes]:
    """Every file of the run folder and its bytes (checkpoints by size: they are large)."""
    return {
        str(p.relative_to(run)): len(p.read_bytes()) if p.suffix == ".pt" else p.read_bytes()
        for p in sorted(run.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"[" * 10_000 + b"]" * 10_000, "JSON nested deeper than 64 levels"),
        (b"\xff\xfe", "not UTF-8 text (byte 0)"),
        (b"{" + b'"a": 1, ' * 20_000 + b'"value": 1}', "is larger than the limit of 64 KB"),
        (b"[1, 2, 3]", "must be an object with a numeric 'value', got [1, 2, 3]"),
        (b'{"value": true}', "must be an object with a numeric 'value', got {'value': True}"),
    ],
)
def test_a_damaged_best_record_stops_the_resume_with_one_error_line(
    tmp_path, capsys, run, content, problem
):
    best = run / "model-best" / "best.json"
    best.parent.mkdir()
    best.write_bytes(content)
    before = _files(run)
    assert _resume_cli(tmp_path, run) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: best-model record {short_path(best)}")
    assert problem in err and "Traceback" not in err and err.count("\n") == 1, err
    assert _files(run) == before  # nothing written: no checkpoint, sample, log line or temp file


def test_a_good_best_record_is_read_on_resume(tmp_path, capsys, run):
    best = run / "model-best" / "best.json"
    best.parent.mkdir()
    best.write_text(json.dumps({"step": 2, "metric": "fid", "value": 1.5}))
    assert _resume_cli(tmp_path, run) == 0
    assert (run / "checkpoints" / "ckpt-00000003.pt").is_file()


def test_damaged_stats_lines_are_dropped_with_a_warning_naming_them(run, caplog):
    stats = run / "stats.jsonl"
    good = stats.read_bytes()
    assert good.count(b"\n") == 2
    stats.write_bytes(
        good
        + b"\xff\xfe\n"  # line 3
        + b"[" * 10_000
        + b"]" * 10_000
        + b"\n"  # line 4
        + b'{"step": "'
        + b"x" * MAX_STATS_LINE_BYTES
        + b'"}\n'  # line 5: too long
        + b'{"step": "2"}\n'  # line 6
        + b'{"step": 99, "D/total": 1.0}\n'  # a later step: dropped quietly
        + b'{"step": 2, "D/tot'  # line 8: torn by a crash
    )
    with caplog.at_level(logging.WARNING, logger="layout2im"):
        train(tiny_config(steps=3), out_root=run.parent, resume=run, progress=False)
    warning = next(r.getMessage() for r in caplog.records if "damaged" in r.getMessage())
    assert warning == (
        f"{short_path(stats)}: dropped 5 damaged line(s): line 3 (not UTF-8 text (byte 0)); "
        "line 4 (JSON nested deeper than 64 levels); line 5 (longer than the limit of 64 KB); "
        "line 6 (not a record with a numeric 'step'); line 8 (malformed JSON at line 1 column "
        "13: Unterminated string starting at)"
    )
    steps = [json.loads(line)["step"] for line in stats.read_text().splitlines()]
    assert steps == [1, 2, 3]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_stats_file_that_is_a_fifo_is_refused_unopened(tmp_path, capsys, run):
    stats = run / "stats.jsonl"
    stats.unlink()
    os.mkfifo(stats)
    before = _files(run)
    assert _resume_cli(tmp_path, run) == 2
    err = capsys.readouterr().err
    assert err == f"error: stats file {short_path(stats)} is a FIFO (named pipe), not a file\n"
    assert _files(run) == before


def test_the_python_api_raises_run_error(run):
    (run / "model-best").mkdir()
    (run / "model-best" / "best.json").write_bytes(b"\xff\xfe")
    with pytest.raises(RunError, match=r"best\.json: not UTF-8 text \(byte 0\)$"):
        train(tiny_config(steps=3), out_root=run.parent, resume=run, progress=False)
