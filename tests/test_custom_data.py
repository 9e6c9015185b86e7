"""Your own COCO-format data, as docs/datasets.md and docs/training.md tell it: the commands of
their "own data" block run as pasted (with a tiny dataset and a few steps) from an instances
JSON and an image folder to a trained ``custom-small`` model and generated images."""

from __future__ import annotations

import logging
import re
import shlex
from pathlib import Path

import pytest
import yaml

from layout2im.cli import main

ROOT = Path(__file__).resolve().parents[1]
MARK = "<!-- own data: tested by tests/test_custom_data.py -->"


def own_data_commands(doc: Path) -> list[list[str]]:
    text = doc.read_text()
    block = re.search(re.escape(MARK) + r"\n```bash\n(.*?)```", text, re.S).group(1)
    return [words for line in block.splitlines() if (words := shlex.split(line, comments=True))]


def test_both_docs_give_the_same_commands():
    datasets = own_data_commands(ROOT / "docs" / "datasets.md")
    assert datasets == own_data_commands(ROOT / "docs" / "training.md")
    assert [c[1] for c in datasets] == ["data", "train", "generate"]


def test_from_an_instances_json_to_a_trained_model_and_images(
    tmp_path, monkeypatch, capsys, caplog
):
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    export, train, generate = own_data_commands(ROOT / "docs" / "datasets.md")
    export[export.index("--images") + 1] = "16"  # tiny: what matters is that every step runs
    assert main(export[1:]) == 0
    printed = capsys.readouterr().out
    root = export[export.index("--out") + 1]
    assert f"layout2im train --config custom-small --root {root}\n" in printed
    train[train.index("--steps") + 1] = "2"
    with caplog.at_level(logging.INFO, logger="layout2im"):
        assert main([*train[1:], "--no-progress"]) == 0
    assert "stuff" not in " ".join(r.getMessage() for r in caplog.records if r.levelno >= 30)
    assert (
        "model.num_classes set to 11, the size of the coco-format vocabulary (read from the data)"
        in caplog.text
    )
    (run,) = (tmp_path / "runs").iterdir()
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["num_classes"] == 11
    assert main(generate[1:]) == 0
    out = generate[generate.index("--out") + 1]
    assert len(list((tmp_path / out).glob("*.png"))) >= 4


def test_a_num_classes_the_data_contradicts_is_a_warning(tmp_path, caplog):
    from layout2im.config import apply_overrides, load_config
    from layout2im.data.shapes_export import export_shapes_coco
    from layout2im.training.loop import train

    export_shapes_coco(tmp_path / "data", num_images=12, image_size=32)
    config = apply_overrides(
        load_config("custom-small"),
        [f"data.root={tmp_path / 'data'}", "model.num_classes=91", "train.steps=1"],
    )
    with caplog.at_level(logging.INFO, logger="layout2im"):
        train(config, tmp_path / "runs", progress=False)
    (warning,) = [r for r in caplog.records if "model.num_classes set" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert (
        "the config said 91; model.num_classes: null reads it from the data" in warning.getMessage()
    )


def test_info_on_a_preset_that_reads_the_count_from_the_data(capsys):
    assert main(["info", "--config", "custom-small"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "error: config custom-small: model.num_classes is null (read from the data"
    )
    assert "--set model.num_classes=N" in err
    assert main(["info", "--config", "custom-small", "--set", "model.num_classes=11"]) == 0


@pytest.mark.parametrize("doc", ["datasets.md", "training.md"])
def test_the_docs_no_longer_tell_a_fixed_num_classes(doc):
    assert "num_classes: 91" not in (ROOT / "docs" / doc).read_text()
