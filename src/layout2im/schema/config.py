"""The experiment config: typed sections with bounds, checked when built.

A config has three parts: ``model`` (architecture, saved with every exported model so a
checkpoint rebuilds with no extra flags), ``data`` (which dataset and how it is filtered, with
the ``data.coco`` and ``data.vg`` sections) and ``train`` (optimisation, losses, logging).
Every section is a strict pydantic model (see :mod:`.base`): building one from a dict or from
keyword arguments checks every type and bound and raises :class:`ConfigError` naming each
problem's key and value (``model.z_dim must be an integer, got 'a'``).

Sections are plain objects afterwards: attributes can be set (``config.train.steps = 5``);
``validate()`` checks the current values again. Copies are ``model_copy(update=...)`` and the
plain form is ``model_dump()``.

Keys renamed since earlier versions (:data:`RENAMED_KEYS`, the flat ``data.vg_*`` and COCO
keys) are read under their new name with a warning; :data:`IGNORED_KEYS` are dropped with a
warning. Dataset names are not checked here but where datasets are built
(:mod:`layout2im.data.registry`), so validating a config imports no data code.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from typing_extensions import Self

from ..errors import Layout2ImError, quote
from ..threads import MAX_THREADS
from .base import StrictModel, close_match, describe, field_at, model_class, problem

log = logging.getLogger("layout2im.config")


class ConfigError(Layout2ImError, ValueError):
    """A config file, preset name or override is invalid; the message names the key."""


# Bounds every config is checked against before any network is built, so that a typo or a
# hostile model folder cannot ask for terabytes (the paper's largest value is in brackets).
MAX_IMAGE_SIZE = 1024  # (64)
MAX_CHANNELS = 2048  # per layer (1024)
MAX_STAGES = 8  # entries of a channel list (5)
MAX_VECTOR_DIM = 4096  # z_dim, embedding_dim (64)
MAX_CLASSES = 65536  # embedding rows (184)
MAX_RES_BLOCKS = 32  # decoder residual blocks (6)
MAX_FUSER_KERNEL = 15  # (5)
MAX_LAYOUT_OBJECTS = 128  # objects per layout (8 COCO, 30 VG)
MAX_BATCH_SIZE = 4096  # (8)

SPECTRAL_NORMS = ("classic", "modern")
RESCALE_MODES = ("clamp", "minmax")
LR_RULES = ("none", "linear", "sqrt")
# "auto": bf16 autocast where the device runs it fast (layout2im.hardware.bf16_is_fast), else
# float32; resolved when training starts and recorded resolved in the run's config.yaml and log
AMP_MODES = ("off", "bf16", "auto")

# Keys of older configs and checkpoints -> their current name; read with a warning.
RENAMED_KEYS = {
    **{
        f"data.{key}": f"data.coco.{key}"
        for key in (
            "stuff_only",
            "min_box_area",
            "include_other",
            "drop_crowd",
            "instances_json",
            "stuff_json",
            "val_instances_json",
            "val_stuff_json",
            "val_fraction",
        )
    },
    **{
        f"data.vg_{key}": f"data.vg.{key}"
        for key in (
            "splits_json",
            "object_aliases",
            "relationship_aliases",
            "min_image_side",
            "min_category_count",
            "min_box_side",
            "min_predicate_count",
            "min_relationships",
            "max_relationships",
            "max_objects_used",
        )
    },
}

# Keys that configs and checkpoints may still hold and that no longer do anything: they are
# dropped with a warning. Key -> what happens instead.
IGNORED_KEYS = {
    "train.batch_discriminator_calls": "each discriminator is called once per input, except in "
    "distributed runs, which batch the calls (DDP synchronises one forward per backward)",
}


def _yaml_word(value: Any) -> Any:
    # YAML 1.1 reads an unquoted off/on/no/yes as a boolean (train.amp=off)
    if isinstance(value, bool):
        return "on" if value else "off"
    return value


Text = Annotated[str, BeforeValidator(_yaml_word)]
"""A string; a YAML boolean written for it (``off``) reads as ``"off"``/``"on"``."""


def _word(*choices: str) -> Any:
    return Annotated[Literal[choices], BeforeValidator(_yaml_word)]  # type: ignore[valid-type]


def _channel_list(values: list[int]) -> list[int]:
    if not (1 <= len(values) <= MAX_STAGES and all(1 <= v <= MAX_CHANNELS for v in values)):
        raise problem(
            f"must be a list of 1 to {MAX_STAGES} channel counts between 1 and "
            f"{MAX_CHANNELS}, got {quote(values)}"
        )
    return values


Channels = Annotated[list[int], AfterValidator(_channel_list)]


def _between(low: int, high: int, default: int) -> Any:
    return Field(default, ge=low, le=high)


class Section(StrictModel):
    """A config section: ``KEY`` is where it sits in a :class:`Config` (``data.vg``)."""

    KEY: ClassVar[str] = ""

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error(exc, type(self)) from None

    # Nested sections are validated by pydantic's core, not through this __init__: marked as
    # the base one (as pydantic's RootModel does), a problem inside ``data.vg`` is reported
    # once under its full key instead of being wrapped by each enclosing section.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def from_data(cls, data: Any) -> Self:
        """The section built from ``data`` (a mapping); :class:`ConfigError` names each
        problem."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise config_error(exc, cls) from None

    def validate(self) -> Self:  # type: ignore[override]
        """Check the current values again (after attributes were set); returns ``self``."""
        type(self).from_data(self.model_dump(warnings=False))
        return self

    @model_validator(mode="before")
    @classmethod
    def _current_keys(cls, data: Any) -> Any:
        """Renamed keys moved to their current place, ignored keys dropped (each with a
        warning), tuples read as lists; the caller's mapping is left as it was."""
        if not isinstance(data, dict):
            return data
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
        prefix = f"{cls.KEY}." if cls.KEY else ""
        for key in list(out):
            full = f"{prefix}{key}"
            if full in IGNORED_KEYS:
                log.warning("config key %s is ignored: %s", full, IGNORED_KEYS[full])
                del out[key]
            elif full in RENAMED_KEYS:
                new = RENAMED_KEYS[full]
                section, name = new[len(prefix) :].rsplit(".", 1)
                inner = out.get(section)
                inner = dict(inner) if isinstance(inner, dict) else {}
                if name in inner:
                    raise problem(
                        f"is the old name of {new}; give only {new}", field=key, value=out[key]
                    )
                log.warning("config key %s is now %s (read under its new name)", full, new)
                inner[name] = out.pop(key)
                out[section] = inner
        return out


