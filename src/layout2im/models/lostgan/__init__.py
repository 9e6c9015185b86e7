"""LostGAN-v2 (Sun and Wu, TPAMI 2021; WillSuen/LostGANs): the 128 and 256 generators, one
module per component (see :mod:`.generator`)."""

from .config import IMAGE_LABEL, PADDING_BOX, LostGANConfig
from .generator import LostGANGenerator, LostGANOutput

__all__ = ["IMAGE_LABEL", "PADDING_BOX", "LostGANConfig", "LostGANGenerator", "LostGANOutput"]
