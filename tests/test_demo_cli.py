"""``layout2im demo`` and ``generate`` without ``--model``: the shipped default model."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

import layout2im.model_folder as model_folder_module
from layout2im.cli import main
from layout2im.layout import example_layouts


@pytest.fixture
def shipped(tmp_path, tiny_model_dir, monkeypatch):
    """A package whose only shipped model is the tiny test model, under the default name."""
    folder = tmp_path / "pretrained"
    shutil.copytree(tiny_model_dir, folder / model_folder_module.DEFAULT_MODEL)
    monkeypatch.setattr(model_folder_module, "PRETRAINED_DIR", folder)
    return folder / model_folder_module.DEFAULT_MODEL


def test_demo_uses_the_shipped_model_and_trains_nothing(tmp_path, shipped, capsys):
    out, runs = tmp_path / "demo", tmp_path / "runs"
    assert main(["demo", "--out", str(out), "--runs", str(runs), "--samples", "2"]) == 0
    printed = capsys.readouterr().out
    assert str(shipped) in printed and "training" not in printed
    assert not runs.exists()
    stems = sorted(p.stem for p in example_layouts())
    assert len(stems) >= 3
    assert sorted(p.name for p in out.glob("*-grid.png")) == [f"{s}-grid.png" for s in stems]
    for stem in stems:
        assert str(out / f"{stem}-grid.png") in printed
        assert len(list(out.glob(f"{stem}-sample*.png"))) == 2
        assert Image.open(out / f"{stem}-sample00.png").size == (16, 16)  # the tiny model's


def test_generate_without_model_uses_the_shipped_default(tmp_path, shipped, tiny_model_dir):
    layout = tmp_path / "scene.json"
    layout.write_text(
        json.dumps({"objects": [{"category": "circle", "box": [0.1, 0.1, 0.7, 0.7]}]})
    )
    common = ["--layout", str(layout), "--samples", "2", "--seed", "3"]
    assert main(["generate", *common, "--out", str(tmp_path / "a")]) == 0
    assert (
        main(["generate", "--model", str(tiny_model_dir), *common, "--out", str(tmp_path / "b")])
        == 0
    )
    for k in range(2):
        a = np.asarray(Image.open(tmp_path / "a" / f"scene-sample0{k}.png"))
        b = np.asarray(Image.open(tmp_path / "b" / f"scene-sample0{k}.png"))
        np.testing.assert_array_equal(a, b)


def test_generate_without_any_model_says_how_to_pass_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(model_folder_module, "PRETRAINED_DIR", tmp_path / "none")
    layout = tmp_path / "scene.json"
    layout.write_text(json.dumps({"objects": [{"category": "circle", "box": [0, 0, 1, 1]}]}))
    assert main(["generate", "--layout", str(layout), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no model is shipped") and "--model" in err
    assert not (tmp_path / "out").exists()


def test_demo_rejects_bad_options(tmp_path, shipped, capsys):
    assert main(["demo", "--steps", "5", "--out", str(tmp_path / "d")]) == 2
    assert "--steps only applies with --train" in capsys.readouterr().err
    assert main(["demo", "--train", "--steps", "0", "--out", str(tmp_path / "d")]) == 2
    assert "--steps must be positive" in capsys.readouterr().err
    assert main(["demo", "--samples", "0", "--out", str(tmp_path / "d")]) == 2
    assert "--samples must be between 1 and 64" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_demo_train_trains_shapes32_and_generates_with_it(tmp_path, shipped, capsys):
    out, runs = tmp_path / "demo", tmp_path / "runs"
    args = ["demo", "--train", "--steps", "2", "--samples", "1"]
    assert main([*args, "--out", str(out), "--runs", str(runs)]) == 0
    printed = capsys.readouterr().out
    assert "training shapes32" in printed
    (run,) = runs.iterdir()
    assert (run / "model" / "model.safetensors").is_file()
    assert json.loads((run / "model" / "config.json").read_text())["model"]["image_size"] == 32
    sample = next(out.glob("*-sample00.png"))
    assert Image.open(sample).size == (32, 32)  # trained shapes32, not the shipped tiny model