class ModelConfig(Section):
    """Architecture of the generator and both discriminators.

    Channel lists set depth as well as width: the crop encoder has ``len(crop_encoder_channels)
    - 1`` stride-2 convolutions, the object encoder and decoder ``len(object_encoder_channels) -
    1`` down / up steps, and each discriminator ``len(*_disc_channels)`` residual blocks.
    """

    KEY: ClassVar[str] = "model"

    image_size: int = _between(8, MAX_IMAGE_SIZE, 64)
    crop_size: int = Field(32, ge=4)  # and at most image_size
    z_dim: int = _between(1, MAX_VECTOR_DIM, 64)
    embedding_dim: int = _between(1, MAX_VECTOR_DIM, 64)
    # category rows (vocabulary size); null: read from the data when training starts
    num_classes: int | None = _between(1, MAX_CLASSES, 184)
    crop_encoder_channels: Channels = Field(default_factory=lambda: [64, 128, 256, 512, 1024])
    object_encoder_channels: Channels = Field(default_factory=lambda: [64, 128, 256, 512])
    fuser_hidden: Channels = Field(default_factory=lambda: [128, 64, 64])
    fuser_kernel: int = _between(1, MAX_FUSER_KERNEL, 5)
    decoder_res_blocks: int = _between(0, MAX_RES_BLOCKS, 6)
    decoder_channels: Channels = Field(default_factory=lambda: [256, 256, 128, 64])
    image_disc_channels: Channels = Field(default_factory=lambda: [64, 128, 256, 512, 1024])
    object_disc_channels: Channels = Field(default_factory=lambda: [64, 128, 256, 512, 1024])
    # the discriminators' spectral-norm iteration order: "classic" (the authors' code and
    # Miyato et al.: v from u, then u from v, no warm-up) or "modern" (PyTorch's
    # parametrization: u first, 15 warm-up iterations); see layout2im.models.spectral_norm
    spectral_norm: _word(*SPECTRAL_NORMS) = "modern"
    # how generated images become pixels by default (CLI, pipeline, editor): "clamp"
    # de-normalises and clamps; "minmax" de-normalises, then stretches each image to its own
    # min..max, as the authors' test.py saved images (see layout2im.visualize)
    output_rescale: _word(*RESCALE_MODES) = "clamp"

    @model_validator(mode="after")
    def _shapes_fit(self) -> Self:
        if self.crop_size > self.image_size:
            raise problem(
                f"must be between 4 and model.image_size ({self.image_size}), "
                f"got {quote(self.crop_size)}",
                field="crop_size",
            )
        if self.fuser_kernel % 2 != 1:
            raise problem(f"must be odd, got {self.fuser_kernel}", field="fuser_kernel")
        downs = len(self.object_encoder_channels) - 1
        ups = len(self.decoder_channels) - 1
        if downs != ups:
            raise problem(
                f"has {ups} upsampling steps but the object encoder downsamples {downs} times",
                field="decoder_channels",
            )
        if self.layout_feature_size() * 2**ups != self.image_size:
            raise problem(
                f"({self.image_size}) is not reproduced by {downs} stride-2 steps of the object "
                f"encoder and {ups} upsampling steps of the decoder; use a multiple of {2**downs}",
                field="image_size",
            )
        return self

    def layout_feature_size(self) -> int:
        """Spatial size of the object encoder output (8 for 64x64 images: 66->33->16->8)."""
        size = self.image_size + 2  # the 1x1 conv with padding=1 of the original
        for _ in range(len(self.object_encoder_channels) - 1):
            size = (size + 2 - 4) // 2 + 1
        return size


