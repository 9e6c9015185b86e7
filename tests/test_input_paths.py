"""Every command checks its input and output paths first (readers.check_path_text): a path too
long for the file system is one error naming the option, never a traceback. A long path within
the limits, or a long value in a file, is quoted short (errors.short_path / quote) by whichever
reader refuses it."""

import json
from pathlib import Path

import pytest

from layout2im.cli import main
from layout2im.errors import QUOTE_CHARS

# relative paths: refused by their length alone, before the file system sees them
LONG = "a" * 5000
LONG_NAME = "b" * 300 + "/x"


@pytest.mark.parametrize("path", [LONG, LONG_NAME])
@pytest.mark.parametrize(
    "argv, option",
    [
        (["generate", "--model", "{p}", "--layout", "x.json", "--out", "{out}"], "model"),
        (["generate", "--layout", "x.json", "--out", "{p}"], "--out"),
        (["info", "--config", "{p}"], "config"),
        (["train", "--config", "shapes32", "--resume", "{p}", "--out", "{out}"], "--resume"),
        (["evaluate", "images", "{p}", "--config", "shapes32"], "image folder"),
    ],
)
def test_paths_too_long_are_one_error_naming_the_option(tmp_path, capsys, argv, option, path):
    out = tmp_path / "out"
    args = [a.format(p=path, out=out) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {option} ") and err.count("\n") == 1, err
    assert "more than the limit" in err and len(err) < 300
    assert not out.exists() or not any(out.iterdir())


# ----------------------------------------------------------------------------- long but valid

# 15 folders of 250 characters: 3,764 characters, within the limits, so the file system sees it
# and the error comes from the reader that found the problem
DEEP = "/".join(["a" * 250] * 15)
VALUE = "a" * 5000  # a user value (a file name, a split name, a config value)


def _one_short_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err[:300]
    assert "a" * (QUOTE_CHARS + 1) not in err and len(err) < 400, err[:300]
    return err


def _coco(root, file_name="x.png", images="[]"):
    (root / "annotations").mkdir(parents=True)
    meta = {"id": 1, "file_name": file_name, "width": 8, "height": 8}
    images = images.replace("IMAGE", json.dumps(meta))
    (root / "annotations" / "instances.json").write_text(
        '{"images": ' + images + ', "annotations": [], "categories": [{"id": 1, "name": "circle"}]}'
    )


def _vg(root, image_data="[]", splits=None):
    root.mkdir(parents=True, exist_ok=True)
    for name in ("objects.json", "relationships.json"):
        (root / name).write_text("[]")
    (root / "image_data.json").write_text(image_data)
    (root / "splits.json").write_text(json.dumps(splits or {"train": [1]}))


def _run_folder(folder, **data):
    from layout2im.config import load_config
    from layout2im.training.loop import write_run_config

    folder.mkdir(parents=True)
    config = load_config("shapes32")
    for key, value in data.items():
        setattr(config.data, key, value)
    write_run_config(folder, config)


FAMILIES = {
    "coco json path": (
        lambda: _coco(Path(DEEP), images="3"),
        ["data", "inspect", "--config", "custom-small", "--set", f"data.root={DEEP}"],
        "'images' must be a list",
    ),
    "coco file_name value": (
        lambda: _coco(Path("c"), file_name="../" + VALUE, images="[IMAGE]"),
        ["data", "inspect", "--config", "custom-small", "--set", "data.root=c"],
        "leaves the image folder",
    ),
    "vg file path": (
        lambda: _vg(Path(DEEP), image_data='{"a": 1}'),
        ["data", "prepare-vg", "--root", DEEP, "--set", "data.vg.splits_json=splits.json"],
        "expected a JSON list",
    ),
    "vg split name value": (
        lambda: _vg(Path("v"), splits={"train": [1], VALUE: [True]}),
        ["data", "prepare-vg", "--root", "v", "--set", "data.vg.splits_json=splits.json"],
        "must be a list of integer image ids",
    ),
    "--resume path": (
        lambda: Path(DEEP).mkdir(parents=True),
        ["train", "--config", "shapes32", "--resume", DEEP, "--out", "runs"],
        "is not a run folder (config.yaml is missing)",
    ),
    "--resume config value": (
        lambda: _run_folder(Path("run"), root=VALUE),
        ["train", "--config", "shapes32", "--resume", "run", "--out", "runs"],
        "belongs to a different config (data.root: run has 'aaa",
    ),
    "--init-from path": (
        lambda: Path(DEEP).mkdir(parents=True),
        ["train", "--config", "shapes32", "--init-from", DEEP, "--out", "runs"],
        "is not a model folder (no config.json)",
    ),
    "--model path": (
        lambda: Path(DEEP).mkdir(parents=True),
        ["generate", "--model", DEEP, "--layout", "x.json", "--out", "out"],
        "is not a layout2im model: config.json is missing",
    ),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_long_paths_and_values_are_quoted_short_in_every_family(
    tmp_path, monkeypatch, capsys, family
):
    monkeypatch.chdir(tmp_path)
    make, argv, problem = FAMILIES[family]
    make()
    assert main(argv) == 2
    err = _one_short_line(capsys)
    assert problem in err, err
    assert not Path("out").exists() and not any(Path(".").glob("runs/*"))
