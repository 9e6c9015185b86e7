"""Configs: YAML presets, config files, dotted overrides; the types live in :mod:`.schema.config`.

``load_config("shapes32")`` reads a preset from ``configs/*.yaml`` inside the package,
``load_config("my.yaml")`` reads a file, and ``apply_overrides(cfg, ["train.steps=100"])``
sets dotted keys with the schema's type checks (an unknown key gets a "did you mean").
Config files and checkpoints written with older key names still load: each renamed key is
read under its new name with a warning (:data:`~.schema.config.RENAMED_KEYS`).
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import quote, short_path
from .readers import check_path_text, read_text
from .schema.config import (
    AMP_MODES,
    IGNORED_KEYS,
    LR_RULES,
    MAX_BATCH_SIZE,
    MAX_CHANNELS,
    MAX_CLASSES,
    MAX_FUSER_KERNEL,
    MAX_IMAGE_SIZE,
    MAX_LAYOUT_OBJECTS,
    MAX_RES_BLOCKS,
    MAX_STAGES,
    MAX_VECTOR_DIM,
    RENAMED_KEYS,
    RESCALE_MODES,
    SPECTRAL_NORMS,
    CocoConfig,
    Config,
    ConfigError,
    DataConfig,
    LossConfig,
    ModelConfig,
    TrainConfig,
    VgConfig,
    unknown_key_message,
)

__all__ = [
    "AMP_MODES",
    "IGNORED_KEYS",
    "LR_RULES",
    "MAX_BATCH_SIZE",
    "MAX_CHANNELS",
    "MAX_CLASSES",
    "MAX_FUSER_KERNEL",
    "MAX_IMAGE_SIZE",
    "MAX_LAYOUT_OBJECTS",
    "MAX_RES_BLOCKS",
    "MAX_STAGES",
    "MAX_VECTOR_DIM",
    "RENAMED_KEYS",
    "RESCALE_MODES",
    "SPECTRAL_NORMS",
    "CocoConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "LossConfig",
    "ModelConfig",
    "TrainConfig",
    "VgConfig",
    "apply_overrides",
    "config_from_dict",
    "config_from_yaml",
    "current_key",
    "load_config",
    "model_config_from_dict",
    "preset_names",
    "read_config_text",
]

log = logging.getLogger(__name__)

MAX_CONFIG_BYTES = 1024 * 1024


def preset_names() -> list[str]:
    """Names of the presets shipped in ``layout2im/configs``."""
    folder = resources.files("layout2im") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_config(name_or_path: str | Path) -> Config:
    """Load a preset by name (``shapes32``) or a YAML file path; unset keys take defaults."""
    path = check_path_text(name_or_path, "config", ConfigError)
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


def read_config_text(path: str | Path) -> str:
    """The text of a YAML config file, refusing a missing, non-regular, non-UTF-8 or
    over-1-MB file (see :mod:`layout2im.readers`)."""
    return read_text(path, MAX_CONFIG_BYTES, "config file", ConfigError)


def config_from_yaml(text: str, source: str) -> Config:
    """A validated :class:`Config` from YAML text; ``source`` names it in errors."""
    try:
        data = yaml.safe_load(text) or {}
    except (yaml.YAMLError, RecursionError) as exc:
        reason = str(exc).replace("\n", " ") if isinstance(exc, yaml.YAMLError) else "too deep"
        raise ConfigError(f"config {short_path(source)} is not valid YAML: {reason}") from None
    return config_from_dict(data, source)


def config_from_dict(data: Any, source: str | None = None) -> Config:
    """A validated :class:`Config` from its plain form (a YAML file's or a checkpoint's);
    older key names are read with a warning. ``source`` names it in errors."""
    try:
        return Config.from_data(data)
    except ConfigError as exc:
        if source is None:
            raise
        raise ConfigError(f"config {short_path(source)}: {exc}") from None


def current_key(key: str) -> str:
    """``key`` under its current name: a renamed key (``data.vg_min_box_side``) is mapped to
    its new one (``data.vg.min_box_side``) with a warning."""
    new = RENAMED_KEYS.get(key)
    if new is None:
        return key
    log.warning("config key %s is now %s (read under its new name)", key, new)
    return new


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) and re-validate. Unknown keys
    are refused with the closest known key; values keep the schema's type checks."""
    data = config.model_dump(warnings=False)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {quote(item)} must look like key.sub=value")
        key, raw = item.split("=", 1)
        key = current_key(key.strip())
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        except RecursionError:
            raise ConfigError(f"override {quote(item)}: the value is nested too deeply") from None
        node = data
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            here = ".".join(parts[: depth + 1])
            if part not in node:
                raise ConfigError(unknown_key_message(here, list(node)))
            if not isinstance(node[part], dict):
                raise ConfigError(
                    f"unknown config key {quote(key)}: {here} is a value, not a section"
                )
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(unknown_key_message(key, list(node)))
        node[parts[-1]] = value
    return Config.from_data(data)


def model_config_from_dict(data: Any) -> ModelConfig:
    """Rebuild a :class:`ModelConfig` saved with ``model_dump()`` (a model folder's
    ``config.json``)."""
    return ModelConfig.from_data(data)
