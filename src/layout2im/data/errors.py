"""The one error type of the data package."""

from __future__ import annotations

from ..errors import Layout2ImError


class DatasetError(Layout2ImError, ValueError):
    """A dataset cannot be built or read: missing files, malformed JSON, bad annotations,
    unreadable images, unknown name. The message names the file and the offending key or
    annotation id."""
