"""layout2im: image generation from layout (Layout2Im, Zhao et al., CVPR 2019).

Boxes and object categories in, diverse realistic images out; each object's appearance is a
latent code that can be resampled, locked or given directly.
"""

from .config import Config, load_config
from .errors import Layout2ImError
from .layout import Layout, LayoutBatch, LayoutError, LayoutObject, ObjectStyle, parse_layout
from .pipeline import GenerationResult, Layout2ImPipeline, ModelLoadError, default_model
from .vocab import Vocabulary

__version__ = "0.1.0"

__all__ = [
    "Config",
    "GenerationResult",
    "Layout",
    "Layout2ImError",
    "Layout2ImPipeline",
    "LayoutBatch",
    "LayoutError",
    "LayoutObject",
    "ModelLoadError",
    "ObjectStyle",
    "Vocabulary",
    "__version__",
    "default_model",
    "load_config",
    "parse_layout",
]
