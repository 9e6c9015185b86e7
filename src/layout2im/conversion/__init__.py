"""Converting the authors' trained Layout2Im networks (zhaobozb/layout2im) into this library's
model folders; see :func:`convert_original` and ``docs/original-models.md``."""

from .convert import ConversionResult, convert_original
from .state_files import ConversionError

__all__ = ["ConversionError", "ConversionResult", "convert_original"]
