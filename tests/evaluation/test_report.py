"""The results file, the metrics table and the markdown report of an evaluation."""

import json

from layout2im.evaluation import format_markdown, format_table, write_results


def _results() -> dict:
    return {
        "protocol": {
            "name": "custom",
            "samples_per_layout": 1,
            "rescale": "clamp",
            "resize": "tf-bilinear",
            "inception_size": 299,
            "is_splits": 1,
            "seed": 0,
        },
        "data": {
            "config": {"name": "shapes"},
            "split": "val",
            "layouts": 4,
            "layouts_in_split": 64,
            "image_size": 16,
        },
        "images": {"samples_per_layout_generated": 2},
        "networks": {
            "object_classifier": {"path": "/x/shapes-objects.safetensors", "sha256": "ab" * 32}
        },
        "metrics": {
            "object-accuracy": {"status": "ok", "values": {"object_accuracy": 0.5, "objects_n": 7}},
            "diversity": {"status": "ok", "values": {"lpips_mean": 0.25, "lpips_std": 0.01}},
            "is": {"status": "skipped", "reason": "missing file a|b"},
        },
        "model": {"path": "runs/m/model", "weights_sha256": "cd" * 32},
        "command": ["layout2im", "evaluate", "--model", "runs/m/model"],
        "settings": {"device": "cpu", "torch": "2.x"},
        "created": "2026-01-01T00:00:00+00:00",
    }


def test_table_has_one_row_per_metric_with_values_networks_and_reasons():
    lines = format_table(_results()).splitlines()
    assert lines[0] == (
        "protocol custom: shapes split val, 4 of 64 layouts, 1 image(s) per layout scored "
        "(2 generated), 16x16, rescale clamp, resize tf-bilinear to 299, IS splits 1, seed 0"
    )
    assert lines[2:4] == ["| metric | result | network / note |", "|---|---|---|"]
    assert lines[4] == (
        "| object-accuracy | object_accuracy 0.5; objects_n 7 | "
        f"shapes-objects.safetensors (sha256 {'ab' * 6}) |"
    )
    assert lines[5] == "| diversity | lpips 0.25 ± 0.01 |  |"
    assert lines[6] == "| is | skipped | missing file a\\|b |"


def test_markdown_report_is_a_heading_the_provenance_and_the_table():
    results = _results()
    md = format_markdown(results)
    head, table = md.split("\n\n", 2)[0], format_table(results)
    assert head == "# Evaluation: protocol custom"
    assert f"Model: `runs/m/model` (model.safetensors sha256 `{'cd' * 8}...`)." in md
    assert "Command: `layout2im evaluate --model runs/m/model`" in md
    assert "Device cpu, torch 2.x, 2026-01-01T00:00:00+00:00." in md
    assert md.endswith("\n" + table + "\n")


def test_results_file_round_trips(tmp_path):
    path = write_results(_results(), tmp_path / "sub" / "results.json")
    assert json.loads(path.read_text()) == _results()
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]
