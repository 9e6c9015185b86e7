"""Typed configuration: nested dataclasses, YAML presets, dotted overrides, validation.

A config has three parts: ``model`` (architecture, saved with every exported model so a
checkpoint rebuilds with no extra flags), ``data`` (which dataset and how it is filtered) and
``train`` (optimisation, losses, logging). Presets live in ``configs/*.yaml`` inside the package;
``load_config("shapes32")`` reads one, ``load_config("my.yaml")`` reads a file, and
``apply_overrides(cfg, ["train.steps=100"])`` sets dotted keys with type checks.
"""

from __future__ import annotations

import dataclasses
import logging
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import Layout2ImError, quote, short

log = logging.getLogger(__name__)


class ConfigError(Layout2ImError, ValueError):
    """A config file, preset name or override is invalid; the message names the key."""


SPECTRAL_NORMS = ("classic", "modern")
RESCALE_MODES = ("clamp", "minmax")
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


@dataclass
class ModelConfig:
    """Architecture of the generator and both discriminators.

    Channel lists set depth as well as width: the crop encoder has ``len(crop_encoder_channels)
    - 1`` stride-2 convolutions, the object encoder and decoder ``len(object_encoder_channels) -
    1`` down / up steps, and each discriminator ``len(*_disc_channels)`` residual blocks.
    """

    image_size: int = 64
    crop_size: int = 32
    z_dim: int = 64
    embedding_dim: int = 64
    num_classes: int = 184
    crop_encoder_channels: list[int] = field(default_factory=lambda: [64, 128, 256, 512, 1024])
    object_encoder_channels: list[int] = field(default_factory=lambda: [64, 128, 256, 512])
    fuser_hidden: list[int] = field(default_factory=lambda: [128, 64, 64])
    fuser_kernel: int = 5
    decoder_res_blocks: int = 6
    decoder_channels: list[int] = field(default_factory=lambda: [256, 256, 128, 64])
    image_disc_channels: list[int] = field(default_factory=lambda: [64, 128, 256, 512, 1024])
    object_disc_channels: list[int] = field(default_factory=lambda: [64, 128, 256, 512, 1024])
    # the discriminators' spectral-norm iteration order: "classic" (the authors' code and
    # Miyato et al.: v from u, then u from v, no warm-up) or "modern" (PyTorch's
    # parametrization: u first, 15 warm-up iterations); see layout2im.models.spectral_norm
    spectral_norm: str = "modern"
    # how generated images become pixels by default (CLI, pipeline, editor): "clamp"
    # de-normalises and clamps; "minmax" de-normalises, then stretches each image to its own
    # min..max, as the authors' test.py saved images (see layout2im.visualize)
    output_rescale: str = "clamp"

    def validate(self) -> None:
        _within(self.image_size, 8, MAX_IMAGE_SIZE, "model.image_size")
        _within(self.crop_size, 4, self.image_size, "model.crop_size")
        _within(self.z_dim, 1, MAX_VECTOR_DIM, "model.z_dim")
        _within(self.embedding_dim, 1, MAX_VECTOR_DIM, "model.embedding_dim")
        _within(self.num_classes, 1, MAX_CLASSES, "model.num_classes")
        _within(self.decoder_res_blocks, 0, MAX_RES_BLOCKS, "model.decoder_res_blocks")
        _within(self.fuser_kernel, 1, MAX_FUSER_KERNEL, "model.fuser_kernel")
        _require(
            self.spectral_norm in SPECTRAL_NORMS,
            "model.spectral_norm",
            f"must be one of {', '.join(SPECTRAL_NORMS)} (got {quote(self.spectral_norm)})",
        )
        _require(
            self.output_rescale in RESCALE_MODES,
            "model.output_rescale",
            f"must be one of {', '.join(RESCALE_MODES)} (got {quote(self.output_rescale)})",
        )
        _require(self.fuser_kernel % 2 == 1, "model.fuser_kernel", "must be odd")
        for name in (
            "crop_encoder_channels",
            "object_encoder_channels",
            "fuser_hidden",
            "decoder_channels",
            "image_disc_channels",
            "object_disc_channels",
        ):
            values = getattr(self, name)
            _require(
                1 <= len(values) <= MAX_STAGES and all(1 <= v <= MAX_CHANNELS for v in values),
                f"model.{name}",
                f"must be a list of 1 to {MAX_STAGES} channel counts between 1 and "
                f"{MAX_CHANNELS}, got {quote(values)}",
            )
        downs = len(self.object_encoder_channels) - 1
        ups = len(self.decoder_channels) - 1
        _require(
            downs == ups,
            "model.decoder_channels",
            f"has {ups} upsampling steps but the object encoder downsamples {downs} times",
        )
        if self.layout_feature_size() * 2**ups != self.image_size:
            raise ConfigError(
                f"model.image_size={self.image_size} is not reproduced by {downs} stride-2 steps "
                f"of the object encoder and {ups} upsampling steps of the decoder; use a "
                f"multiple of {2**downs}"
            )

    def layout_feature_size(self) -> int:
        """Spatial size of the object encoder output (8 for 64x64 images: 66->33->16->8)."""
        size = self.image_size + 2  # the 1x1 conv with padding=1 of the original
        for _ in range(len(self.object_encoder_channels) - 1):
            size = (size + 2 - 4) // 2 + 1
        return size


