"""File-system helpers shared by the package: the permissions new files and folders should get."""

from __future__ import annotations

import os


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
