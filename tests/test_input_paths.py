"""Every path option of every command is checked before the command runs (cli.options): a
missing path, the wrong kind (a folder for a file and the reverse), a FIFO or a path too long
for the file system is one error naming the option, exit status 2, and nothing is created. A
long path within the limits, or a long value in a file, is quoted short (errors.short_path /
quote) by whichever reader refuses it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from layout2im.cli import build_parser, main
from layout2im.cli.options import PathRule, check_args, option_rules
from layout2im.errors import QUOTE_CHARS
from tests.cli_commands import (
    command_line,
    declared_rules,
    options_without_a_rule,
    refused,
    table_by_command,
)

# Each row: the command line with {p} where the path under test goes, the option the error
# names, and what the path must be. Other paths: {file} an empty file, {dir} an empty folder,
# {out} a folder that does not exist yet. "network" options name two files (.safetensors and
# .json beside each other).
INPUTS = [
    (["train", "--config", "{p}"], "--config", "file"),
    (["train", "--config", "shapes32", "--root", "{p}"], "--root", "folder"),
    (["train", "--config", "shapes32", "--resume", "{p}", "--out", "{out}"], "--resume", "folder"),
    (["train", "--config", "shapes32", "--init-from", "{p}"], "--init-from", "folder"),
    (["average", "{p}", "--out", "{out}"], "RUN_DIR", "folder"),
    (["info", "--config", "{p}"], "--config", "file"),
    (["info", "--config", "shapes32", "--root", "{p}"], "--root", "folder"),
    (["generate", "--model", "{p}", "--layout", "{file}", "--out", "{out}"], "--model", "folder"),
    (["generate", "--layout", "{p}", "--out", "{out}"], "--layout", "file"),
    (["serve", "--model", "{p}"], "--model", "folder"),
    (["evaluate", "run", "--model", "{p}", "--config", "shapes32"], "--model", "folder"),
    *[
        (["evaluate", action, *first, *option_value], option, kind)
        for action, first in [
            ("run", ["--model", "shapes32"]),
            ("images", ["{dir}"]),
        ]
        for option_value, option, kind in [
            (["--config", "{p}"], "--config", "file"),
            (["--config", "shapes32", "--root", "{p}"], "--root", "folder"),
            (["--config", "shapes32", "--inception", "{p}"], "--inception", "file"),
            (["--config", "shapes32", "--inception-logits", "{p}"], "--inception-logits", "file"),
            (["--config", "shapes32", "--lpips-weights", "{p}"], "--lpips-weights", "folder"),
            (["--config", "shapes32", "--classifier", "{p}"], "--classifier", "network"),
            (["--config", "shapes32", "--scene-features", "{p}"], "--scene-features", "network"),
        ]
    ],
    (["evaluate", "images", "{p}", "--config", "shapes32"], "DIR", "folder"),
    (["evaluate", "layouts", "--config", "{p}", "--out", "{out}/l.jsonl"], "--config", "file"),
    (
        ["evaluate", "layouts", "--config", "shapes32", "--root", "{p}", "--out", "{out}/l.jsonl"],
        "--root",
        "folder",
    ),
    (["evaluate", "train-classifier", "--config", "{p}"], "--config", "file"),
    (["evaluate", "train-classifier", "--config", "shapes32", "--root", "{p}"], "--root", "folder"),
    (["data", "inspect", "--config", "{p}"], "--config", "file"),
    (["data", "inspect", "--config", "shapes32", "--root", "{p}"], "--root", "folder"),
    (["data", "prepare-vg", "--config", "{p}"], "--config", "file"),
    (["data", "prepare-vg", "--root", "{p}"], "--root", "folder"),
    (["convert-original", "{p}", "--dataset", "coco", "--out", "{out}"], "GENERATOR", "file"),
    *[
        (["convert-original", "{file}", "--dataset", "vg", *option_value, "--out", "{out}"], o, k)
        for option_value, o, k in [
            (["--vocab", "{p}"], "--vocab", "file"),
            (["--vg-root", "{p}"], "--vg-root", "folder"),
            (["--discriminators", "{p}", "{file}"], "--discriminators", "file"),
            (["--discriminators", "{file}", "{p}"], "--discriminators", "file"),
        ]
    ],
]

OUTPUTS = [
    (["train", "--config", "shapes32", "--out", "{p}"], "--out", "output folder"),
    (["average", "{dir}", "--out", "{p}"], "--out", "output folder"),
    (["generate", "--layout", "{file}", "--out", "{p}"], "--out", "output folder"),
    (["demo", "--out", "{p}"], "--out", "output folder"),
    (["demo", "--train", "--runs", "{p}", "--out", "{out}"], "--runs", "output folder"),
    *[
        (["evaluate", action, *first, "--config", "shapes32", option, "{p}"], option, kind)
        for action, first in [("run", ["--model", "shapes32"]), ("images", ["{dir}"])]
        for option, kind in [
            ("--out", "output file"),
            ("--markdown", "output file"),
            ("--cache-dir", "output folder"),
        ]
    ],
    (["evaluate", "layouts", "--config", "shapes32", "--out", "{p}"], "--out", "output file"),
    (
        ["evaluate", "train-classifier", "--config", "shapes32", "--out", "{p}"],
        "--out",
        "output network",
    ),
    (["data", "export-shapes", "--out", "{p}"], "--out", "output folder"),
    (["convert-original", "{file}", "--dataset", "coco", "--out", "{p}"], "--out", "output folder"),
]

# relative: refused by their length alone, before the file system sees them
LONG = "a" * 5000
LONG_NAME = "b" * 300 + "/x"

# (case, what the error says after the option) for each kind of path
EXPECTED = {
    "file": {
        "missing": "not found: ",
        "wrong kind": "is a folder, not a file",
        "fifo": "is a FIFO (named pipe), not a file",
    },
    "folder": {
        "missing": "not found: ",
        "wrong kind": "is a file, not a folder",
        "fifo": "is a FIFO (named pipe), not a folder",
    },
    "output folder": {"wrong kind": "is not a folder", "fifo": "is not a folder"},
    "output file": {
        "wrong kind": "is a folder, not a file",
        "fifo": "is a FIFO (named pipe), not a file",
    },
}
EXPECTED["network"] = EXPECTED["file"]
EXPECTED["output network"] = EXPECTED["output file"]
for cases in EXPECTED.values():
    cases["too long"] = "the path is 5000 characters long, more than the limit of 4096"
    cases["long name"] = "a name in the path is 300 characters long, more than the limit of 255"


def _path_under_test(tmp_path, kind: str, case: str) -> str:
    """A path of ``case`` for an option of ``kind``; for networks, the name whose
    ``.safetensors`` file is that path."""
    if case == "too long":
        return LONG
    if case == "long name":
        return LONG_NAME
    bad = tmp_path / "bad"
    target = bad.with_suffix(".safetensors") if "network" in kind else bad
    if case == "fifo":
        os.mkfifo(target)
    elif case == "wrong kind" and kind.endswith(("file", "network")):
        target.mkdir()
    elif case == "wrong kind":
        target.write_text("")
    return str(bad)


def _cases(rows):
    for argv, option, kind in rows:
        for case in EXPECTED[kind]:
            yield pytest.param(argv, option, kind, case, id=f"{' '.join(argv)}:{option}:{case}")


@pytest.mark.timeout(60)  # a FIFO opened anywhere would block: that is a failure
@pytest.mark.parametrize("argv, option, kind, case", [*_cases(INPUTS), *_cases(OUTPUTS)])
def test_a_bad_path_is_one_error_naming_the_option_and_nothing_is_created(
    tmp_path, monkeypatch, capsys, argv, option, kind, case
):
    path = _path_under_test(tmp_path, kind, case)
    args = command_line(tmp_path, monkeypatch, argv, p=path)
    err = refused(args, capsys, tmp_path)
    assert err.startswith(f"error: {option} ") and err.count("\n") == 1, err
    assert EXPECTED[kind][case] in err and len(err) < 300, err


def _declared_path_kinds():
    kinds = {}
    for key, rule in declared_rules(PathRule).items():
        kinds[key] = rule.kind
        if rule.files is not None:  # a network: two files
            kinds[key] = "network" if rule.kind == "file" else "output network"
    return kinds


def test_the_table_above_covers_every_path_option_of_every_command():
    assert table_by_command(INPUTS + OUTPUTS) == _declared_path_kinds()


# options that take text but no path, each with why
NOT_PATHS = {
    "--set": "KEY=VALUE config overrides (a data.root set there is the dataset's to check)",
    "--desc": "a run-folder name suffix",
    "--host": "an address to listen on",
    "--allow-host": "host names",
    "--device": "a device name (layout2im.devices.parse_device)",
    "--metrics": "metric names",
    "--widths": "channel counts (cli.limits)",
}


def test_every_text_option_is_a_checked_path_or_named_here():
    def takes_text(action):
        return action.nargs != 0 and action.type is None and action.choices is None

    for command, option in options_without_a_rule(takes_text):
        assert option in NOT_PATHS, (command, option)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["info", "--config", "nope"], "--config 'nope' is neither an existing file nor a preset"),
        (
            ["serve", "--model", "nope"],
            "--model 'nope' is neither an existing folder nor",
        ),
    ],
)
def test_a_name_that_is_no_preset_or_shipped_model_lists_the_names(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and "shapes32" in err, err


def test_a_torch_file_given_as_a_network_says_what_a_network_is(tmp_path, capsys):
    (tmp_path / "x.pt").write_bytes(b"")
    argv = ["evaluate", "run", "--model", "shapes32", "--config", "shapes32"]
    assert main([*argv, "--classifier", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --classifier ") and "x.pt is not an evaluation network" in err


def test_names_and_paths_of_the_right_kind_pass_the_checks(tmp_path):
    folder, file = tmp_path / "d", tmp_path / "f.json"
    folder.mkdir()
    file.write_text("")
    for argv in (
        ["generate", "--model", "shapes32", "--layout", str(file), "--out", str(tmp_path / "o")],
        ["generate", "--model", str(folder), "--layout", str(file)],
        ["info", "--config", "shapes32", "--root", str(folder)],
        ["train", "--config", str(file), "--resume"],  # --resume alone: the latest run
        ["evaluate", "run", "--model", "shapes32", "--classifier", str(tmp_path / "net")],
    ):
        if "--classifier" in argv:
            (tmp_path / "net.safetensors").write_text("")
            (tmp_path / "net.json").write_text("")
        args = build_parser(argv[0]).parse_args(argv)
        assert option_rules(args), argv
        check_args(args)  # raises on a broken rule


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
        lambda: (Path(DEEP).mkdir(parents=True), Path("x.json").write_text("{}")),
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
