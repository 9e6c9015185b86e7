"""benchmarks/quality_shapes.py end to end on an untrained 32x32 model and a few layouts."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from layout2im.evaluation.weight_files import sha256_of
from tests.conftest import load_script, tiny_config, tiny_model_config, train_tiny_model

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "quality_shapes.py"


@pytest.fixture(scope="module")
def quality():
    yield load_script(SCRIPT, "quality_shapes")
    sys.modules.pop("quality_shapes", None)


@pytest.fixture(scope="module")
def model32(tmp_path_factory):
    """A tiny 32x32 model trained for a few steps (real BatchNorm statistics)."""
    config = tiny_config()
    config.model = tiny_model_config(image_size=32)
    torch.manual_seed(0)
    return train_tiny_model(config, 12, tmp_path_factory.mktemp("model32"))


@pytest.mark.slow
def test_quality_table_columns_baseline_and_records(quality, model32, tmp_path, capsys):
    out = tmp_path / "res" / "q"
    argv = [
        "--model", str(model32), "--num-layouts", "6", "--inception-layouts", "3",
        "--inception", str(tmp_path / "no-inception.pt"), "--out", str(out),
        "--cache-dir", str(tmp_path / "cache"), "--no-progress",
    ]  # fmt: skip
    assert quality.main(argv) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["model"]["sha256"] == sha256_of(model32 / "model.safetensors")
    assert report["command"].startswith("python benchmarks/quality_shapes.py --model ")
    assert report["settings"]["num_layouts"] == 6 and report["settings"]["inception_layouts"] == 3
    assert report["settings"]["torch"] == torch.__version__ and report["created"]
    rows = {row["metric"]: row for row in report["table"]}
    assert len(rows) == len(quality.ROWS)

    # the zero-latent baseline is deterministic: no diversity at all
    for title in (
        "diversity: pixel L1 between two samples",
        "diversity: per-object colour change",
        "diversity: per-object pixel L1 in the box",
    ):
        assert rows[title]["model"]["value"] > 0
        assert rows[title]["zero_latent"]["value"] == 0.0
        assert rows[title]["real"] is None
    # real data: the classifier's ceiling and the real-vs-real floor
    acc = rows["object accuracy, generated crops"]
    assert acc["real"]["value"] > 0.6 and acc["model"]["value"] < acc["real"]["value"]
    floor = rows["FID, shapes scene features"]
    assert 0 < floor["real"]["value"] < floor["model"]["value"]
    assert report["runs"]["real"]["shapes"]["other_split"] == "test"
    # a missing Inception file skips only that row, with the reason
    assert rows["FID, Inception pool3"]["model"]["skipped"].startswith("missing file")
    assert any(note.startswith("- `fid` skipped: missing file") for note in report["skipped"])

    markdown = out.with_suffix(".md").read_text()
    assert "| metric | model | zero-latent model (z = 0) | real data | target |" in markdown
    assert report["model"]["sha256"] in markdown and markdown in printed
    assert (out.parent / "q_samples.png").stat().st_size > 0
    assert not list(out.parent.glob("*.tmp"))


def test_quality_argument_errors(quality, model32, tmp_path, capsys):
    assert quality.main(["--model", str(model32), "--num-layouts", "1"]) == 2
    assert "--num-layouts must be in 2..2000" in capsys.readouterr().err
    bad = ["--model", str(model32), "--num-layouts", "4", "--inception-layouts", "9"]
    assert quality.main(bad) == 2
    assert "--inception-layouts must be 0 or in 2..--num-layouts" in capsys.readouterr().err
    assert quality.main(["--model", str(tmp_path / "absent" / "model")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_classifier_diagnosis_tables(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "shapes_classifier_diagnosis", SCRIPT.parent / "shapes_classifier_diagnosis.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "diag"
    assert module.main(["--num-images", "4", "--out", str(out), "--no-progress"]) == 0
    report = json.loads(out.with_suffix(".json").read_text())
    r = report["results"]
    n = r["overall"]["objects"]
    assert n == sum(c["objects"] for c in r["per_category"].values())
    assert n == sum(c["objects"] for c in r["by_size"].values())
    assert n == sum(c["objects"] for c in r["by_texture"].values())
    assert r["misaligned_boxes"]["exact"] == r["overall"]["accuracy"]
    assert 0.5 < r["overall"]["accuracy"] <= 1.0  # the bundled classifier on real crops
    assert "| circle |" in out.with_suffix(".md").read_text()
    assert module.main(["--num-images", "0"]) == 2
    assert "--num-images must be in 1..2000" in capsys.readouterr().err
