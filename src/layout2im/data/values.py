"""What a number read from a dataset file may be, checked where it is read.

JSON has one number type; Python's parser turns it into ``bool``, ``int`` (of any size) or
``float`` (``1e400`` is infinity). Dataset columns are int64 and float64 arrays, so every value
is checked here before it reaches one: booleans are not numbers, ids fit int64, image sides and
box coordinates stay within bounds no real dataset comes near.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import quote

MAX_ID = 2**63 - 1
"""Image, annotation, category and object ids: integers in [-2**63, 2**63) (int64)."""

MAX_IMAGE_SIDE = 1 << 20
"""An image's ``width``/``height`` in a dataset file: 1 to 1,048,576 pixels."""

MAX_COORDINATE = 1e9
"""Box coordinates and sizes (pixels) in a dataset file: finite, at most this in magnitude."""


def is_int(value: Any) -> bool:
    """An integer, not a boolean."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An integer or float, not a boolean."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_id(value: Any) -> bool:
    """An integer that fits int64."""
    return is_int(value) and -MAX_ID - 1 <= value <= MAX_ID


def is_side(value: Any) -> bool:
    """An image side in pixels: an integer in [1, :data:`MAX_IMAGE_SIDE`]."""
    return is_int(value) and 1 <= value <= MAX_IMAGE_SIDE


def is_coordinate(value: Any) -> bool:
    """A box coordinate or size: a finite number of magnitude at most :data:`MAX_COORDINATE`."""
    if not is_number(value):
        return False
    if isinstance(value, int):
        return abs(value) <= MAX_COORDINATE
    return math.isfinite(value) and abs(value) <= MAX_COORDINATE


def id_problem(value: Any) -> str | None:
    """Why ``value`` is not an id (:func:`is_id`), for a message after the field's name; None
    when it is one."""
    return None if is_id(value) else f"must be an int64 integer, got {quote(value)}"


def coordinate_problem(value: Any) -> str | None:
    """Why ``value`` is not a box coordinate (:func:`is_coordinate`), for a message after the
    field's name; None when it is one."""
    if is_coordinate(value):
        return None
    return f"must be a finite number of magnitude at most {MAX_COORDINATE:g}, got {quote(value)}"
