"""Convert the LostGAN-v2 authors' trained generators (WillSuen/LostGANs) into model folders.

The authors' ``train.py`` saves ``netG.state_dict()`` of an ``nn.DataParallel`` model (every key
prefixed with ``module.``, which is removed); their ``test.py`` loads such a file into
``ResnetGenerator128`` after silently dropping every key the model lacks. Here every tensor is
matched against the explicit key table (:mod:`.lostgan_keys`) instead: a missing, unexpected or
mis-shaped key stops the conversion with one message naming each of them, and nothing is
written. The resolution is read from the keys (only the 256 generator has ``res6.*``), and so
are the widths (the released generators have ``ch`` 64; any other is converted as such); the
dataset decides the vocabulary (184 rows for COCO-Stuff, 179 for Visual Genome, whose row
order comes from ``--vocab``) and the layout rules of the authors' loader (see
:class:`~layout2im.models.lostgan.LostGANConfig`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..models.lostgan import LostGANConfig, LostGANGenerator
from .lostgan_keys import lostgan_generator_keys, resolution_of, widths_of
from .state_files import ConversionError, map_state_dict, read_state_dict

DATASET_NAMES = {"coco": "COCO-Stuff", "vg": "Visual Genome"}


def read_lostgan_generator(path: str | Path, dataset: str) -> LostGANGenerator:
    """The authors' LostGAN-v2 generator of ``dataset`` (``coco`` or ``vg``) in ``path`` (a
    ``state_dict()`` file, 128 or 256 read from its keys), as our module in eval mode. Raises
    :class:`ConversionError` naming every problem."""
    if dataset not in DATASET_NAMES:
        raise ConversionError(f"--dataset must be one of coco, vg, got {dataset!r}")
    state = read_state_dict(path)
    resolution = resolution_of(state)
    config = LostGANConfig.for_dataset(dataset, resolution, **widths_of(state))
    network = f"a LostGAN-v2 {resolution}x{resolution} generator for {DATASET_NAMES[dataset]}"
    mapped = map_state_dict(state, lostgan_generator_keys(config), str(path), network)
    generator = LostGANGenerator(config)
    # the optional tensors the file lacked (num_batches_tracked) keep the new module's values
    generator.load_state_dict({**generator.state_dict(), **mapped}, strict=True)
    return generator.eval()


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
