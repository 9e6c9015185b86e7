"""Read big JSON files one element at a time, in bounded memory.

COCO's ``instances_train2017.json`` (450 MB) and Visual Genome's ``objects.json`` (400 MB)
take several GB as Python objects when read with ``json.load``. Both are a top-level object
whose values are long lists (COCO) or a top-level list (VG), so they can be read element by
element: :func:`read_members` calls a handler for every element of the top-level object's list
values, :func:`iter_array` yields the elements of a top-level list. Each element is decoded
with the C scanner of :mod:`json` (``JSONDecoder.raw_decode``) from a text buffer of a few MB,
so peak memory is one buffer plus what the handlers keep. One element (or one top-level
value that is not a list) may take at most :data:`MAX_ELEMENT_CHARS` characters of text: a
larger one is refused while it is being read, before it is decoded, so a file cannot make the
reader hold more than that bound plus one chunk.

Most of COCO's bytes are segmentation polygons, which nothing here needs. With
``skip_key="segmentation"`` a member ``"segmentation": [[numbers], ...],`` is cut out of the text
before it is decoded (a regular expression over the raw text, about 30x faster than decoding the
numbers). Only that exact form is cut: numbers, commas, spaces and brackets, followed by a
comma; anything else (RLE dicts, a last member, pretty-printed lists) is decoded as usual, so
the result is the same element minus that key, or the element as it is.

Malformed input raises :class:`DatasetError` naming the file, the line and column and the
top-level key and element index being read.
"""

from __future__ import annotations

import json
import json.scanner
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from ..errors import short_path
from ..readers import check_path
from .errors import DatasetError

CHUNK_CHARS = 1 << 23  # 8 M characters per read
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# A decode error this close to the end of the buffer may only mean the buffer ends mid-element.
_TRUNCATION_SLACK = 64
_HOLD_LIMIT = 1 << 20  # longest skippable member kept back across a chunk boundary
MAX_ELEMENT_CHARS = 1 << 25
"""The longest element (32 M characters of JSON text) read; real datasets' largest are a few
hundred KB (COCO's biggest RLE segmentations)."""


def _skip_pattern(key: str) -> re.Pattern[str]:
    numbers = r"\[[-+0-9.eE, ]*\]"
    return re.compile(rf'"{re.escape(key)}": ?\[{numbers}(?:, ?{numbers})*\], ?')


