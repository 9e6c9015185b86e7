"""File-system helpers shared by the package: the permissions new files and folders should get,
and replacing a folder atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The permissions a plain ``open(..., "w")`` would give (temp files start at 0600)."""
    return 0o666 & ~_umask()


def new_folder_mode() -> int:
    """The permissions a plain ``mkdir`` would give (``tempfile.mkdtemp`` makes 0700)."""
    return 0o777 & ~_umask()


def replace_folder(out: Path, fill: Callable[[Path], object]) -> None:
    """Make ``out`` a folder holding what ``fill(folder)`` writes, never a half-written one.

    ``fill`` writes into a new folder beside ``out``, which is then renamed into place; an old
    ``out`` is renamed aside just before and removed last, or put back if the rename fails. The
    caller decides beforehand whether ``out`` may be replaced."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-new-", dir=out.parent))
    old = None
    try:
        tmp.chmod(new_folder_mode())  # mkdtemp makes it private; the result is not
        fill(tmp)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
            os.rmdir(old)
            out.rename(old)
        tmp.rename(out)
    except BaseException:
        if old is not None and old.exists() and not out.exists():
            old.rename(out)  # put the previous folder back
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
