import errno
import json
import os
import shutil
import subprocess
import sys

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
    assert "--layout not found: " in capsys.readouterr().err
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
    assert "--model not found: " in capsys.readouterr().err
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
        "--config 'nope' is neither an existing file nor a preset (presets: custom-small, "
        "paper-coco64, paper-vg64, shapes32)" in capsys.readouterr().err
    )
    assert main(["info", "--config", "shapes32", "--set", "model.z_dim=abc"]) == 2
    assert "model.z_dim must be an integer" in capsys.readouterr().err
    assert main(["info", "--config", "shapes32", "--set", "model.zdim=3"]) == 2
    assert "unknown config key 'model.zdim'" in capsys.readouterr().err
    assert main(["info", "--config", "shapes32", "--set", "model.image_size=30"]) == 2
    assert "model.image_size (30) is not reproduced" in capsys.readouterr().err


def test_train_command_with_a_yaml_config(tmp_path, capsys):
    config = tiny_config(steps=2).model_dump()
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


# ----------------------------------------------------------------------------- hostile input
# Each case: exit status 2, one "error:" line naming the problem, no traceback, nothing written.


def _generate(model, layout, out, *extra):
    return main(
        ["generate", "--model", str(model), "--layout", str(layout), "--out", str(out), *extra]
    )


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_generate_refuses_an_endless_or_huge_layout_file_unread(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "out"
    assert _generate(tiny_model_dir, "/dev/zero", out) == 2
    assert "--layout /dev/zero is a device, not a file" in _one_error_line(capsys)  # unread
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(16 * 2**20 + 1)  # sparse: no disk used
    assert _generate(tiny_model_dir, big, out) == 2
    assert "is larger than the limit" in _one_error_line(capsys)
    assert _generate(tiny_model_dir, tmp_path, out) == 2
    assert "is a folder, not a file" in _one_error_line(capsys)
    assert not out.exists()


def test_generate_refuses_deeply_nested_and_non_utf8_layouts(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "out"
    deep = _write(tmp_path / "deep.json", '{"objects": ' + _nested(100_000) + "}")
    assert _generate(tiny_model_dir, deep, out) == 2
    assert "deep.json: JSON nested deeper than 64 levels" in _one_error_line(capsys)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"objects": "\xe9"}')
    assert _generate(tiny_model_dir, latin, out) == 2
    assert "not UTF-8 text" in _one_error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("value", [1e308, -1e39, 3.5e38, 1001])
def test_generate_refuses_codes_out_of_float32_range(tmp_path, tiny_model_dir, capsys, value):
    z = [0.0, value, 0.0, 0.0]  # the tiny model's z_dim is 4
    layout = _write(
        tmp_path / "z.json",
        {"objects": [GOOD["objects"][0], {**GOOD["objects"][1], "z": z}]},
    )
    assert _generate(tiny_model_dir, layout, tmp_path / "out") == 2
    err = _one_error_line(capsys)
    assert "objects[1].z[1]:" in err and "out of range" in err and "[-1000, 1000]" in err
    assert not (tmp_path / "out").exists()


def test_generate_refuses_bad_output_paths_before_any_work(tmp_path, tiny_model_dir, capsys):
    layout = _write(tmp_path / "ok.json", GOOD)
    file = _write(tmp_path / "file.png", "not a folder")
    for out, reason in [
        (file, f"--out {file} is not a folder"),
        ("/dev/null", "--out /dev/null is not a folder"),
        (file / "sub", "is inside"),
    ]:
        assert _generate(tiny_model_dir, layout, out) == 2
        assert reason in _one_error_line(capsys)
    assert file.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.png", "ok.json"]


def test_generate_refuses_a_read_only_output_folder(tmp_path, tiny_model_dir, capsys, monkeypatch):
    from layout2im import fsutil

    layout = _write(tmp_path / "ok.json", GOOD)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    # The pipeline must not even load: the check comes first.
    monkeypatch.setattr(fsutil.tempfile, "mkstemp", read_only)
    monkeypatch.setattr("layout2im.pipeline.Layout2ImPipeline.from_pretrained", None)
    assert _generate(tiny_model_dir, layout, tmp_path / "ro") == 2
    assert "--out " in (err := _one_error_line(capsys)) and "is not writable: Read-only" in err
    assert not (tmp_path / "ro").exists()


def test_generate_on_a_full_disk_leaves_no_partial_file(
    tmp_path, tiny_model_dir, capsys, monkeypatch
):
    from layout2im import fsutil
    from layout2im.errors import short_path

    layout = _write(tmp_path / "ok.json", GOOD)
    out = tmp_path / "out"
    calls = []
    real_fsync = os.fsync

    def fsync_until_full(fd):
        calls.append(fd)
        if len(calls) >= 3:  # the grid and one sample fit, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(fsutil.os, "fsync", fsync_until_full)
    assert _generate(tiny_model_dir, layout, out, "--samples", "3") == 2
    err = _one_error_line(capsys)
    shown = short_path(out / "ok-sample01.png")
    assert err == f"error: cannot write {shown}: No space left on device\n"
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("seed", ["-1", str(2**63), str(2**70)])
def test_generate_refuses_seeds_out_of_range(tmp_path, tiny_model_dir, capsys, seed):
    layout = _write(tmp_path / "ok.json", GOOD)
    assert _generate(tiny_model_dir, layout, tmp_path / "out", "--seed", seed) == 2
    assert f"--seed must be between 0 and 2**63 - 1, got {seed}" in _one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_generate_quotes_only_a_prefix_of_a_huge_category_name(tmp_path, tiny_model_dir, capsys):
    name = "q" * 1_000_000
    layout = _write(tmp_path / "c.json", {"objects": [{"category": name, "box": [0, 0, 1, 1]}]})
    assert _generate(tiny_model_dir, layout, tmp_path / "out") == 2
    err = _one_error_line(capsys)
    assert "unknown category 'qqq" in err and len(err) < 600
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.z_dim=100000000000", "model.z_dim must be between 1 and 4096"),
        ("model.image_size=1000000000", "model.image_size must be between 8 and 1024"),
        ("model.decoder_channels=[10000000,8,4]", "between 1 and 2048"),
        ("model.num_classes=10000000", "model.num_classes must be between 1 and 65536"),
        ("train.batch_size=100000000", "train.batch_size must be between 2 and 4096"),
    ],
)
def test_configs_beyond_sane_bounds_are_refused_before_building(capsys, override, message):
    assert main(["info", "--config", "shapes32", "--set", override]) == 2
    assert message in _one_error_line(capsys)


