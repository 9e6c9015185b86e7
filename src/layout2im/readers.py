"""Reading files and JSON that a user hands us, with every bound checked before it bites.

One place for the rules every input file follows (layouts, configs, model-folder metadata,
vocabularies, split files, HTTP bodies):

- the path is checked first (:func:`check_path`): not too long for the file system, exists,
  and is the expected kind. FIFOs, sockets and devices are refused before they are opened,
  and the file is opened non-blocking and checked again on the open descriptor, so a FIFO
  swapped in between cannot hang a read;
- at most ``limit`` bytes are read (``limit + 1`` to tell "too large" from "exactly full");
- text must be UTF-8;
- JSON is parsed with a nesting limit, an integer-digit limit, no ``NaN``/``Infinity``
  constants, and no lone surrogates (``"\\ud800"``) in any string, which would fail later
  when the text is encoded.

Every failure raises the caller's :class:`~layout2im.errors.Layout2ImError` subclass (``error``)
with a message naming what was read (``what``), the path and the problem.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .errors import Layout2ImError, short, short_path

MAX_PATH_CHARS = 4096
"""Paths longer than this are refused before the file system sees them (Linux's PATH_MAX)."""

MAX_NAME_CHARS = 255
"""A path component longer than this is refused (Linux's NAME_MAX)."""

MAX_JSON_DEPTH = 64
"""JSON nested deeper than this (arrays and objects) is refused."""

MAX_INT_DIGITS = 64
"""JSON integers with more digits than this are refused: no input needs them, and Python's own
limit (4300) would fail later with a less clear message."""

_KINDS = ("file", "folder", "any")


class InputError(Layout2ImError, ValueError):
    """A file or text given to us cannot be read as what it should be."""


def _kind_of(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_path_text(path: str | Path, what: str, error: type[Layout2ImError] = InputError) -> Path:
    """``path`` as a :class:`Path` after the checks that need no file system: not empty, no NUL
    byte, no lone surrogate, at most :data:`MAX_PATH_CHARS` long and no component longer than
    :data:`MAX_NAME_CHARS`."""
    text = os.fspath(path)
    if not text:
        raise error(f"{what}: the path is empty")
    if "\0" in text:
        raise error(f"{what} {short_path(text)!r}: the path contains a NUL byte")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{what} {short(ascii(text))}: the path is not valid text") from None
    if len(text) > MAX_PATH_CHARS:
        raise error(
            f"{what} {short_path(text)}: the path is {len(text)} characters long, "
            f"more than the limit of {MAX_PATH_CHARS}"
        )
    longest = max((len(part) for part in text.split(os.sep)), default=0)
    if longest > MAX_NAME_CHARS:
        raise error(
            f"{what} {short_path(text)}: a name in the path is {longest} characters long, "
            f"more than the limit of {MAX_NAME_CHARS}"
        )
    return Path(text)


def check_path(
    path: str | Path,
    what: str,
    kind: str = "file",
    error: type[Layout2ImError] = InputError,
) -> Path:
    """``path`` checked to exist and be ``kind`` (``file``: a regular file; ``folder``; ``any``:
    either). Symbolic links are followed. Raises ``error`` naming ``what`` otherwise: missing,
    a FIFO, socket or device, the wrong kind, too long, unreadable."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    path = check_path_text(path, what, error)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise error(f"{what} not found: {short_path(path)}") from None
    except NotADirectoryError:
        raise error(f"{what} not found: {short_path(path)} (a parent is not a folder)") from None
    except OSError as exc:
        raise error(f"cannot read {what} {short_path(path)}: {_reason(exc)}") from None
    found = _kind_of(mode)
    wanted = {"file": ("a file",), "folder": ("a folder",), "any": ("a file", "a folder")}[kind]
    if found not in wanted:
        expected = " or ".join(wanted)
        raise error(f"{what} {short_path(path)} is {found}, not {expected}")
    return path


@contextlib.contextmanager
def open_binary(
    path: str | Path, what: str, error: type[Layout2ImError] = InputError
) -> Iterator[BinaryIO]:
    """The regular file ``path`` opened for reading bytes, after :func:`check_path` and again
    checked on the open descriptor (opened non-blocking: a FIFO swapped in cannot hang). For
    reading a file piece by piece with its own bounds; :func:`read_bytes` reads it whole."""
    path = check_path(path, what, "file", error)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"cannot read {what} {short_path(path)}: {_reason(exc)}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(f"{what} {short_path(path)} is {_kind_of(mode)}, not a file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            yield f
    except OSError as exc:
        raise error(f"cannot read {what} {short_path(path)}: {_reason(exc)}") from None
    finally:
        os.close(fd)


def read_bytes(
    path: str | Path, limit: int, what: str, error: type[Layout2ImError] = InputError
) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them; a larger file raises
    ``error`` naming the limit. Never blocks on a FIFO and never reads a device."""
    with open_binary(path, what, error) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise error(f"{what} {short_path(path)} is larger than the limit of {_size(limit)}")
    return data


def read_lines(
    path: str | Path, limit: int, what: str, error: type[Layout2ImError] = InputError
) -> Iterator[tuple[int, str | None, str]]:
    """The lines of the text file ``path`` one at a time, with :func:`open_binary`'s checks:
    ``(number, text, problem)``, numbered from 1, ``text`` without its line end. A line over
    ``limit`` bytes or not UTF-8 gives ``text`` None and ``problem`` saying why (the rest of
    a long line is skipped unread into memory); the caller decides what a bad line means."""
    with open_binary(path, what, error) as f:
        number = 0
        while True:
            raw = f.readline(limit + 1)
            if not raw:
                return
            number += 1
            if len(raw) > limit and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):
                    raw = f.readline(1 << 16)
                yield number, None, f"longer than the limit of {_size(limit)}"
                continue
            raw = raw.rstrip(b"\r\n")
            try:
                yield number, raw.decode("utf-8"), ""
            except UnicodeDecodeError as exc:
                yield number, None, f"not UTF-8 text (byte {exc.start})"


def decode_text(data: bytes, source: str, error: type[Layout2ImError] = InputError) -> str:
    """``data`` decoded as UTF-8 (a leading byte-order mark is dropped); ``source`` names the
    input in the error."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{source}: not UTF-8 text (byte {exc.start})") from None


def read_text(
    path: str | Path, limit: int, what: str, error: type[Layout2ImError] = InputError
) -> str:
    """The UTF-8 text of ``path``, with the checks of :func:`read_bytes`."""
    data = read_bytes(path, limit, what, error)
    return decode_text(data, f"{what} {short_path(path)}", error)


class _Refused(Exception):
    """Raised inside the JSON parser's hooks; turned into the caller's error."""


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _Refused(f"an integer with {digits} digits (at most {MAX_INT_DIGITS} are accepted)")
    return int(text)


def _parse_constant(name: str) -> float:
    raise _Refused(f"{name} is not a JSON number")


def parse_json(text: str | bytes, source: str, error: type[Layout2ImError] = InputError) -> Any:
    """``text`` parsed as JSON (bytes must be UTF-8); ``source`` names it in errors. Refused:
    malformed JSON (with line and column), nesting deeper than :data:`MAX_JSON_DEPTH`,
    integers longer than :data:`MAX_INT_DIGITS` digits, ``NaN``/``Infinity`` and strings with a
    lone surrogate."""
    if isinstance(text, bytes | bytearray):
        text = decode_text(bytes(text), source, error)
    try:
        value = json.loads(text, parse_int=_parse_int, parse_constant=_parse_constant)
    except _Refused as exc:
        raise error(f"{source}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise error(
            f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise error(f"{source}: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    problem = _check_tree(value)
    if problem:
        raise error(f"{source}: {problem}")
    return value


def read_json(
    path: str | Path, limit: int, what: str, error: type[Layout2ImError] = InputError
) -> Any:
    """The JSON value in the file ``path``: :func:`read_bytes`, then :func:`parse_json`."""
    data = read_bytes(path, limit, what, error)
    return parse_json(data, f"{what} {short_path(path)}", error)


def _check_tree(value: Any) -> str | None:
    """The first problem of a parsed JSON value (too deep, a lone surrogate), or None; an
    explicit stack, so any depth is safe to walk."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.items())
        elif isinstance(item, list):
            children = [(None, v) for v in item]
        elif isinstance(item, str):
            if not _encodable(item):
                return f"the string {short(ascii(item))} holds a lone surrogate (not valid text)"
            continue
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
        for key, child in children:
            if key is not None and not _encodable(key):
                return f"the key {short(ascii(key))} holds a lone surrogate (not valid text)"
            stack.append((child, depth + 1))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "the path is too long"
    return exc.strerror or str(exc)


def _size(limit: int) -> str:
    if limit >= 2**20:
        return f"{limit / 2**20:g} MB"
    if limit >= 2**10:
        return f"{limit / 2**10:g} KB"
    return f"{limit} bytes"
