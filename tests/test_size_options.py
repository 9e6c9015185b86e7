"""Every option that sets a size or a count is bounded (cli.limits) before the command runs:
a value outside is one error naming the option and the bound, exit status 2, before any
allocation, and nothing is left behind (no folder, not even an empty one). docs/security.md
lists every bound."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from layout2im.cli import limits as L
from layout2im.cli import main
from layout2im.cli.options import IntRule
from layout2im.data.shapes_render import SEED_STRIDE
from tests.cli_commands import (
    command_line,
    declared_rules,
    options_without_a_rule,
    refused,
    table_by_command,
)

SECURITY_MD = Path(__file__).resolve().parents[1] / "docs" / "security.md"

_EVAL = ["--config", "shapes32", "--out", "{out}/r.json"]
_CLASSIFIER = ["evaluate", "train-classifier", "--config", "shapes32", "--out", "{out}/net"]

# (the command line before the option, the option, its bound)
BOUNDED = [
    (["train", "--config", "shapes32", "--out", "{out}"], "--nproc", L.PROCESSES),
    (
        ["train", "--config", "shapes32", "--out", "{out}", "--nproc", "1"],
        "--master-port",
        L.MASTER_PORT,
    ),
    (["generate", "--layout", "{file}", "--out", "{out}"], "--samples", L.GENERATE_SAMPLES),
    (["demo", "--out", "{out}"], "--samples", L.DEMO_SAMPLES),
    (["serve"], "--port", L.PORT),
    (["evaluate", "run", "--model", "shapes32", *_EVAL], "--num-images", L.EVAL_NUM_IMAGES),
    (["evaluate", "run", "--model", "shapes32", *_EVAL], "--batch-size", L.BATCH_SIZE),
    (["evaluate", "images", "{dir}", *_EVAL], "--num-images", L.EVAL_NUM_IMAGES),
    (["evaluate", "images", "{dir}", *_EVAL], "--batch-size", L.BATCH_SIZE),
    (["evaluate", "images", "{dir}", *_EVAL], "--image-size", L.IMAGE_SIZE),
    (
        ["evaluate", "layouts", "--config", "shapes32", "--out", "{out}/l.jsonl"],
        "--num-images",
        L.LAYOUTS_NUM_IMAGES,
    ),
    (
        ["evaluate", "layouts", "--config", "shapes32", "--out", "{out}/l.jsonl"],
        "--image-size",
        L.IMAGE_SIZE,
    ),
    (_CLASSIFIER, "--batch-size", L.CLASSIFIER_BATCH_SIZE),
    (_CLASSIFIER, "--val-images", L.VAL_IMAGES),
    (_CLASSIFIER, "--input-size", L.IMAGE_SIZE),
    (_CLASSIFIER, "--stem-channels", L.CHANNELS),
    (["data", "export-shapes", "--out", "{out}"], "--images", L.EXPORT_IMAGES),
    (["data", "export-shapes", "--out", "{out}"], "--size", L.IMAGE_SIZE),
]


def _outside(bound):
    low, high = bound
    values = [low - 1, -(10**12)]
    if high is not None:
        values += [high + 1, 10**12]
    return values


@pytest.mark.parametrize(
    "argv, option, bound, value",
    [
        pytest.param(argv, option, bound, value, id=f"{' '.join(argv[:2])}:{option}={value}")
        for argv, option, bound in BOUNDED
        for value in _outside(bound)
    ],
)
def test_a_size_or_count_out_of_bounds_is_refused_before_anything_is_made(
    tmp_path, monkeypatch, capsys, argv, option, bound, value
):
    args = [*command_line(tmp_path, monkeypatch, argv), option, str(value)]
    err = refused(args, capsys, tmp_path)
    assert err == f"error: {option} must be {L.describe(bound)}, got {value}\n"


def _declared_bounds():
    return {key: rule.bound for key, rule in declared_rules(IntRule).items()}


def test_the_table_above_covers_every_bounded_option():
    assert table_by_command(BOUNDED) == _declared_bounds()


# integer options without a bound of their own, each with why
UNBOUNDED = {
    "--steps": "a duration, not a size: memory does not grow with it",
    "--seed": "checked by the command (generate: [0, 2**63)); selects, allocates nothing",
    "--threads": "bounded by layout2im.threads.use_threads (1 to MAX_THREADS)",
    "--from-step": "selects checkpoints",
    "--last": "selects checkpoints",
}


def test_every_integer_option_is_bounded_or_named_here():
    for command, option in options_without_a_rule(lambda action: action.type is int):
        assert option in UNBOUNDED, (command, option)


def _number(n: int) -> str:
    return f"{n:,}" if n >= 100_000 else str(n)  # as the docs write numbers


def test_every_bound_is_documented_with_its_value():
    text = SECURITY_MD.read_text()
    for (command, option), bound in _declared_bounds().items():
        low, high = bound
        value = f"at least {low}" if high is None else f"{_number(low)} to {_number(high)}"
        row = re.search(rf"^\|[^\n]*`{command} {option}`[^\n]*\| ([^|\n]*)\|$", text, re.M)
        assert row, f"docs/security.md has no row for `{command} {option}`"
        assert row.group(1).startswith(value), (command, option, row.group(1))


@pytest.mark.parametrize(
    "widths", ["32,64,96,128,160,192,224,256,288", "32,4096", "32,0", "32,x", ""]
)
def test_classifier_widths_are_bounded_like_a_config_channel_list(tmp_path, capsys, widths):
    out = tmp_path / "net"
    argv = ["evaluate", "train-classifier", "--config", "shapes32", "--out", str(out)]
    assert main([*argv, "--widths", widths]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --widths must be 1 to 8 integers from 1 to 2048"), err
    assert list(tmp_path.iterdir()) == []


def test_the_export_bound_is_the_shapes_seed_stride():
    assert L.EXPORT_IMAGES == (1, SEED_STRIDE)


def test_the_library_checks_its_own_sizes_too(tmp_path):
    # Python callers get the same bounds from the library (without an option to name)
    from layout2im.data.shapes_export import export_shapes_coco

    with pytest.raises(ValueError, match="image_size must be from 8 to 1024"):
        export_shapes_coco(tmp_path / "coco", num_images=2, image_size=6000)
    assert list(tmp_path.iterdir()) == []
