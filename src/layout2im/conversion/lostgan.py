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

The folder records the data of the authors' test loaders (:func:`authors_data`), which
``evaluate --model`` reads: their preprocessing is sg2im's, which the ``paper-coco64`` /
``paper-vg64`` data sections are, and their Visual Genome test loader
(``VgSceneGraphDataset(max_objects=30)``) takes up to 29 objects per layout, those in a
relationship first, then the others (``data.vg.max_objects_used: 29``; ``paper-vg64`` keeps
Layout2Im's 9). One case differs: an image whose 30 objects are all in relationships gets all
30 from their loader (which samples ``max_objects`` = 30 of the related objects when more than
29 are) and 29 here.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..architectures import get_architecture
from ..config import apply_overrides, load_config
from ..fsutil import atomic_folder
from ..model_folder import check_replaceable_model_folder, trained_data
from ..models.lostgan import LostGANConfig, LostGANGenerator
from ..pipeline import Layout2ImPipeline
from ..schema.model_folder import TrainedData
from .convert import ConversionResult
from .lostgan_keys import lostgan_generator_keys, resolution_of, widths_of
from .state_files import ConversionError, file_sha256, map_state_dict, read_state_dict
from .vocabularies import original_vocabulary

log = logging.getLogger(__name__)

ARCHITECTURE = "lostgan-v2"

DATASET_NAMES = {"coco": "COCO-Stuff", "vg": "Visual Genome"}

#: Objects per layout of the authors' Visual Genome test loader: their ``test.py`` builds
#: ``VgSceneGraphDataset(max_objects=30)``, which fills ``max_objects - 1`` slots with objects,
#: the next with ``__image__`` and pads to 31.
AUTHORS_VG_OBJECTS = 29


def authors_data(dataset: str) -> TrainedData:
    """The data the authors' test loader of ``dataset`` (``coco`` or ``vg``) reads: the data
    section of ``paper-<dataset>64``, with Visual Genome's objects per layout at
    :data:`AUTHORS_VG_OBJECTS` (see the module docstring)."""
    config = load_config(f"paper-{dataset}64")
    if dataset == "vg":
        config = apply_overrides(config, [f"data.vg.max_objects_used={AUTHORS_VG_OBJECTS}"])
    return trained_data(config)


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


def convert_lostgan(
    generator_file: str | Path,
    dataset: str,
    out: str | Path,
    *,
    vocab_file: str | Path | None = None,
    vg_root: str | Path | None = None,
) -> ConversionResult:
    """Convert the authors' LostGAN-v2 generator of ``dataset`` (``coco`` or ``vg``) into the
    model folder ``out`` (architecture ``lostgan-v2``; the resolution read from the file).
    Raises :class:`ConversionError` naming every problem; nothing is written then."""
    start = time.perf_counter()
    out = Path(out)
    check_replaceable_model_folder(out)
    vocab = original_vocabulary(dataset, vocab_file, vg_root)
    generator = read_lostgan_generator(generator_file, dataset)
    config = generator.config
    provenance = {
        "converted_from": "the authors' code, WillSuen/LostGANs",
        "dataset": dataset,
        "resolution": config.resolution,
        "files": {
            "generator": {"name": Path(generator_file).name, "sha256": file_sha256(generator_file)}
        },
    }
    data = authors_data(dataset)  # evaluate --model reads it from the folder
    pipe = Layout2ImPipeline(
        generator, vocab, max_objects=config.max_real_objects, architecture=ARCHITECTURE, data=data
    )
    with atomic_folder(out) as tmp:
        pipe.save_pretrained(tmp, provenance=provenance)
    seconds = time.perf_counter() - start
    log.info("converted %s into %s in %.1f s", generator_file, out, seconds)
    parameters = get_architecture(ARCHITECTURE).parameter_counts(config)
    return ConversionResult(out, config, vocab, parameters, None, seconds)
