"""The bounds of every command-line option that sets a size or a count, in one place.

Each is a ``(low, high)`` pair of integers (``high`` None: no upper bound, because the value
only selects from something already bounded, such as a dataset split). The options are added
with :func:`layout2im.cli.options.add_int`, so each bound is checked before the command runs:
before any file is read, any folder made or anything allocated. docs/security.md lists them.
Where a bound is a config key's, it is that key's constant (:mod:`layout2im.schema.config`).
"""

from __future__ import annotations

from ..schema.config import MAX_BATCH_SIZE, MAX_CHANNELS, MAX_IMAGE_SIZE, MAX_STAGES
from ..schema.layout import MAX_SAMPLES

Bound = tuple[int, int | None]

IMAGE_SIZE: Bound = (8, MAX_IMAGE_SIZE)
"""Image sides (``data export-shapes --size``, ``evaluate --image-size``,
``evaluate train-classifier --input-size``): ``model.image_size``'s bounds."""

GENERATE_SAMPLES: Bound = (1, MAX_SAMPLES)
"""``generate --samples``: one batch of that many images, the pipeline's own bound
(:data:`layout2im.schema.layout.MAX_SAMPLES`)."""

DEMO_SAMPLES: Bound = (1, 64)
"""``demo --samples``: samples per example layout (one grid row each)."""

EXPORT_IMAGES: Bound = (1, 1_000_000)
"""``data export-shapes --images``: the shapes dataset's ``SEED_STRIDE`` (scene seeds of
dataset seed s are s * 1,000,000 + index, so datasets of different seeds never share a
scene); tests/test_size_options.py checks the two agree."""

EVAL_NUM_IMAGES: Bound = (2, None)
"""``evaluate [run|images] --num-images``: statistics need two images; a value above the
split's size takes the whole split."""

LAYOUTS_NUM_IMAGES: Bound = (1, None)
"""``evaluate layouts --num-images``; a value above the split's size takes the whole split."""

BATCH_SIZE: Bound = (1, MAX_BATCH_SIZE)
"""``evaluate --batch-size``: images per forward pass, ``train.batch_size``'s upper bound."""

CLASSIFIER_BATCH_SIZE: Bound = (2, MAX_BATCH_SIZE)
"""``evaluate train-classifier --batch-size``: ``train.batch_size``'s bounds (BatchNorm needs
two)."""

VAL_IMAGES: Bound = (1, None)
"""``evaluate train-classifier --val-images``; a value above the split's size takes the
whole split."""

CHANNELS: Bound = (1, MAX_CHANNELS)
"""``evaluate train-classifier --stem-channels`` and each ``--widths`` entry: a config
channel list's bounds."""

STAGES: Bound = (1, MAX_STAGES)
"""How many ``--widths`` entries ``evaluate train-classifier`` takes."""

PROCESSES: Bound = (1, 64)
"""``train --nproc``: training processes started on this machine."""

PORT: Bound = (0, 65535)
"""``serve --port`` (0 picks a free one)."""

MASTER_PORT: Bound = (1, 65535)
"""``train --master-port`` (leaving it out picks a free one)."""


def describe(bound: Bound) -> str:
    """``bound`` in words, as the errors and docs give it: ``between 1 and 256``, ``at least
    2``."""
    low, high = bound
    return f"at least {low}" if high is None else f"between {low} and {high}"