class CocoConfig(Section):
    """COCO-Stuff and COCO-format filters (the paper's values) and the COCO-format files.

    Paths are relative to ``data.root``. Without ``val_instances_json`` the val split is
    ``val_fraction`` of the images (chosen by a hash of the image id), or none.
    """

    KEY: ClassVar[str] = "data.coco"

    stuff_only: bool = True  # only images with stuff annotations (off without a stuff JSON)
    min_box_area: float = Field(0.02, ge=0, lt=1)  # drop boxes covering at most this fraction
    include_other: bool = False  # keep COCO-Stuff's 'other' category (id 183)
    drop_crowd: bool = False  # drop iscrowd boxes (the paper keeps them)
    instances_json: Text | None = None
    stuff_json: Text | None = None
    val_instances_json: Text | None = None
    val_stuff_json: Text | None = None
    val_fraction: float = Field(0.0, ge=0, lt=1)


class VgConfig(Section):
    """Visual Genome: sg2im's preprocessing (its values by default) and files.

    Paths are relative to ``data.root``; ``splits_json`` defaults to sg2im's split, shipped
    with the package. See :mod:`layout2im.data.vg` for what each rule does.
    """

    KEY: ClassVar[str] = "data.vg"

    splits_json: Text | None = None
    object_aliases: Text | None = "object_alias.txt"
    relationship_aliases: Text | None = "relationship_alias.txt"
    min_image_side: int = Field(200, ge=0)
    min_category_count: int = Field(2000, ge=0)
    min_box_side: int = Field(32, ge=0)
    min_predicate_count: int = Field(500, ge=0)
    min_relationships: int = Field(1, ge=0)
    max_relationships: int = Field(30, ge=0)  # and at least min_relationships
    max_objects_used: int = Field(9, ge=1)  # objects per training item: in relationships first

    @model_validator(mode="after")
    def _relationship_range(self) -> Self:
        if self.max_relationships < self.min_relationships:
            raise problem(
                f"must be >= data.vg.min_relationships ({self.min_relationships}), "
                f"got {self.max_relationships}",
                field="max_relationships",
            )
        return self


