"""Converting the authors' trained networks into this library's model folders: Layout2Im
(zhaobozb/layout2im, :func:`convert_original`) and LostGAN-v2 (WillSuen/LostGANs,
:func:`convert_lostgan`); see ``docs/original-models.md``."""

from .convert import ConversionResult, convert_original
from .lostgan import convert_lostgan
from .state_files import ConversionError

__all__ = ["ConversionError", "ConversionResult", "convert_lostgan", "convert_original"]
