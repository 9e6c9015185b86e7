"""Layout2Im networks: generator modules and the two discriminators."""

from .discriminators import ImageDiscriminator, ObjectDiscriminator
from .generator import GeneratorOutput, Layout2ImGenerator

__all__ = ["GeneratorOutput", "ImageDiscriminator", "Layout2ImGenerator", "ObjectDiscriminator"]
