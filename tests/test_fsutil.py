"""Atomic writes, output-folder checks and permissions (layout2im.fsutil)."""

import errno
import json
import os
import stat

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from layout2im import fsutil
from layout2im.errors import OutputError, short_path
from layout2im.fsutil import (
    atomic_folder,
    atomic_write,
    check_output_file,
    check_output_folder,
    new_file_mode,
    write_bytes,
    write_text,
)


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_serves_every_kind_of_writer(tmp_path):
    write_text(tmp_path / "a.json", json.dumps({"x": 1}))
    write_bytes(tmp_path / "b.bin", b"\x00\x01")
    with atomic_write(tmp_path / "c.png") as tmp:
        Image.new("RGB", (3, 2), (255, 0, 0)).save(tmp)  # format chosen from the suffix
    with atomic_write(tmp_path / "d.pt") as tmp:
        torch.save({"w": torch.ones(2)}, tmp)
    with atomic_write(tmp_path / "e.safetensors") as tmp:
        save_file({"w": torch.zeros(3)}, str(tmp))
    with atomic_write(tmp_path / "f.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, a=np.arange(3))
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1}
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert Image.open(tmp_path / "c.png").size == (3, 2)
    assert torch.equal(torch.load(tmp_path / "d.pt")["w"], torch.ones(2))
    assert torch.equal(load_file(tmp_path / "e.safetensors")["w"], torch.zeros(3))
    assert np.load(tmp_path / "f.npz")["a"].tolist() == [0, 1, 2]
    assert _listing(tmp_path) == ["a.json", "b.bin", "c.png", "d.pt", "e.safetensors", "f.npz"]
    for name in _listing(tmp_path):  # not the 0600 of temporary files
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == new_file_mode()


def test_atomic_write_creates_the_folder(tmp_path):
    write_text(tmp_path / "new" / "deeper" / "x.txt", "hi")
    assert (tmp_path / "new" / "deeper" / "x.txt").read_text() == "hi"


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_text(tmp_path / "result.json", "old")
    with pytest.raises(ZeroDivisionError), atomic_write(target) as tmp:
        tmp.write_text("half")
        raise ZeroDivisionError
    assert target.read_text() == "old"
    assert _listing(tmp_path) == ["result.json"]


def test_disk_full_is_one_line_naming_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fsutil.os, "fsync", full)
    with pytest.raises(OutputError) as info:
        write_text(tmp_path / "out" / "x.txt", "data")
    message = str(info.value)
    shown = short_path(tmp_path / "out" / "x.txt")
    assert message == f"cannot write {shown}: No space left on device"
    assert _listing(tmp_path / "out") == []


def test_a_write_error_inside_the_block_is_reported_the_same_way(tmp_path):
    def no_space(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    with (
        pytest.raises(OutputError, match="No space left on device"),
        atomic_write(tmp_path / "img.png") as tmp,
    ):
        tmp.write_bytes(b"\x89PNG partial")
        no_space(tmp)
    assert _listing(tmp_path) == []


def test_atomic_folder_swaps_a_whole_folder_or_keeps_the_old_one(tmp_path):
    target = tmp_path / "model"
    with atomic_folder(target) as tmp:
        write_text(tmp / "a.txt", "1")
    assert _listing(target) == ["a.txt"]
    with pytest.raises(RuntimeError), atomic_folder(target) as tmp:
        write_text(tmp / "b.txt", "2")
        raise RuntimeError("stop")
    assert _listing(target) == ["a.txt"]
    with atomic_folder(target) as tmp:
        write_text(tmp / "c.txt", "3")
    assert _listing(target) == ["c.txt"]
    assert _listing(tmp_path) == ["model"]
    assert stat.S_IMODE(target.stat().st_mode) == fsutil.new_folder_mode()


def test_check_output_folder_accepts_new_and_writable_folders_and_leaves_nothing(tmp_path):
    assert check_output_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()
    check_output_folder(tmp_path)
    assert _listing(tmp_path) == []


def test_check_output_folder_refuses_files_devices_and_paths_through_files(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(OutputError, match=r"--out .*f.txt is not a folder"):
        check_output_folder(tmp_path / "f.txt")
    with pytest.raises(OutputError, match=r"is inside .*f.txt, not a folder"):
        check_output_folder(tmp_path / "f.txt" / "sub")
    with pytest.raises(OutputError, match="/dev/null is not a folder"):
        check_output_folder("/dev/null")
    (tmp_path / "link").symlink_to(tmp_path / "missing")
    with pytest.raises(OutputError, match="broken symbolic link"):
        check_output_folder(tmp_path / "link" / "x")


def test_check_output_file_takes_new_files_and_files_to_replace_only(tmp_path):
    (tmp_path / "old.json").write_text("x")
    (tmp_path / "link.json").symlink_to(tmp_path / "missing.json")  # replaced like a file
    for path in ("new.json", "old.json", "link.json", "sub/new.json"):
        assert check_output_file(tmp_path / path, "--out") == tmp_path / path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "old.json"]
    os.mkfifo(tmp_path / "fifo")
    for path, message in [
        (tmp_path, "is a folder, not a file"),
        (tmp_path / "fifo", "is a FIFO \\(named pipe\\), not a file"),
        ("/dev/null", "/dev/null is a device, not a file"),
        (tmp_path / "old.json" / "r.json", "is not a folder"),
        ("a" * 5000, "more than the limit of 4096"),
    ]:
        with pytest.raises(OutputError, match=f"^--markdown .*{message}"):
            check_output_file(path, "--markdown")


def test_check_output_folder_refuses_an_unwritable_folder(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:  # a real read-only folder (root may write anyway)
        folder.chmod(0o555)
        with pytest.raises(OutputError, match="is not writable: Permission denied"):
            check_output_folder(folder / "new")
        folder.chmod(0o755)

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(fsutil.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match=r"--samples-dir .*ro is not writable: Read-only file"):
        check_output_folder(folder, "--samples-dir")
