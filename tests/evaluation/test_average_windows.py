"""benchmarks/average_windows.py on a tiny 32x32 run: one row per window, scored on test layouts."""

import json
from pathlib import Path

from tests.conftest import load_script, run_with_checkpoints

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "average_windows.py"


def test_each_window_is_averaged_scored_and_written(tmp_path, capsys):
    windows = load_script(SCRIPT, "average_windows")
    run_with_checkpoints(tmp_path / "run", steps=(2, 4, 6), image_size=32)
    out = tmp_path / "res" / "windows"
    argv = [str(tmp_path / "run"), "--from-steps", "6", "2", "--num-layouts", "4"]
    assert windows.main([*argv, "--out", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["split"] == "test" and record["num_layouts"] == 4
    assert [row["steps"] for row in record["rows"]] == [[6], [2, 4, 6]]
    for row in record["rows"]:
        assert 0 <= row["object_acc_generated"] <= 1 and row["objects"] > 0
        assert len(row["classifier_sha256"]) == 64
    # the real images are the same layouts for every window
    assert record["rows"][0]["object_acc_real"] == record["rows"][1]["object_acc_real"]
    table = out.with_suffix(".md").read_text()
    assert "| last only | 1 |" in table and "| 2-6 | 3 |" in table
    assert "`test` split" in table

    assert windows.main([str(tmp_path / "missing"), "--from-steps", "2", "--out", str(out)]) == 2
    assert "run folder not found" in capsys.readouterr().err