@dataclass
class DataConfig:
    """Which dataset to train on and how it is filtered (defaults: the paper's values).

    ``shapes`` is built in and needs no files (``num_images``, ``seed``). ``coco`` (COCO-Stuff
    2017), ``vg`` (Visual Genome) and ``coco-format`` (your own data) read files under
    ``root``; relative paths in the keys below are relative to ``root``. ``min_objects`` /
    ``max_objects`` bound the objects per image (the paper: 3..8 on COCO, 3..30 on VG).
    See ``docs/datasets.md``.
    """

    name: str = "shapes"
    root: str | None = None
    num_images: int = 20000
    seed: int = 0
    min_objects: int = 3
    max_objects: int = 8
    num_workers: int = 0
    # where dataset indexes are cached: <root>/.layout2im-cache, or ~/.cache/layout2im when
    # the root cannot be written (a relative path here is relative to the working directory)
    cache_dir: str | None = None
    on_bad_image: str = "error"  # a missing/unreadable image: "error" or "skip" (next image)
    # COCO-Stuff / COCO-format filters
    stuff_only: bool = True  # only images with stuff annotations (off without a stuff JSON)
    min_box_area: float = 0.02  # drop boxes covering at most this fraction of the image
    include_other: bool = False  # keep COCO-Stuff's 'other' category (id 183)
    drop_crowd: bool = False  # drop iscrowd boxes (the paper keeps them)
    # COCO-format files; images default to root; without val_instances_json the val split is
    # val_fraction of the images (chosen by a hash of the image id), or none
    instances_json: str | None = None
    stuff_json: str | None = None
    image_dir: str | None = None
    val_instances_json: str | None = None
    val_stuff_json: str | None = None
    val_image_dir: str | None = None
    val_fraction: float = 0.0
    # Visual Genome: sg2im's preprocessing
    vg_splits_json: str | None = None  # default: sg2im's split, shipped with the package
    vg_object_aliases: str | None = "object_alias.txt"
    vg_relationship_aliases: str | None = "relationship_alias.txt"
    vg_min_image_side: int = 200
    vg_min_category_count: int = 2000
    vg_min_box_side: int = 32
    vg_min_predicate_count: int = 500
    vg_min_relationships: int = 1
    vg_max_relationships: int = 30
    vg_max_objects_used: int = 9  # objects per training item: in relationships first

    def validate(self) -> None:
        from .data.registry import dataset_names  # here: the data package imports this one

        names = dataset_names()
        _require(
            self.name in names,
            "data.name",
            f"must be one of {', '.join(names)} (got {quote(self.name)})",
        )
        _require(self.num_images >= 1, "data.num_images", "must be positive")
        _require(self.min_objects >= 1, "data.min_objects", "must be at least 1")
        _within(self.max_objects, 1, MAX_LAYOUT_OBJECTS, "data.max_objects")
        _require(
            self.max_objects >= self.min_objects,
            "data.max_objects",
            "must be >= data.min_objects",
        )
        _require(self.num_workers >= 0, "data.num_workers", "must be >= 0")
        _require(
            self.on_bad_image in ("error", "skip"),
            "data.on_bad_image",
            f"must be 'error' or 'skip' (got {quote(self.on_bad_image)})",
        )
        _require(0 <= self.min_box_area < 1, "data.min_box_area", "must be in [0, 1)")
        _require(0 <= self.val_fraction < 1, "data.val_fraction", "must be in [0, 1)")
        for key in (
            "vg_min_image_side",
            "vg_min_category_count",
            "vg_min_box_side",
            "vg_min_predicate_count",
            "vg_min_relationships",
        ):
            _require(getattr(self, key) >= 0, f"data.{key}", "must be >= 0")
        _require(
            self.vg_max_relationships >= self.vg_min_relationships,
            "data.vg_max_relationships",
            "must be >= data.vg_min_relationships",
        )
        _require(self.vg_max_objects_used >= 1, "data.vg_max_objects_used", "must be >= 1")


