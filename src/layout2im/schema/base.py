"""The strict pydantic base of every schema, and the words for what pydantic finds.

Strict means what a user wrote is what the program gets: ``"2"`` is not an integer, ``true``
is not a number, ``1`` is not ``true``, unknown keys are refused, and ``NaN``/``Infinity`` are
not numbers. Integers are accepted where a float is asked for.

:func:`describe` turns one pydantic error into the clause a message uses
(``must be an integer, got 'a'``); each schema puts the name of the field in front of it.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Sequence
from typing import Any

import annotated_types
from pydantic import BaseModel, ConfigDict
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from ..errors import quote


class StrictModel(BaseModel):
    """Strict types, no unknown keys, no NaN or infinity, attributes settable (the schema is
    checked again by an explicit ``validate``)."""

    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        allow_inf_nan=False,
        validate_default=False,
        protected_namespaces=(),
    )


def problem(message: str, **ctx: Any) -> PydanticCustomError:
    """A finding of a validator, worded as the clause after the field's name (``must be odd``);
    ``ctx`` travels with it (``field``: the field a model-level check is about)."""
    return PydanticCustomError("problem", "{message}", {"message": message, **ctx})


# what each pydantic type error means, as a clause after the field's name
_TYPE_WORDS = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "none_required": "must be null",
}
_BOUND_TYPES = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def describe(error: ErrorDetails, info: FieldInfo | None) -> str:
    """The clause for ``error`` (from :meth:`pydantic.ValidationError.errors`) about the field
    described by ``info`` (None when unknown)."""
    kind, value = error["type"], error.get("input")
    if kind == "problem":
        return error["ctx"]["message"]
    if kind in _TYPE_WORDS:
        return f"{_TYPE_WORDS[kind]}, got {quote(value)}"
    if kind == "literal_error":
        choices = literal_choices(info.annotation) if info is not None else ()
        if choices:
            return f"must be one of {', '.join(map(str, choices))} (got {quote(value)})"
    if kind in _BOUND_TYPES:
        bounds = bounds_text(info.metadata if info is not None else [], error)
        return f"must be {bounds}, got {quote(value)}"
    return f"{error['msg'][0].lower()}{error['msg'][1:]}, got {quote(value)}"


def bounds_text(metadata: Iterable[Any], error: ErrorDetails | None = None) -> str:
    """``between 1 and 8``, ``in [0, 1)``, ``>= 0``: a field's bounds as words."""
    low = high = None
    for item in metadata:
        if isinstance(item, annotated_types.Ge | annotated_types.Gt):
            low = item
        elif isinstance(item, annotated_types.Le | annotated_types.Lt):
            high = item
        elif isinstance(item, annotated_types.Interval):
            low = annotated_types.Ge(item.ge) if item.ge is not None else low
            high = annotated_types.Le(item.le) if item.le is not None else high
    if low is None and high is None and error is not None:
        ((op, bound),) = error.get("ctx", {}).items()
        return {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[op] + f" {bound}"
    closed = isinstance(low, annotated_types.Ge) and isinstance(high, annotated_types.Le)
    if closed and isinstance(low.ge, int) and isinstance(high.le, int):
        return f"between {low.ge} and {high.le}"
    if low is not None and high is not None:
        left = "[" if isinstance(low, annotated_types.Ge) else "("
        right = "]" if isinstance(high, annotated_types.Le) else ")"
        return f"in {left}{_bound(low)}, {_bound(high)}{right}"
    if low is not None:
        op = ">=" if isinstance(low, annotated_types.Ge) else ">"
        return f"{op} {_bound(low)}"
    op = "<=" if isinstance(high, annotated_types.Le) else "<"
    return f"{op} {_bound(high)}"


def _bound(item: Any) -> str:
    value = next(getattr(item, k) for k in ("ge", "gt", "le", "lt") if hasattr(item, k))
    return f"{value:g}" if isinstance(value, float) else str(value)


def literal_choices(annotation: Any) -> tuple[Any, ...]:
    """The values a ``Literal[...]`` annotation allows (inside Annotated/Optional too)."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    for arg in typing.get_args(annotation):
        found = literal_choices(arg)
        if found:
            return found
    return ()


def model_class(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds (itself, or inside Optional/Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = model_class(arg)
        if found is not None:
            return found
    return None


def field_at(model: type[BaseModel], loc: Sequence[str | int]) -> FieldInfo | None:
    """The field a pydantic error location points at in ``model``, following nested models
    (list indices are skipped); None when the location names no declared field."""
    info = None
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None or part not in current.model_fields:
            return None
        info = current.model_fields[part]
        current = model_class(info.annotation)
    return info


def close_match(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to a mistyped ``word`` (difflib), or None when none is close."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None
