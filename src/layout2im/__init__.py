"""layout2im: image generation from layout (Layout2Im, Zhao et al., CVPR 2019).

Boxes and object categories in, diverse realistic images out; each object's appearance is a
latent code that can be resampled, locked or given directly.
"""

from .config import Config, load_config
from .layout import Layout, LayoutBatch, LayoutError, LayoutObject, parse_layout
from .pipeline import GenerationResult, Layout2ImPipeline
from .vocab import Vocabulary

__version__ = "0.1.0"

__all__ = [
    "Config",
    "GenerationResult",
    "Layout",
    "Layout2ImPipeline",
    "LayoutBatch",
    "LayoutError",
    "LayoutObject",
    "Vocabulary",
    "__version__",
    "load_config",
    "parse_layout",
]
