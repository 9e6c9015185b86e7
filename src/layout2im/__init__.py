"""layout2im: image generation from layout (Layout2Im, Zhao et al., CVPR 2019).

Boxes and object categories in, diverse realistic images out; each object's appearance is a
latent code that can be resampled, locked or given directly.

The public names load on first use (PEP 562), so ``import layout2im.cli`` does not import
torch: the command sets the OpenMP wait policy before torch starts (``layout2im.threads``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "Config": "config",
    "load_config": "config",
    "Layout2ImError": "errors",
    "Layout": "layout",
    "LayoutBatch": "layout",
    "LayoutError": "layout",
    "LayoutObject": "layout",
    "ObjectStyle": "layout",
    "parse_layout": "layout",
    "GenerationResult": "pipeline",
    "Layout2ImPipeline": "pipeline",
    "ModelLoadError": "pipeline",
    "default_model": "pipeline",
    "Vocabulary": "vocab",
}

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

if TYPE_CHECKING:
    from .config import Config, load_config
    from .errors import Layout2ImError
    from .layout import Layout, LayoutBatch, LayoutError, LayoutObject, ObjectStyle, parse_layout
    from .pipeline import GenerationResult, Layout2ImPipeline, ModelLoadError, default_model
    from .vocab import Vocabulary


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'layout2im' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
