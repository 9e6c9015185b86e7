"""The built wheel works on its own: installed into a new virtual environment outside the
repository and used from another folder, everything it needs (the shipped model, the editor's
files, the presets, the evaluation networks) comes from the wheel.

The new environment gets the dependencies of the environment running the tests (a ``.pth``
file naming its site-packages, like ``--system-site-packages``), so nothing is downloaded; the
wheel itself is installed first, on its own, and ``pip check`` then verifies that its declared
dependencies are met.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import site
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_FILES = [
    "configs/shapes32.yaml",
    "configs/paper-coco64.yaml",
    "examples/three-shapes.json",
    "web/static/index.html",
    "web/static/editor.js",
    "pretrained/shapes32/model.safetensors",
    "pretrained/shapes32/config.json",
    "pretrained/shapes32/vocab.json",
    "evaluation/weights/shapes-objects.safetensors",
    "evaluation/weights/shapes-scenes.safetensors",
    "data/vg_splits.json",
]

pytestmark = pytest.mark.slow


def run(cmd: list, cwd: Path, env: dict, timeout: int = 600) -> str:
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def build_wheel(tmp: Path) -> Path:
    """``pip wheel`` of a copy of the sources (the build writes next to them, not in the repo)."""
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "src",
        source / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"),
    )
    wheels = tmp / "wheels"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    run([*cmd, "--wheel-dir", wheels, source], cwd=tmp, env=os.environ.copy())
    (wheel,) = wheels.glob("layout2im-*.whl")
    return wheel


def make_venv(tmp: Path, wheel: Path) -> tuple[Path, Path]:
    """A new environment with the wheel; returns its bin folder and site-packages."""
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp, env=os.environ.copy())
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", python]
    run([*pip, "install", "--no-deps", "--no-index", "-q", wheel], cwd=tmp, env=os.environ.copy())
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp, {})
    site_packages = Path(purelib.strip())
    # the dependencies: this environment's site-packages, after the new one's own
    ours = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (site_packages / "test-dependencies.pth").write_text("\n".join(ours) + "\n")
    # pip check also reports the evaluation-weight wheels installed with --no-deps: only
    # layout2im's own requirements matter here
    check = subprocess.run([str(c) for c in [*pip, "check"]], capture_output=True, text=True)
    unmet = [line for line in check.stdout.splitlines() if line.startswith("layout2im ")]
    assert not unmet, unmet
    return venv / "bin", site_packages


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(tmp)
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in PACKAGE_FILES if f"layout2im/{f}" not in names]
    assert not missing, f"the wheel lacks {missing}"
    bin_dir, site_packages = make_venv(tmp, wheel)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["LAYOUT2IM_CACHE"] = str(tmp / "cache")
    return {"bin": bin_dir, "site": site_packages, "cwd": elsewhere, "env": env}


def test_generate_from_a_layout_file(installed):
    cwd = installed["cwd"]
    layout = {
        "objects": [
            {"category": "circle", "box": [0.1, 0.1, 0.5, 0.5]},
            {"category": "square", "box": [0.5, 0.4, 0.9, 0.9]},
        ]
    }
    (cwd / "scene.json").write_text(json.dumps(layout))
    cmd = [installed["bin"] / "layout2im", "generate", "--layout", "scene.json"]
    run([*cmd, "--samples", "2", "--out", "generated"], cwd, installed["env"])
    pngs = sorted(p.name for p in (cwd / "generated").glob("*.png"))
    assert pngs == ["scene-grid.png", "scene-sample00.png", "scene-sample01.png"]


def test_evaluate_with_the_packaged_classifier(installed):
    cmd = [installed["bin"] / "layout2im", "evaluate", "--model", "shapes32"]
    cmd += ["--metrics", "object-accuracy", "--num-images", "8", "--no-progress"]
    run([*cmd, "--out", "results.json"], installed["cwd"], installed["env"])
    results = json.loads((installed["cwd"] / "results.json").read_text())
    metric = results["metrics"]["object-accuracy"]
    assert metric["status"] == "ok", metric
    assert 0.0 <= metric["values"]["object_acc_generated"] <= 1.0
    classifier = results["networks"]["object_classifier"]["path"]
    assert classifier == "layout2im/evaluation/weights/shapes-objects.safetensors"


def test_the_python_pipeline_from_the_new_environment(installed):
    code = (
        "import layout2im\n"
        "print(layout2im.__file__)\n"
        "pipe = layout2im.Layout2ImPipeline.from_pretrained('shapes32')\n"
        "scene = {'objects': [{'category': 'ring', 'box': [0.2, 0.2, 0.8, 0.8]}]}\n"
        "out = pipe(scene, num_samples=3, seed=0)\n"
        "print(len(out.images), out.images[0].size, tuple(out.latents.shape))\n"
    )
    out = run([installed["bin"] / "python", "-c", code], installed["cwd"], installed["env"])
    imported, result = out.strip().split("\n")[-2:]
    assert Path(imported).is_relative_to(installed["site"] / "layout2im")
    assert result.startswith("3 (32, 32) (3, 1, ")


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line)


def test_serve_answers_api_info(installed):
    cmd = [installed["bin"] / "layout2im", "serve", "--port", "0"]
    proc = subprocess.Popen(
        [str(c) for c in cmd],
        cwd=installed["cwd"],
        env=installed["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        url, seen, deadline = None, [], time.monotonic() + 180
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            seen.append(line)
            if line.startswith("layout2im editor: "):
                url = line.split()[2]
        assert url, f"no address printed:\n{''.join(seen)}"
        info = None
        while info is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url + "api/info", timeout=10) as response:
                    info = json.loads(response.read())
            except OSError:
                time.sleep(0.5)
        assert info is not None, f"{url}api/info never answered:\n{''.join(seen)}"
        assert info["image_size"] == 32 and info["num_categories"] == 10
        assert info["name"] == "shapes32"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert "<html" in response.read().decode().lower()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
