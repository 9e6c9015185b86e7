"""The version, the declared dependencies and the pinned tools agree with each other."""

import importlib.metadata
import re
from pathlib import Path

import pytest

import layout2im
from layout2im.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_version_flag_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"layout2im {layout2im.__version__}"


def test_installed_metadata_reads_the_version_from_the_package():
    assert importlib.metadata.version("layout2im") == layout2im.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", layout2im.__version__)


def test_the_editor_dependencies_are_required():
    """``layout2im serve`` is part of every install: its packages are not an extra."""
    required = importlib.metadata.requires("layout2im") or []
    names = {re.split(r"[<>=!~; \[]", r, maxsplit=1)[0].lower() for r in required if ";" not in r}
    assert {"fastapi", "uvicorn", "python-multipart"} <= names


def test_pre_commit_runs_the_pinned_ruff():
    pinned = re.search(r"^ruff==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.M)
    hooks = (ROOT / ".pre-commit-config.yaml").read_text()
    assert pinned and f"rev: v{pinned.group(1)}\n" in hooks
    assert "id: ruff-check" in hooks and "id: ruff-format" in hooks