class _Reader:
    """A sliding text buffer over a file with JSON-aware reads."""

    def __init__(
        self, f: TextIO, path: Path, chunk_chars: int = CHUNK_CHARS, skip_key: str | None = None
    ):
        self.f = f
        self.path = path
        self.chunk_chars = chunk_chars
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.lines = 0  # newlines in the dropped characters
        self.column = 0  # column of the first buffer character
        self.scan = json.scanner.make_scanner(json.JSONDecoder())  # the C scanner
        self.where = "the top level"
        self.list_name: str | None = None  # the list being read, and the element index
        self.index = 0
        self.skip = _skip_pattern(skip_key) if skip_key else None
        self.marker = f'"{skip_key}"'
        self.pending = ""  # text held back until a skippable member is complete
        self.skipped = 0  # characters cut out

    # --- buffer management

    def _read_more(self) -> None:
        if self.eof:
            return
        if self.pos > len(self.buf) // 2:  # drop the consumed front before growing
            dropped = self.buf[: self.pos]
            newlines = dropped.count("\n")
            self.lines += newlines
            self.column = (
                len(dropped) - dropped.rfind("\n") - 1 if newlines else self.column + len(dropped)
            )
            self.buf = self.buf[self.pos :]
            self.pos = 0
        try:
            chunk = self.f.read(self.chunk_chars)
        except UnicodeDecodeError as exc:
            raise DatasetError(
                f"{short_path(self.path)} is not UTF-8 text ({exc.reason})"
            ) from None
        if not chunk:
            self.eof = True
        self.buf += chunk if self.skip is None else self._cut_skipped(chunk)

    def _cut_skipped(self, chunk: str) -> str:
        text, self.pending = self.pending + chunk, ""
        if not self.eof:
            cut = text.rfind(self.marker)
            if cut < 0 or len(text) - cut >= _HOLD_LIMIT or self.skip.match(text, cut):
                # hold back a marker cut in two by the chunk boundary
                cut = next(
                    (len(text) - k for k in range(len(self.marker) - 1, 0, -1)
                     if text.endswith(self.marker[:k])),
                    len(text),
                )  # fmt: skip
            text, self.pending = text[:cut], text[cut:]  # may complete with the next chunk
        out = self.skip.sub("", text)
        self.skipped += len(text) - len(out)
        return out

    def skip_ws(self) -> None:
        while True:
            self.pos = _WHITESPACE.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or self.eof:
                return
            self._read_more()

    def peek(self) -> str:
        """The next non-whitespace character, ``""`` at the end of the file."""
        self.skip_ws()
        return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def expect(self, chars: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            wanted = " or ".join(repr(ch) for ch in chars)
            found = "the end of the file" if not c else repr(c)
            raise self.error(f"expected {wanted}, found {found}", self.pos)
        self.pos += 1
        return c

    def value(self) -> Any:
        """Decode the JSON value at the cursor (after whitespace)."""
        buf, pos = self.buf, self.pos
        if pos >= len(buf) or buf[pos] in " \t\n\r":
            self.skip_ws()
        while True:
            buf, pos = self.buf, self.pos
            try:
                value, end = self.scan(buf, pos)
            except StopIteration as stop:  # what raw_decode reports as "Expecting value"
                exc = json.JSONDecodeError("Expecting value", buf, stop.value)
                if self._maybe_truncated(exc):
                    self._read_more()
                    continue
                raise self.error(exc.msg, exc.pos) from None
            except json.JSONDecodeError as exc:
                if self._maybe_truncated(exc):
                    self._read_more()
                    continue
                raise self.error(exc.msg, exc.pos) from None
            except ValueError:  # an integer longer than Python's int() takes
                raise self.error("an integer with too many digits", pos) from None
            except RecursionError:
                raise self.error("nesting too deep", pos) from None
            if end > len(buf) - _TRUNCATION_SLACK and not self.eof:  # a number may go on
                self._read_more()
                continue
            self.pos = end
            return value

    def _maybe_truncated(self, exc: json.JSONDecodeError) -> bool:
        if self.eof:
            return False
        if len(self.buf) - self.pos > MAX_ELEMENT_CHARS:
            raise self.error(
                f"an element longer than {MAX_ELEMENT_CHARS} characters (the limit)", self.pos
            )
        if exc.msg.startswith("Unterminated string"):
            return True
        return exc.pos >= len(self.buf) - _TRUNCATION_SLACK

    def error(self, message: str, pos: int) -> DatasetError:
        head = self.buf[:pos]
        newlines = head.count("\n")
        line = self.lines + newlines + 1
        column = pos - head.rfind("\n") if newlines else self.column + pos + 1
        at = f"line {line}" if self.skipped else f"line {line} column {column}"
        where = self.where if self.list_name is None else f"{self.list_name}[{self.index}]"
        return DatasetError(
            f"{short_path(self.path)}: malformed JSON at {at} in {where}: {message}"
        )

    # --- structure

    def iter_list(self, where: str) -> Iterator[Any]:
        """Yield the elements of the list at the cursor."""
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        self.list_name, self.index = where, 0
        while True:
            yield self.value()
            self.index += 1
            buf, pos = self.buf, self.pos
            if pos < len(buf) and buf[pos] == ",":  # compact JSON: no whitespace
                self.pos = pos + 1
            elif self.expect(",]") == "]":
                self.list_name = None
                return


def _open(path: Path) -> TextIO:
    check_path(path, "dataset file", "file", DatasetError)  # no FIFO or device is opened
    try:
        return open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise DatasetError(f"file not found: {short_path(path)}") from None
    except OSError as exc:
        raise DatasetError(f"cannot read {short_path(path)}: {exc.strerror}") from None


ElementHandler = Callable[[int, Any], None]


def read_members(
    path: str | Path,
    handlers: dict[str, ElementHandler],
    chunk_chars: int = CHUNK_CHARS,
    skip_key: str | None = None,
) -> set[str]:
    """Read a file holding one JSON object, calling ``handlers[key](index, element)`` for every
    element of each list value whose key has a handler. Other values are decoded and dropped
    (lists element by element). Returns the top-level keys found. ``skip_key``: a member
    name whose numeric-list values are cut out unread (see the module docstring).

    Raises :class:`DatasetError` for malformed JSON, a top level that is not an object, or a
    handled key whose value is not a list.
    """
    path = Path(path)
    with _open(path) as f:
        reader = _Reader(f, path, chunk_chars, skip_key)
        if reader.peek() != "{":
            found = repr(reader.peek()) if reader.peek() else "an empty file"
            raise DatasetError(
                f"{short_path(path)}: expected a JSON object at the top level, found {found}"
            )
        reader.pos += 1
        keys: set[str] = set()
        if reader.peek() == "}":
            reader.pos += 1
        else:
            while True:
                reader.where = "the top level"
                if reader.peek() != '"':
                    raise reader.error("expected a string key", reader.pos)
                key = reader.value()
                reader.expect(":")
                keys.add(key)
                handler = handlers.get(key)
                if reader.peek() == "[":
                    for index, element in enumerate(reader.iter_list(repr(key))):
                        if handler is not None:
                            handler(index, element)
                else:
                    reader.where = repr(key)
                    value = reader.value()
                    if handler is not None:
                        raise DatasetError(
                            f"{short_path(path)}: {key!r} must be a list, got "
                            f"{type(value).__name__}"
                        )
                if reader.expect(",}") == "}":
                    break
        reader.where = "the top level"
        if reader.peek():
            raise reader.error("extra data after the top-level object", reader.pos)
    return keys


def iter_array(path: str | Path, chunk_chars: int = CHUNK_CHARS) -> Iterator[Any]:
    """Yield the elements of a file holding one JSON list."""
    path = Path(path)
    with _open(path) as f:
        reader = _Reader(f, path, chunk_chars)
        if reader.peek() != "[":
            found = repr(reader.peek()) if reader.peek() else "an empty file"
            raise DatasetError(
                f"{short_path(path)}: expected a JSON list at the top level, found {found}"
            )
        yield from reader.iter_list("the top-level list")
        reader.where = "the top level"
        if reader.peek():
            raise reader.error("extra data after the top-level list", reader.pos)
