"""Convert the authors' trained networks into a layout2im model folder.

``convert_original(generator_file, "coco", out)`` reads the authors' generator state dict (the
released ``netG_coco.pt`` / ``netG_vg.pt`` or a training script's ``iter-N_netG.pkl``), renames
every tensor by the key table (:mod:`.key_table`), loads it into the ``paper-coco64`` /
``paper-vg64`` generator, and writes an ordinary model folder (config.json, model.safetensors,
vocab.json) that every command accepts. With the two discriminators' files too
(``iter-N_netD_image.pkl``, ``iter-N_netD_object.pkl``), it also writes a training checkpoint
``checkpoints/ckpt-<N>.pt`` holding all three networks, from which ``layout2im train --init-from
DIR`` starts (with fresh optimiser state: the training script does not save Adam's moments) and
which ``layout2im average DIR`` reads as a run folder's checkpoint. Nothing is written unless
every file converts; the folder is written beside ``--out`` and renamed into place.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..architectures import get_architecture
from ..config import Config, load_config
from ..errors import short_path
from ..fsutil import atomic_folder
from ..model_folder import check_replaceable_model_folder
from ..models import ImageDiscriminator, ObjectDiscriminator
from ..pipeline import Layout2ImPipeline
from ..training.checkpoint import checkpoint_path
from ..vocab import Vocabulary
from .key_table import generator_keys, image_discriminator_keys, object_discriminator_keys
from .state_files import (
    ConversionError,
    file_sha256,
    iteration_of,
    map_state_dict,
    read_state_dict,
)
from .vocabularies import original_vocabulary

log = logging.getLogger(__name__)

DATASETS = ("coco", "vg")
CHECKPOINTS = "checkpoints"


@dataclass
class ConversionResult:
    out: Path
    config: Config
    vocab: Vocabulary
    parameters: dict[str, int]  # network -> parameter count
    checkpoint: Path | None
    seconds: float


# where a user finds the files this module converts
WHERE_THE_WEIGHTS_ARE = (
    "the authors' trained generators (netG_coco.pt, netG_vg.pt) are linked from the README "
    "of https://github.com/zhaobozb/layout2im"
)


def convert_original(
    generator_file: str | Path,
    dataset: str,
    out: str | Path,
    *,
    vocab_file: str | Path | None = None,
    vg_root: str | Path | None = None,
    image_discriminator_file: str | Path | None = None,
    object_discriminator_file: str | Path | None = None,
) -> ConversionResult:
    """Convert the authors' generator (and optionally both discriminators) of ``dataset``
    (``coco`` or ``vg``) into the model folder ``out``; see the module docstring. Raises
    :class:`ConversionError` naming every problem; nothing is written then."""
    start = time.perf_counter()
    out = Path(out)
    if dataset not in DATASETS:
        raise ConversionError(f"--dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    if (image_discriminator_file is None) != (object_discriminator_file is None):
        raise ConversionError(
            "give both discriminators (the image and the object discriminator's files) or "
            "neither: training continues only from all three networks"
        )
    check_replaceable_model_folder(out, also_allowed=frozenset({CHECKPOINTS}))
    for path in (generator_file, image_discriminator_file, object_discriminator_file):
        if path is not None and not Path(path).is_file():  # before the vocabulary it needs
            raise ConversionError(
                f"{short_path(path)}: {'not a file' if Path(path).exists() else 'no such file'}; "
                f"{WHERE_THE_WEIGHTS_ARE}"
            )
    vocab = original_vocabulary(dataset, vocab_file, vg_root)
    config = load_config(f"paper-{dataset}64")
    m = config.model
    if len(vocab) != m.num_classes:  # pragma: no cover - the vocabularies are checked above
        raise ConversionError(f"the vocabulary has {len(vocab)} rows, the model {m.num_classes}")

    architecture = get_architecture("layout2im")
    generator = architecture.build_generator(m)
    g_state = map_state_dict(
        read_state_dict(generator_file), generator_keys(len(vocab)), f"{generator_file}"
    )
    _load(generator, g_state)
    generator.eval()
    parameters = {"generator": _count(generator)}

    discriminators = None
    if image_discriminator_file is not None:
        image_d = ImageDiscriminator(m.image_disc_channels, m.spectral_norm)
        object_d = ObjectDiscriminator(m.object_disc_channels, m.num_classes, m.spectral_norm)
        _load(
            image_d,
            map_state_dict(
                read_state_dict(image_discriminator_file),
                image_discriminator_keys(),
                f"{image_discriminator_file} (image discriminator)",
            ),
        )
        _load(
            object_d,
            map_state_dict(
                read_state_dict(object_discriminator_file),
                object_discriminator_keys(len(vocab)),
                f"{object_discriminator_file} (object discriminator)",
            ),
        )
        discriminators = (image_d, object_d)
        parameters["image_discriminator"] = _count(image_d)
        parameters["object_discriminator"] = _count(object_d)

    step = iteration_of(generator_file) or 0
    provenance = {
        "converted_from": "the authors' code, zhaobozb/layout2im",
        "dataset": dataset,
        "files": {
            role: {"name": Path(path).name, "sha256": file_sha256(path)}
            for role, path in (
                ("generator", generator_file),
                ("image_discriminator", image_discriminator_file),
                ("object_discriminator", object_discriminator_file),
            )
            if path is not None
        },
        "original_iteration": iteration_of(generator_file),
    }
    pipe = Layout2ImPipeline.for_trained(generator, vocab, config, architecture)

    def fill(folder: Path) -> None:
        pipe.save_pretrained(folder, provenance=provenance)
        if discriminators is not None:
            image_d, object_d = discriminators
            state = {
                "step": step,
                "models": {
                    "generator": generator.state_dict(),
                    "image_d": image_d.state_dict(),
                    "object_d": object_d.state_dict(),
                },
                "config": config.model_dump(),
                "vocab": vocab.names,
                "provenance": provenance,
            }
            path = checkpoint_path(folder / CHECKPOINTS, step)
            path.parent.mkdir()
            torch.save(state, path)

    with atomic_folder(out) as tmp:
        fill(tmp)
    checkpoint = checkpoint_path(out / CHECKPOINTS, step) if discriminators else None
    seconds = time.perf_counter() - start
    log.info("converted %s into %s in %.1f s", generator_file, out, seconds)
    return ConversionResult(out, config, vocab, parameters, checkpoint, seconds)


def _load(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a mapped state dict; the optional tensors the file lacked (``num_batches_tracked``)
    keep the new module's values."""
    module.load_state_dict({**module.state_dict(), **state}, strict=True)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
