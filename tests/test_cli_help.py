"""Help and listings of the command line: what each option does, its default, aligned tables."""

from __future__ import annotations

import pytest

from layout2im.cli import main
from layout2im.evaluation.protocols import PROTOCOLS
from layout2im.evaluation.registry import metric_names


def help_of(capsys, *command: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "command", [["generate"], ["serve"], ["evaluate", "run"], ["evaluate", "train-classifier"]]
)
def test_device_has_a_help(capsys, command):
    assert "--device DEVICE where the model runs: cpu, cuda, cuda:1, ... (default cpu)" in help_of(
        capsys, *command
    )


def test_export_shapes_help_shows_the_defaults(capsys):
    text = help_of(capsys, "data", "export-shapes")
    assert "number of images (default 1000)" in text
    assert "image side in pixels (default 64)" in text
    assert "dataset seed (default 0: the training scenes)" in text


def test_data_inspect_help_has_a_description(capsys):
    assert "Open a config's dataset (building its cached index if needed)" in help_of(
        capsys, "data", "inspect"
    )


def test_evaluate_list_aligns_every_description(capsys):
    assert main(["evaluate", "list"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    names = [*metric_names(), *PROTOCOLS]
    assert len(lines) == len(names)
    width = max(len(name) for name in names)
    for line, name in zip(lines, names, strict=True):  # every description in the same column
        assert line[2 : 2 + width].rstrip() == name and line[2 + width : 4 + width] == "  "
    assert any(line.startswith("  reconstruction-colour  ") for line in lines)


def test_info_lists_the_generator_modules_under_the_generator(capsys):
    assert main(["info", "--config", "paper-coco64"]) == 0
    lines = capsys.readouterr().out.splitlines()
    networks = [i for i, line in enumerate(lines) if line.endswith("M parameters")]
    modules = [i for i, line in enumerate(lines) if line.startswith("    ")]
    assert lines[networks[0]].split()[0] == "generator"
    assert modules == list(range(networks[0] + 1, networks[1]))  # right below the generator
    assert [lines[i].split()[0] for i in modules][:2] == ["crop_encoder", "composer"]


def test_evaluate_layouts_takes_the_config_its_protocol_names(tmp_path, capsys):
    out = tmp_path / "layouts.jsonl"
    args = ["evaluate", "layouts", "--protocol", "shapes32", "--num-images", "3", "--out"]
    assert main([*args, str(out)]) == 0
    assert len(out.read_text().splitlines()) == 4  # the header and three layouts
    capsys.readouterr()
    assert main(["evaluate", "layouts", "--protocol", "custom", "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(
        "error: --config: needed (protocol custom names no preset); presets: "
    )


def test_evaluate_images_takes_the_config_its_protocol_names(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    args = ["evaluate", "images", str(folder), "--metrics", "object-accuracy", "--num-images", "2"]
    assert main([*args, "--protocol", "shapes32"]) == 2  # past the config: the folder is empty
    err = capsys.readouterr().err
    assert "--config" not in err and "missing" in err, err
    assert main([*args, "--protocol", "custom"]) == 2
    assert capsys.readouterr().err.startswith(
        "error: --config: needed (protocol custom names no preset); presets: "
    )
