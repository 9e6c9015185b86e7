"""Paths as result files record them: no folder of the machine that wrote them."""

import os
from pathlib import Path

import layout2im
from layout2im.fsutil import portable_paths

PACKAGE = Path(layout2im.__file__).resolve().parent


def test_package_files_become_package_paths():
    weights = PACKAGE / "evaluation" / "weights" / "shapes-objects.safetensors"
    assert portable_paths(str(weights)) == "layout2im/evaluation/weights/shapes-objects.safetensors"
    assert portable_paths(str(PACKAGE)) == "layout2im"


def test_working_folder_home_and_extra_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert portable_paths(str(tmp_path / "runs" / "model")) == "runs/model"
    home = Path.home().resolve()
    assert portable_paths(str(home / ".cache" / "x.npz")) == "~/.cache/x.npz"
    work = tmp_path / "work"
    assert portable_paths(f"{work}/a.json", {str(work): "<workdir>"}) == "<workdir>/a.json"


def test_paths_inside_messages_and_nested_values(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = f"missing file {tmp_path}/nets/a.pth (looked in: {tmp_path}/nets/a.pth)"
    value = {"reason": message, "files": [str(tmp_path / "b"), 3, None], "n": 1.5}
    assert portable_paths(value) == {
        "reason": "missing file nets/a.pth (looked in: nets/a.pth)",
        "files": ["b", 3, None],
        "n": 1.5,
    }


def test_other_absolute_paths_stay():
    outside = os.path.join(os.sep, "mnt", "data", "coco")
    assert portable_paths(outside) == outside