@dataclass
class LossConfig:
    """Loss weights (the paper's values as defaults) and the adversarial loss form."""

    gan: str = "bce"
    img_rec: float = 1.0
    z_rec: float = 10.0
    kl: float = 0.01
    img_adv: float = 1.0
    obj_adv: float = 1.0
    obj_cls: float = 1.0

    def validate(self) -> None:
        _require(self.gan in ("bce", "hinge"), "train.loss.gan", "must be 'bce' or 'hinge'")
        for f in dataclasses.fields(self):
            if f.name != "gan":
                _require(getattr(self, f.name) >= 0, f"train.loss.{f.name}", "must be >= 0")


LR_RULES = ("none", "linear", "sqrt")
# "auto": bf16 autocast where the device runs it fast (layout2im.hardware.bf16_is_fast), else
# float32; resolved when training starts and recorded resolved in the run's config.yaml and log
AMP_MODES = ("off", "bf16", "auto")


@dataclass
class TrainConfig:
    """Optimisation, distribution, logging and checkpointing.

    ``batch_size`` is the global batch: with N processes each takes ``batch_size / N``. The
    learning rate used is ``lr`` scaled by ``lr_rule`` applied to ``batch_size / lr_base_batch``
    (``none`` keeps ``lr``); both are printed when training starts.
    """

    batch_size: int = 8
    steps: int = 300_000
    lr: float = 1e-4
    lr_rule: str = "none"
    lr_base_batch: int = 8
    beta1: float = 0.5
    beta2: float = 0.999
    seed: int = 0
    device: str = "auto"
    loss: LossConfig = field(default_factory=LossConfig)
    reuse_generator_forward: bool = False
    channels_last: bool = False
    amp: str = "off"
    # pad every layout to data.max_objects slots so each step has the same shapes (for CUDA
    # graphs / compilers); the same training, padding enters no statistic
    static_shapes: bool = False
    # CUDA only: the whole iteration captured once and replayed as one CUDA graph (needs
    # static_shapes and one process); cudnn.benchmark picks convolution kernels by timing
    cuda_graphs: bool = False
    cudnn_benchmark: bool = False
    sync_batchnorm: bool = False
    deterministic: bool = False
    log_every: int = 10
    sample_every: int = 1000
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    num_sample_layouts: int = 8
    tensorboard: bool = True
    # periodic evaluation through the metric registry (0 = off); the best model by
    # ``best_metric`` ("<metric>.<value>", e.g. "fid-shapes.fid_shapes") is kept in model-best/
    eval_every: int = 0
    eval_protocol: str | None = None
    eval_metrics: list[str] = field(default_factory=list)
    eval_num_images: int = 256
    best_metric: str | None = None
    best_mode: str = "min"

    def effective_lr(self) -> float:
        ratio = self.batch_size / self.lr_base_batch
        return self.lr * {"none": 1.0, "linear": ratio, "sqrt": ratio**0.5}[self.lr_rule]

    def validate(self) -> None:
        _require(self.batch_size >= 2, "train.batch_size", "must be at least 2 (BatchNorm)")
        _within(self.batch_size, 2, MAX_BATCH_SIZE, "train.batch_size")
        _within(self.num_sample_layouts, 1, 64, "train.num_sample_layouts")
        _require(self.lr_rule in LR_RULES, "train.lr_rule", f"must be one of {', '.join(LR_RULES)}")
        _require(self.lr_base_batch >= 1, "train.lr_base_batch", "must be positive")
        _require(self.amp in AMP_MODES, "train.amp", f"must be one of {', '.join(AMP_MODES)}")
        _require(
            not (self.static_shapes and self.sync_batchnorm),
            "train.static_shapes",
            "does not work with train.sync_batchnorm (its statistics span processes)",
        )
        _require(
            self.static_shapes or not self.cuda_graphs,
            "train.cuda_graphs",
            "needs train.static_shapes=true (a graph replays fixed shapes)",
        )
        _require(self.steps >= 0, "train.steps", "must be >= 0")
        _require(self.lr > 0, "train.lr", "must be positive")
        _require(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "train.beta1", "betas in [0, 1)")
        for name in ("log_every", "sample_every", "checkpoint_every", "keep_checkpoints"):
            _require(getattr(self, name) >= 1, f"train.{name}", "must be >= 1")
        _require(self.num_sample_layouts >= 1, "train.num_sample_layouts", "must be >= 1")
        _require(self.eval_every >= 0, "train.eval_every", "must be >= 0 (0 turns it off)")
        _require(self.eval_num_images >= 2, "train.eval_num_images", "must be at least 2")
        _require(self.best_mode in ("min", "max"), "train.best_mode", "must be 'min' or 'max'")
        _require(
            self.best_metric is None or "." in self.best_metric,
            "train.best_metric",
            "must look like <metric>.<value>, e.g. fid-shapes.fid_shapes",
        )
        self.loss.validate()


