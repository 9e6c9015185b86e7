"""Run folders in the StyleGAN style: ``runs/00003-shapes32[-desc]/``.

Inside: ``config.yaml`` (resolved), ``log.txt``, ``stats.jsonl``, ``samples/``,
``checkpoints/`` and, at the end, ``model/`` (the exported generator).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

_RUN = re.compile(r"^(\d{5})-(.+)$")


def new_run_dir(root: Path, name: str, desc: str | None = None) -> Path:
    """Create the next numbered run folder under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in root.iterdir() if (m := _RUN.match(p.name))]
    label = f"{name}-{desc}" if desc else name
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)
    path = root / f"{(max(numbers) + 1) if numbers else 0:05d}-{label}"
    path.mkdir()
    return path


def missing_folders(path: Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, deepest first: what making
    ``path`` would create, and so what :func:`remove_run` removes again."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists() or folder.is_symlink():
            break
        missing.append(folder)
    return missing


def remove_run(run_dir: Path, created: list[Path]) -> None:
    """Remove ``run_dir`` and then each folder of ``created`` (deepest first) that is empty:
    a run that failed to start leaves nothing it made."""
    shutil.rmtree(run_dir, ignore_errors=True)
    for folder in created:
        try:
            folder.rmdir()
        except OSError:  # not empty (something else wrote there) or already gone
            break


def latest_run_dir(root: Path, name: str) -> Path | None:
    """The highest-numbered run folder of config ``name`` under ``root``, if any."""
    if not root.is_dir():
        return None
    runs = [
        (int(m.group(1)), p)
        for p in root.iterdir()
        if (m := _RUN.match(p.name)) and (m.group(2) == name or m.group(2).startswith(name + "-"))
    ]
    return max(runs)[1] if runs else None