class DataConfig(Section):
    """Which dataset to train on and how it is filtered (defaults: the paper's values).

    ``shapes`` is built in and needs no files (``num_images``, ``seed``). ``coco`` (COCO-Stuff
    2017), ``vg`` (Visual Genome) and ``coco-format`` (your own data) read files under
    ``root``; relative paths are relative to ``root``. ``min_objects`` / ``max_objects`` bound
    the objects per image (the paper: 3..8 on COCO, 3..30 on VG). ``coco`` and ``vg`` hold
    each family's own settings. See ``docs/datasets.md``.
    """

    KEY: ClassVar[str] = "data"

    name: Text = "shapes"  # a registered dataset (layout2im.data.registry)
    root: Text | None = None
    num_images: int = Field(20000, ge=1)
    seed: int = 0
    min_objects: int = Field(3, ge=1)
    max_objects: int = _between(1, MAX_LAYOUT_OBJECTS, 8)  # and at least min_objects
    num_workers: int = Field(0, ge=0)
    # where dataset indexes are cached: <root>/.layout2im-cache, or ~/.cache/layout2im when
    # the root cannot be written (a relative path here is relative to the working directory)
    cache_dir: Text | None = None
    on_bad_image: _word("error", "skip") = "error"  # a missing/unreadable image: next or stop
    # the images (default: found under root); the val images of coco and coco-format
    image_dir: Text | None = None
    val_image_dir: Text | None = None
    coco: CocoConfig = Field(default_factory=CocoConfig)
    vg: VgConfig = Field(default_factory=VgConfig)

    @model_validator(mode="after")
    def _object_range(self) -> Self:
        if self.max_objects < self.min_objects:
            raise problem(
                f"must be >= data.min_objects ({self.min_objects}), got {self.max_objects}",
                field="max_objects",
            )
        return self


class DatasetSettings(Section):
    """A dataset family's section (``data.coco``, ``data.vg``) joined with ``data.min_objects``
    and ``data.max_objects``: what the family's index is built from. Frozen, since
    :meth:`index_settings` is part of the index's cache key."""

    model_config = ConfigDict(frozen=True)

    # keys that name files (the cache key holds the files themselves) or that are used after
    # the index is built; they do not shape the index
    SOURCE_KEYS: ClassVar[frozenset[str]] = frozenset()

    min_objects: int = Field(3, ge=1)
    max_objects: int = Field(8, ge=1)

    @classmethod
    def of(cls, data: DataConfig) -> Self:
        """The settings of ``data`` for this family."""
        section = getattr(data, cls.KEY.rpartition(".")[2])
        bounds = {"min_objects": data.min_objects, "max_objects": data.max_objects}
        return cls.from_data({**section.model_dump(), **bounds})

    def index_settings(self) -> dict[str, Any]:
        """The values that shape the index (its cache key and its recorded settings)."""
        return self.model_dump(exclude=set(self.SOURCE_KEYS))


class LossConfig(Section):
    """Loss weights (the paper's values as defaults) and the adversarial loss form."""

    KEY: ClassVar[str] = "train.loss"

    gan: _word("bce", "hinge") = "bce"
    img_rec: float = Field(1.0, ge=0)
    z_rec: float = Field(10.0, ge=0)
    kl: float = Field(0.01, ge=0)
    img_adv: float = Field(1.0, ge=0)
    obj_adv: float = Field(1.0, ge=0)
    obj_cls: float = Field(1.0, ge=0)