@dataclass
class Config:
    """A complete experiment: ``name`` labels run folders."""

    name: str = "custom"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> Config:
        self.model.validate()
        self.data.validate()
        self.train.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key} {message}")


def _within(value: int, low: int, high: int, key: str) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{key} must be between {low} and {high}, got {quote(value)}")


# ----------------------------------------------------------------------------- building


# Keys that configs and checkpoints may still hold and that no longer do anything: they are
# dropped with a warning. Key -> what happens instead.
IGNORED_KEYS = {
    "train.batch_discriminator_calls": "each discriminator is called once per input, except in "
    "distributed runs, which batch the calls (DDP synchronises one forward per backward)",
}


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict, rejecting unknown keys and wrong types
    (:data:`IGNORED_KEYS` are dropped with a warning)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {quote(data)}")
    ignored = [k for k in data if f"{prefix}{k}" in IGNORED_KEYS]
    for key in ignored:
        log.warning("config key %s%s is ignored: %s", prefix, key, IGNORED_KEYS[prefix + key])
    data = {k: v for k, v in data.items() if k not in ignored}
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(map(str, set(data) - names))
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{short(unknown[0])}; "
            f"valid keys here: {', '.join(sorted(names))}"
        )
    kwargs = {k: _coerce(hints[k], v, f"{prefix}{k}") for k, v in data.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, key + ".")
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {quote(value)}")
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {quote(value)}")
        return [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {quote(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be an integer, got {quote(value)}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key} must be a number, got {quote(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            # YAML 1.1 reads an unquoted off/on/no/yes as a boolean (train.amp=off)
            return "on" if value else "off"
        raise ConfigError(f"{key} must be a string, got {quote(value)}")
    return value


def preset_names() -> list[str]:
    """Names of the presets shipped in ``layout2im/configs``."""
    folder = resources.files("layout2im") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_config(name_or_path: str | Path) -> Config:
    """Load a preset by name (``shapes32``) or a YAML file path; unset keys take defaults."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        text = read_config_text(path)
    else:
        preset = resources.files("layout2im") / "configs" / f"{name_or_path}.yaml"
        if not preset.is_file():
            raise ConfigError(
                f"unknown preset {quote(str(name_or_path))}; presets: {', '.join(preset_names())} "
                "(or give a path to a .yaml file)"
            )
        text = preset.read_text()
    return config_from_yaml(text, str(name_or_path))


MAX_CONFIG_BYTES = 1024 * 1024


def read_config_text(path: Path) -> str:
    """The text of a YAML config file, refusing a missing, non-regular or over-1-MB file."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes")
    return text


def config_from_yaml(text: str, source: str) -> Config:
    """A validated :class:`Config` from YAML text; ``source`` names it in errors."""
    try:
        data = yaml.safe_load(text) or {}
    except (yaml.YAMLError, RecursionError) as exc:
        reason = str(exc).replace("\n", " ") if isinstance(exc, yaml.YAMLError) else "too deep"
        raise ConfigError(f"config {source} is not valid YAML: {reason}") from None
    try:
        return from_dict(Config, data).validate()
    except ConfigError as exc:
        raise ConfigError(f"config {source}: {exc}") from None


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) and re-validate."""
    data = config.to_dict()
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {quote(item)} must look like key.sub=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"unknown config key {quote(key)}")
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(
                f"unknown config key {quote(key)}; valid keys here: {', '.join(sorted(node))}"
            )
        node[parts[-1]] = value
    return from_dict(Config, data).validate()


def model_config_from_dict(data: dict[str, Any]) -> ModelConfig:
    """Rebuild a :class:`ModelConfig` saved with :func:`dataclasses.asdict`."""
    cfg = from_dict(ModelConfig, data, "model.")
    cfg.validate()
    return cfg
