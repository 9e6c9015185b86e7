"""How big the networks of a config are, counted without allocating them (PyTorch's meta
device): ``layout2im info`` and the model-folder check use it before building anything."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from .discriminators import ImageDiscriminator, ObjectDiscriminator
from .generator import Layout2ImGenerator


def _parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameter_counts(config: ModelConfig) -> dict[str, int]:
    """Parameters of the generator and of both discriminators."""
    with torch.device("meta"):
        networks = {
            "generator": Layout2ImGenerator(config),
            "image_discriminator": ImageDiscriminator(
                config.image_disc_channels, config.spectral_norm
            ),
            "object_discriminator": ObjectDiscriminator(
                config.object_disc_channels, config.num_classes, config.spectral_norm
            ),
        }
    return {name: _parameters(net) for name, net in networks.items()}


def generator_module_counts(config: ModelConfig) -> dict[str, int]:
    """Parameters of each part of the generator (crop encoder, object encoder, ...)."""
    with torch.device("meta"):
        g = Layout2ImGenerator(config)
    return {name: _parameters(m) for name, m in g.named_children()}


def generator_state_size(config: ModelConfig) -> int:
    """Values in the generator's state dict (parameters and BatchNorm statistics): what its
    ``model.safetensors`` must hold."""
    with torch.device("meta"):
        g = Layout2ImGenerator(config)
    return sum(t.numel() for t in g.state_dict().values())
