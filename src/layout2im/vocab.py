"""Object vocabulary: the mapping between category names and embedding rows.

Row ``i`` of every class-conditional layer belongs to category ``names[i]``. Rows may be unused
(``None``): COCO indexes its 184 rows by category id, and ids such as 12 or 26 do not exist.
The vocabulary travels with every checkpoint and exported model as ``vocab.json``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from pathlib import Path

from .errors import quote
from .fsutil import write_text
from .readers import read_json

MAX_VOCAB_BYTES = 16 * 1024 * 1024
"""A vocabulary file (``vocab.json``, ``convert-original --vocab``) is at most this large."""


class Vocabulary:
    """Category names by row index; unused rows are ``None``."""

    def __init__(self, names: Sequence[str | None]):
        self.names: list[str | None] = list(names)
        self._index: dict[str, int] = {}
        for i, name in enumerate(self.names):
            if name is None:
                continue
            if name in self._index:
                raise ValueError(
                    f"duplicate category name {quote(name)} at rows {self._index[name]} and {i}"
                )
            self._index[name] = i

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.names == other.names

    def __repr__(self) -> str:
        return f"Vocabulary({len(self.categories)} categories, {len(self)} rows)"

    @property
    def categories(self) -> list[str]:
        """The used category names, in row order."""
        return [n for n in self.names if n is not None]

    def index(self, name: str) -> int:
        """Row of ``name``; raises ``KeyError`` with the nearest valid names."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(self.unknown_message(name)) from None

    def name(self, index: int) -> str:
        if not 0 <= index < len(self.names) or self.names[index] is None:
            raise KeyError(f"row {index} is not a category of this vocabulary")
        return self.names[index]  # type: ignore[return-value]

    def unknown_message(self, name: str) -> str:
        """A message for an unknown name: the nearest names, or the full list when short."""
        shown = quote(name)
        longest = max(map(len, self.categories), default=0)
        close = (
            difflib.get_close_matches(name, self.categories, n=3, cutoff=0.5)
            if isinstance(name, str) and len(name) <= 2 * longest + 10
            else []
        )
        if close:
            return f"unknown category {shown}; did you mean {', '.join(map(repr, close))}?"
        if len(self.categories) <= 30:
            return f"unknown category {shown}; valid categories: {', '.join(self.categories)}"
        return f"unknown category {shown} ({len(self.categories)} categories in this model)"

    def to_json(self) -> dict:
        return {"names": self.names}

    @classmethod
    def from_json(cls, data: dict) -> Vocabulary:
        if not isinstance(data, dict) or not isinstance(data.get("names"), list):
            raise ValueError('vocab.json must be an object with a "names" list')
        names = data["names"]
        if not all(n is None or isinstance(n, str) for n in names):
            raise ValueError('vocab.json "names" must hold strings or null')
        return cls(names)

    def save(self, path: str | Path) -> None:
        write_text(path, json.dumps(self.to_json(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """The vocabulary in ``path`` (read through :mod:`layout2im.readers`, at most
        :data:`MAX_VOCAB_BYTES`)."""
        return cls.from_json(read_json(path, MAX_VOCAB_BYTES, "vocabulary"))