class TrainConfig(Section):
    """Optimisation, distribution, logging and checkpointing.

    ``batch_size`` is the global batch: with N processes each takes ``batch_size / N``. The
    learning rate used is ``lr`` scaled by ``lr_rule`` applied to ``batch_size / lr_base_batch``
    (``none`` keeps ``lr``); both are printed when training starts.
    """

    KEY: ClassVar[str] = "train"

    batch_size: int = _between(2, MAX_BATCH_SIZE, 8)  # at least 2: BatchNorm
    steps: int = Field(300_000, ge=0)
    lr: float = Field(1e-4, gt=0)
    lr_rule: _word(*LR_RULES) = "none"
    lr_base_batch: int = Field(8, ge=1)
    beta1: float = Field(0.5, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    seed: int = 0
    device: Text = "auto"
    loss: LossConfig = Field(default_factory=LossConfig)
    reuse_generator_forward: bool = False
    channels_last: bool = False
    amp: _word(*AMP_MODES) = "off"
    # pad every layout to data.max_objects slots so each step has the same shapes (for CUDA
    # graphs / compilers); the same training, padding enters no statistic
    static_shapes: bool = False
    # CUDA only: the whole iteration captured once and replayed as one CUDA graph (needs
    # static_shapes and one process); cudnn.benchmark picks convolution kernels by timing
    cuda_graphs: bool = False
    cudnn_benchmark: bool = False
    sync_batchnorm: bool = False
    deterministic: bool = False
    # CPU threads of each process (torch intra-op); null: OMP_NUM_THREADS when set, else
    # one per core but one (layout2im.threads; benchmarks/results/threads-cpu.md)
    threads: int | None = Field(None, ge=1, le=MAX_THREADS)
    log_every: int = Field(10, ge=1)
    sample_every: int = Field(1000, ge=1)
    checkpoint_every: int = Field(1000, ge=1)
    keep_checkpoints: int = Field(3, ge=1)
    num_sample_layouts: int = _between(1, 64, 8)
    tensorboard: bool = True
    # periodic evaluation through the metric registry (0 = off); the best model by
    # ``best_metric`` ("<metric>.<value>", e.g. "fid-shapes.fid_shapes") is kept in model-best/
    eval_every: int = Field(0, ge=0)
    eval_protocol: Text | None = None
    eval_metrics: list[Text] = Field(default_factory=list)
    eval_num_images: int = Field(256, ge=2)
    best_metric: Text | None = None
    best_mode: _word("min", "max") = "min"

    @model_validator(mode="after")
    def _switches_fit(self) -> Self:
        if self.static_shapes and self.sync_batchnorm:
            raise problem(
                "does not work with train.sync_batchnorm (its statistics span processes)",
                field="static_shapes",
            )
        if self.cuda_graphs and not self.static_shapes:
            raise problem(
                "needs train.static_shapes=true (a graph replays fixed shapes)",
                field="cuda_graphs",
            )
        if self.best_metric is not None and "." not in self.best_metric:
            raise problem(
                "must look like <metric>.<value>, e.g. fid-shapes.fid_shapes, "
                f"got {quote(self.best_metric)}",
                field="best_metric",
            )
        return self

    def effective_lr(self) -> float:
        ratio = self.batch_size / self.lr_base_batch
        return self.lr * {"none": 1.0, "linear": ratio, "sqrt": ratio**0.5}[self.lr_rule]


class Config(Section):
    """A complete experiment: ``name`` labels run folders."""

    name: Text = "custom"
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)


# ----------------------------------------------------------------------------- messages


def config_keys(section: type[Section] = Config) -> list[str]:
    """Every dotted key of ``section`` (``train.loss.gan``, ...), in declaration order."""
    keys = []
    prefix = f"{section.KEY}." if section.KEY else ""
    for name, info in section.model_fields.items():
        inner = model_class(info.annotation)
        if inner is not None and issubclass(inner, Section):
            keys.extend(config_keys(inner))
        else:
            keys.append(prefix + name)
    return keys


def unknown_key_message(key: str, known: list[str]) -> str:
    """``unknown config key 'train.batchsize'; did you mean train.batch_size?``: ``known`` are
    the keys valid at that place (e.g. the other keys of ``train``)."""
    parent, _, name = key.rpartition(".")
    names = [k.rpartition(".")[2] for k in known]
    match = close_match(name, names)
    if match is not None:
        return f"unknown config key {quote(key)}; did you mean {_join(parent, match)}?"
    anywhere = close_match(key, config_keys())
    if anywhere is not None:
        return f"unknown config key {quote(key)}; did you mean {anywhere}?"
    return f"unknown config key {quote(key)}; valid keys here: {', '.join(sorted(set(names)))}"


def _join(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _key(root: type[Section], loc: tuple[str | int, ...]) -> str:
    key = root.KEY
    for part in loc:
        key = f"{key}[{part}]" if isinstance(part, int) else _join(key, part)
    return key or "config"


def config_error(exc: ValidationError, root: type[Section]) -> ConfigError:
    """One :class:`ConfigError` listing every problem pydantic found (``; ``-separated), each
    naming its full key (``model.z_dim``) and the value given."""
    messages = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            parent = field_at(root, loc[:-1]) if loc[:-1] else None
            section = model_class(parent.annotation) if parent is not None else root
            known = [] if section is None else list(section.model_fields)
            messages.append(unknown_key_message(_key(root, loc), known))
            continue
        ctx = error.get("ctx") or {}
        if error["type"] == "problem" and "field" in ctx:
            loc = (*loc, ctx["field"])
        messages.append(f"{_key(root, loc)} {describe(error, field_at(root, loc))}")
    return ConfigError("; ".join(dict.fromkeys(messages)))