def test_a_model_folder_asking_for_a_huge_network_is_refused(tmp_path, tiny_model_dir, capsys):
    layout = _write(tmp_path / "ok.json", GOOD)
    for key, value, message in [
        ("image_size", 10**9, "model.image_size must be between 8 and 1024"),
        ("crop_encoder_channels", [10**7, 8, 8], "between 1 and 2048"),
        ("z_dim", 2048, "does not match its config: it holds"),  # within bounds, too big
    ]:
        folder = tmp_path / f"m-{key}"
        shutil.copytree(tiny_model_dir, folder)
        meta = json.loads((folder / "config.json").read_text())
        meta["model"][key] = value
        (folder / "config.json").write_text(json.dumps(meta))
        assert _generate(folder, layout, tmp_path / "out") == 2
        assert message in _one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_evaluate_takes_a_shipped_model_name(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["evaluate", "--model", "shapes32", "--config", "shapes32"]
    args += ["--metrics", "diversity-shapes", "--num-images", "2", "--out", str(out)]
    assert main([*args, "--no-progress", "--batch-size", "2"]) == 0
    assert json.loads(out.read_text())["model"]["path"].endswith("shapes32")


def test_generate_on_any_layout_file_exits_0_or_2_and_leaves_no_partial_output(
    tmp_path, tiny_model_dir
):
    from hypothesis import HealthCheck, given, settings

    from layout2im.pipeline import Layout2ImPipeline
    from tests import layout_fuzz as fz

    pipe = Layout2ImPipeline.from_pretrained(tiny_model_dir)
    counter, seen = iter(range(10**9)), set()

    @settings(max_examples=80, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(fz.layout_bytes(pipe.vocab.categories, pipe.config.z_dim, pipe.max_objects))
    def run(text):
        seen.add(fz.check_cli_generate(tiny_model_dir, text, tmp_path, next(counter)))

    run()
    assert seen == {"refused", "generated"}
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]
    assert leftovers == []


def test_the_parser_loads_neither_training_nor_the_editor_nor_conversion():
    # the commands import those subpackages when they run, so generate starts without them
    code = (
        "import sys; from layout2im.cli import build_parser; build_parser(); "
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('layout2im.')}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "'cli'" in loaded
    for subpackage in ("training", "web", "conversion"):
        assert f"'{subpackage}'" not in loaded, loaded


def test_each_command_group_adds_exactly_the_commands_its_table_row_names():
    import argparse

    from layout2im.cli.main import COMMAND_GROUPS, load_group

    for group, commands in COMMAND_GROUPS.items():
        sub = argparse.ArgumentParser().add_subparsers()
        load_group(group).add_parsers(sub)
        assert tuple(sub.choices) == commands, group


def test_generate_loads_only_the_inference_code(tmp_path):
    # a command imports its own group alone: generating loads no data, training, evaluation,
    # conversion or editor code
    layout = tmp_path / "layout.json"
    layout.write_text(
        '{"objects": [{"category": "circle", "box": [0.1, 0.1, 0.6, 0.6]}]}', encoding="utf-8"
    )
    code = (
        "import sys; from layout2im.cli import main; "
        f"rc = main(['generate', '--layout', {str(layout)!r}, '--samples', '1', "
        f"'--out', {str(tmp_path / 'out')!r}]); "
        "print(rc, sorted({m.split('.')[1] for m in sys.modules if m.startswith('layout2im.')}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    last = loaded.strip().splitlines()[-1]
    assert last.startswith("0 "), loaded
    for subpackage in ("data", "training", "evaluation", "conversion", "web"):
        assert f"'{subpackage}'" not in last, last
    assert (tmp_path / "out").is_dir()
