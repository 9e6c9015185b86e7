"""The README's examples run as pasted: every Python block and every quickstart command, in a
fresh working folder that has the repository's ``examples/`` (as a clone has)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from layout2im.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def code_blocks(language: str, text: str = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def quickstart_commands() -> list[list[str]]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    (block,) = code_blocks("bash", section)
    return [words for line in block.splitlines() if (words := shlex.split(line, comments=True))]


@pytest.fixture
def clone(tmp_path, monkeypatch) -> Path:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_reference_picture_of_the_style_example_ships():
    with Image.open(ROOT / "examples" / "reference.png") as picture:
        assert picture.format == "PNG" and picture.size == (64, 64)
    assert (ROOT / "examples" / "reference.png").stat().st_size < 8000
    assert (ROOT / "src" / "layout2im" / "examples" / "reference.png").is_file()


def test_every_python_block_runs_as_pasted(clone, capsys):
    blocks = code_blocks("python")
    assert blocks
    for number, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {number}", "exec"), {"__name__": "readme"})
    assert Image.open(clone / "sample.png").size == (32, 32)
    assert "torch.Size([4, 2, 32])" in capsys.readouterr().out  # print(out.latents.shape)


def test_every_quickstart_command_runs_as_pasted(clone, monkeypatch, capsys):
    from layout2im.web import server

    answers = {}

    class Served:
        """Stands in for uvicorn: asks the app for the page and its API, then stops."""

        def __init__(self, app):
            self.app = app

        def run(self, sockets):
            with TestClient(self.app, base_url="http://127.0.0.1:8000") as client:
                answers["page"] = client.get("/").status_code
                answers["info"] = client.get("/api/info").json()

    monkeypatch.setattr(server, "make_server", lambda app, **kw: Served(app))
    commands = quickstart_commands()
    assert [c[:2] for c in commands] == [
        ["source", ".venv/bin/activate"],
        ["layout2im", "generate"],
        ["layout2im", "train"],
        ["layout2im", "generate"],
        ["layout2im", "serve"],
    ]
    for words in commands[1:]:  # this test runs inside the virtual environment
        args = words[1:]
        if args[0] == "train":  # a few steps: what matters here is the run folder it makes
            args[args.index("--steps") + 1] = "2"
        if args[0] == "serve":  # port 8000 of a shared machine may be taken
            args += ["--port", "0"]
        assert main(args) == 0, words
    assert len(list((clone / "outputs" / "three").glob("*.png"))) >= 8
    assert (clone / "runs" / "00000-shapes32" / "model" / "config.json").is_file()
    assert list((clone / "outputs" / "generate").glob("*.png"))  # the trained model's
    assert answers["page"] == 200 and answers["info"]["image_size"] == 32
    assert "error" not in capsys.readouterr().err
