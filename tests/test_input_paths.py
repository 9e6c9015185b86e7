"""Every command checks its input and output paths first (readers.check_path_text): a path too
long for the file system is one error naming the option, never a traceback."""

import pytest

from layout2im.cli import main

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
