import json

import numpy as np
import pytest
import yaml
from PIL import Image

from layout2im.cli import main
from tests.conftest import tiny_config

GOOD = {
    "objects": [
        {"category": "circle", "box": [0.1, 0.1, 0.6, 0.6]},
        {"category": "star", "box": [0.5, 0.5, 1, 1]},
    ]
}


def _write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_generate_writes_samples_and_grid_deterministically(tmp_path, tiny_model_dir, capsys):
    layout = _write(tmp_path / "scene.json", GOOD)
    args = ["generate", "--model", str(tiny_model_dir), "--layout", str(layout), "--samples", "3"]
    assert main([*args, "--seed", "1", "--out", str(tmp_path / "a")]) == 0
    assert "generated 3 image(s)" in capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [
        "scene-grid.png",
        "scene-sample00.png",
        "scene-sample01.png",
        "scene-sample02.png",
    ]
    assert Image.open(tmp_path / "a" / "scene-sample00.png").size == (16, 16)
    assert main([*args, "--seed", "1", "--out", str(tmp_path / "b")]) == 0
    assert main([*args, "--seed", "2", "--out", str(tmp_path / "c")]) == 0

    def pixels(folder, k=0):
        return np.asarray(Image.open(tmp_path / folder / f"scene-sample{k:02d}.png"))

    assert np.array_equal(pixels("a"), pixels("b"))
    assert not np.array_equal(pixels("a"), pixels("c"))
    assert not np.array_equal(pixels("a", 0), pixels("a", 1))


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"objects": [', "malformed JSON at line 1"),
        ({"objects": []}, '"objects" is empty'),
        (
            {"objects": [{"category": "sqare", "box": [0, 0, 1, 1]}]},
            "objects[0].category: unknown category 'sqare'; did you mean 'square'",
        ),
        (
            {"objects": [{"category": "square", "box": [0, 0, 1.5, 1]}]},
            "objects[0].box: x1 (1.5) is outside [0, 1]",
        ),
        (
            {"objects": [{"category": "square", "box": [0.6, 0, 0.5, 1]}]},
            "objects[0].box: x1 (0.5) must be greater than x0 (0.6)",
        ),
        (
            {"objects": [{"category": "square", "box": [0, 0, 0.5, 0.5]}] * 33},
            "has 33 objects; this model takes at most 32",
        ),
    ],
)
def test_generate_bad_layouts_exit_2_and_write_nothing(
    tmp_path, tiny_model_dir, capsys, content, message
):
    layout = _write(tmp_path / "bad.json", content)
    out = tmp_path / "out"
    code = main(
        ["generate", "--model", str(tiny_model_dir), "--layout", str(layout), "--out", str(out)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err
    assert not out.exists()


def test_generate_more_objects_than_trained_warns(tmp_path, tiny_model_dir, capsys):
    layout = _write(tmp_path / "many.json", {"objects": [GOOD["objects"][0]] * 12})
    out = tmp_path / "out"
    args = ["generate", "--model", str(tiny_model_dir), "--layout", str(layout)]
    assert main([*args, "--samples", "1", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: the layout has 12 objects" in err
    assert "trained with at most 8 objects" in err
    assert (out / "many-sample00.png").is_file()


def test_generate_missing_files(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "out"
    assert (
        main(
            [
                "generate",
                "--model",
                str(tiny_model_dir),
                "--layout",
                str(tmp_path / "x.json"),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "layout file not found" in capsys.readouterr().err
    layout = _write(tmp_path / "ok.json", GOOD)
    assert (
        main(
            [
                "generate",
                "--model",
                str(tmp_path / "nomodel"),
                "--layout",
                str(layout),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "model folder not found" in capsys.readouterr().err
    assert (
        main(
            [
                "generate",
                "--model",
                str(tiny_model_dir),
                "--layout",
                str(layout),
                "--samples",
                "0",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "--samples must be between 1 and 256" in capsys.readouterr().err
    assert not out.exists()


def test_info_and_config_errors(capsys):
    assert main(["info", "--config", "shapes32"]) == 0
    assert "generator" in capsys.readouterr().out
    assert main(["info", "--config", "nope"]) == 2
    assert (
        "unknown preset 'nope'; presets: paper-coco64, paper-vg64, shapes32"
        in capsys.readouterr().err
    )
    assert main(["info", "--config", "shapes32", "--set", "model.z_dim=abc"]) == 2
    assert "model.z_dim must be an integer" in capsys.readouterr().err
    assert main(["info", "--config", "shapes32", "--set", "model.zdim=3"]) == 2
    assert "unknown config key 'model.zdim'" in capsys.readouterr().err
    assert main(["info", "--config", "shapes32", "--set", "model.image_size=30"]) == 2
    assert "model.image_size=30" in capsys.readouterr().err


def test_train_command_with_a_yaml_config(tmp_path, capsys):
    config = tiny_config(steps=2).to_dict()
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    assert (
        main(["train", "--config", str(path), "--out", str(tmp_path / "runs"), "--no-progress"])
        == 0
    )
    out = capsys.readouterr().out
    assert "run folder:" in out
    assert (tmp_path / "runs" / "00000-tiny" / "model" / "model.safetensors").is_file()
    assert (
        main(
            [
                "train",
                "--config",
                str(path),
                "--out",
                str(tmp_path / "runs"),
                "--set",
                "train.lr=0.1",
                "--resume",
                "--no-progress",
            ]
        )
        == 2
    )
    assert "belongs to a different config" in capsys.readouterr().err


def test_export_shapes(tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "export-shapes",
                "--out",
                str(tmp_path / "coco"),
                "--images",
                "5",
                "--size",
                "32",
            ]
        )
        == 0
    )
    data = json.loads((tmp_path / "coco" / "annotations" / "instances.json").read_text())
    assert len(data["images"]) == 5 and len(data["categories"]) >= 8
    assert main(["data", "export-shapes", "--out", str(tmp_path / "bad"), "--images", "0"]) == 2
    assert "error:" in capsys.readouterr().err


def test_generate_with_a_style_reference_next_to_the_layout(tmp_path, tiny_model_dir, capsys):
    Image.new("RGB", (30, 20), (255, 0, 0)).save(tmp_path / "red.png")
    styled = {
        "objects": [{**GOOD["objects"][0], "style": {"image": "red.png", "box": [0, 0, 1, 1]}}]
    }
    layout = _write(tmp_path / "styled.json", styled)
    args = ["generate", "--model", str(tiny_model_dir), "--layout", str(layout)]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "styled-sample00.png").is_file()
    (tmp_path / "red.png").write_bytes(b"not a png")
    assert main([*args, "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "error: objects[0].style.image: not an image" in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()
