"""The package's base error and how messages quote what a user gave.

Every error that stands for bad input or an unusable file (a layout, a config, a model folder,
a dataset, a checkpoint, an output path) derives from :class:`Layout2ImError`: the CLI prints
such an error as one ``error:`` line with exit status 2, the server answers it with a 4xx.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import reprlib
from typing import Any

QUOTE_CHARS = 60
"""At most this many characters of a user's value appear in a message."""

MAX_MESSAGE_CHARS = 1500
"""A message listing several problems lists them until it reaches this length; the rest are
counted (:func:`join_problems`)."""


class Layout2ImError(Exception):
    """An expected failure caused by input or files; its message says what and where."""


class OutputError(Layout2ImError, OSError):
    """An output path cannot be written (not a folder, read-only, disk full, ...)."""


_repr = reprlib.Repr()
_repr.maxlevel = 2
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 6
_repr.maxstring = _repr.maxother = _repr.maxlong = QUOTE_CHARS
_repr.fillvalue = "..."


def quote(value: Any) -> str:
    """A short ``repr`` of a user's value: strings, numbers and nested lists are cut to a
    prefix (``'aaaa...aaa'``), so a message never echoes a megabyte back, and nesting of any
    depth is safe."""
    try:
        return _repr.repr(value)
    except Exception:  # a hostile __repr__ from Python callers
        return f"<{type(value).__name__}>"


def short(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` cut to ``limit`` characters (plus ``...``), for names quoted in messages."""
    return text if len(text) <= limit else text[:limit] + "..."


def short_path(path: object, limit: int = QUOTE_CHARS) -> str:
    """A path for a message, cut in the middle to ``limit`` characters when longer: the start
    says where it is, the end which file it names."""
    text = str(path)
    if len(text) <= limit:
        return text
    head = limit // 3
    return text[:head] + "..." + text[-(limit - head) :]


def join_problems(messages: list[str]) -> str:
    """The problems as one line: ``; ``-separated, cut at :data:`MAX_MESSAGE_CHARS` with a count
    of the rest."""
    out: list[str] = []
    length = 0
    for k, message in enumerate(messages):
        if out and length + len(message) > MAX_MESSAGE_CHARS:
            rest = len(messages) - k
            out.append(f"and {rest} more problem{'s' if rest > 1 else ''}")
            break
        out.append(message)
        length += len(message) + 2
    return "; ".join(out)
