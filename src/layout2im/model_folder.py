"""Model folders: the files a trained generator is shipped and loaded as.

A model folder holds three files (the diffusers convention)::

    config.json         the metadata: format, architecture, model config, max_objects, the
                        data it was trained on (layout2im.schema.model_folder)
    model.safetensors   the generator's state dict (weights and BatchNorm statistics)
    vocab.json          the category names by embedding row

:func:`load_model_folder` rebuilds the generator through the architecture registry with no
extra flags; only safetensors weights are read, the file's size is checked against the config
before anything is built, and the keys are loaded strictly (every missing or unexpected key is
an error). :func:`write_model_folder` writes each file atomically. Models shipped inside the
package live in ``layout2im/pretrained/<name>/``: :func:`shipped_models`, :func:`default_model`
and :func:`resolve_model` find them.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .architectures import Architecture, get_architecture
from .config import Config, config_from_dict, load_config, preset_names
from .errors import Layout2ImError, quote, short_path
from .fsutil import atomic_write, write_text
from .readers import check_path_text, read_json
from .schema.model_folder import FORMAT, FORMAT_VERSION, ModelFolderMeta, TrainedData
from .state_dicts import check_state
from .vocab import Vocabulary

CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE = "config.json", "model.safetensors", "vocab.json"
MODEL_FILES = frozenset({CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE})

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
"""Models shipped inside the package: ``pretrained/<name>/`` holds one model folder each."""
DEFAULT_MODEL = "shapes32"
"""The name of the shipped default model (see :func:`default_model`)."""

MAX_METADATA_BYTES = 16 * 1024 * 1024
"""config.json and vocab.json of a model folder larger than this are refused unread."""


class ModelLoadError(Layout2ImError, RuntimeError):
    """A pretrained model folder is missing a file or holds something unusable."""


class ModelDestinationError(Layout2ImError, ValueError):
    """An output path for a model folder would replace something that is not a model folder."""


# ----------------------------------------------------------------------------- finding folders


def shipped_models() -> list[str]:
    """Names of the models shipped inside the package (folders of ``layout2im/pretrained``)."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / CONFIG_FILE).is_file())


def default_model() -> Path:
    """The folder of the shipped default model: ``pretrained/<DEFAULT_MODEL>``, or the only
    shipped model when there is exactly one. Raises :class:`ModelLoadError` otherwise."""
    names = shipped_models()
    if DEFAULT_MODEL in names:
        return PRETRAINED_DIR / DEFAULT_MODEL
    if len(names) == 1:
        return PRETRAINED_DIR / names[0]
    if not names:
        raise ModelLoadError(
            "no model is shipped with this version of layout2im, so there is no default model; "
            "pass --model DIR with a model folder (config.json, model.safetensors, vocab.json), "
            "e.g. runs/00000-shapes32/model written by `layout2im train`"
        )
    raise ModelLoadError(
        f"several models are shipped ({', '.join(names)}) and none is the default "
        f"{DEFAULT_MODEL!r}; pass --model NAME_OR_DIR"
    )


def resolve_model(name_or_dir: str | Path) -> Path:
    """The model folder for a folder path or a shipped model name (see :func:`shipped_models`).

    A value without path separators that is not an existing folder is a shipped name."""
    path = check_path_text(name_or_dir, "model", ModelLoadError)
    if path.is_dir():
        return path
    text = os.fspath(name_or_dir)
    separators = {"/", os.sep, *([os.altsep] if os.altsep else [])}
    if text not in ("", ".", "..") and not any(sep in text for sep in separators):
        if (PRETRAINED_DIR / text / CONFIG_FILE).is_file():
            return PRETRAINED_DIR / text
        names = shipped_models()
        shipped = (
            f"shipped models: {', '.join(names)}"
            if names
            else "this version of layout2im ships no models"
        )
        raise ModelLoadError(
            f"{quote(text)} is neither a model folder nor the name of a shipped model ({shipped}); "
            "pass a model folder (config.json, model.safetensors, vocab.json)"
        )
    raise ModelLoadError(f"model folder not found: {short_path(path)}")


# ----------------------------------------------------------------------------- metadata


def _validation_message(exc: ValidationError) -> str:
    """The first problem of a pydantic error as one line: the key, what is wrong, the value."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "config.json"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return f"unknown key {quote(where)} (a newer layout2im may have written it)"
    if first["type"] == "missing":
        return f"{where}: missing"
    return f"{where}: {message} (got {quote(first.get('input'))})"


def read_model_meta(path: str | Path) -> ModelFolderMeta:
    """A model folder's config.json (read with the :data:`MAX_METADATA_BYTES` bound), checked
    to be a layout2im model config of a readable version; :class:`ModelLoadError` otherwise."""
    data = read_json(path, MAX_METADATA_BYTES, "model config", ModelLoadError)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelLoadError(f"{short_path(path)} is not a layout2im model config")
    try:
        return ModelFolderMeta.model_validate(data)
    except ValidationError as exc:
        raise ModelLoadError(f"{short_path(path)}: {_validation_message(exc)}") from None


def read_vocab(path: str | Path) -> Vocabulary:
    """A model folder's vocab.json, bounded like config.json."""
    data = read_json(path, MAX_METADATA_BYTES, "vocabulary", ModelLoadError)
    try:
        return Vocabulary.from_json(data)
    except ValueError as exc:
        raise ModelLoadError(f"{short_path(path)}: {exc}") from None


def is_model_folder_config(path: Path) -> bool:
    """Whether ``path`` is a readable layout2im model folder's config.json."""
    try:
        read_model_meta(path)
    except ModelLoadError:
        return False
    return True


# ----------------------------------------------------------------------------- loading


@dataclass
class LoadedModel:
    """A model folder's contents, rebuilt: the generator (eval mode, on the CPU) of
    ``architecture`` built from ``config``, its vocabulary and the folder's metadata."""

    folder: Path
    meta: ModelFolderMeta
    architecture: Architecture
    config: Any
    generator: nn.Module
    vocab: Vocabulary


def check_weights_size(path: Path, architecture: Architecture, config: Any) -> None:
    """Refuse a config whose generator has more values than the weights file holds, before
    building it: the network is counted without allocating, the file from its header (no
    tensor read)."""
    wanted = architecture.state_size(config)
    try:
        with safe_open(str(path), framework="pt") as f:
            held = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118
    except Exception as exc:
        raise ModelLoadError(f"{short_path(path)} is unreadable: {exc}") from None
    if wanted > held:
        raise ModelLoadError(
            f"{short_path(path)} does not match its config: it holds {held:,} values but "
            "config.json "
            f"describes a generator of {wanted:,}"
        )


def load_state_strictly(module: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load ``state`` into ``module`` after checking it against the module's own state dict
    (:func:`~layout2im.state_dicts.check_state`: every key there and no other, each with its
    shape, floating-point and finite where the module's is, integer where it is); one
    :class:`ModelLoadError` naming every problem otherwise."""
    check_state(state, module.state_dict(), f"{short_path(path)} cannot be loaded", ModelLoadError)
    module.load_state_dict(state)


def load_model_folder(name_or_dir: str | Path) -> LoadedModel:
    """Rebuild the model of a folder written by :func:`write_model_folder` (or a shipped
    model's name, see :func:`resolve_model`). Raises :class:`ModelLoadError` naming the file
    and the problem."""
    folder = resolve_model(name_or_dir)
    for name in (CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE):
        if not (folder / name).is_file():
            inside = folder / "model"  # a run folder: its exported model is runs/<run>/model
            hint = f"; did you mean {short_path(inside)}?"
            hint = hint if (inside / CONFIG_FILE).is_file() else ""
            raise ModelLoadError(
                f"{short_path(folder)} is not a layout2im model: {name} is missing{hint}"
            )
    meta = read_model_meta(folder / CONFIG_FILE)
    try:
        architecture = get_architecture(meta.architecture)
        config = architecture.config_from_dict(meta.model)
    except Layout2ImError as exc:
        raise ModelLoadError(f"{short_path(folder / CONFIG_FILE)}: {exc}") from None
    vocab = read_vocab(folder / VOCAB_FILE)
    rows = architecture.num_classes(config)
    if len(vocab) != rows:
        raise ModelLoadError(
            f"{short_path(folder / VOCAB_FILE)} has {len(vocab)} rows but the model has "
            f"{rows} categories"
        )
    check_weights_size(folder / WEIGHTS_FILE, architecture, config)
    try:
        state = load_file(str(folder / WEIGHTS_FILE))
    except Exception as exc:
        raise ModelLoadError(f"{short_path(folder / WEIGHTS_FILE)} is unreadable: {exc}") from None
    generator = architecture.build_generator(config)
    load_state_strictly(generator, state, folder / WEIGHTS_FILE)
    return LoadedModel(folder, meta, architecture, config, generator.eval(), vocab)


# ----------------------------------------------------------------------------- writing


def write_model_folder(
    folder: str | Path,
    architecture: Architecture,
    generator: nn.Module,
    vocab: Vocabulary,
    max_objects: int,
    data: TrainedData | None = None,
    provenance: Any = None,
) -> Path:
    """Write config.json, model.safetensors and vocab.json into ``folder`` (each file
    atomically; use :func:`~layout2im.fsutil.atomic_folder` around it for all three at once).
    ``data``: what the model was trained on; ``provenance`` (JSON-serialisable, e.g. which
    checkpoints were averaged) is recorded as given."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = ModelFolderMeta(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        architecture=architecture.name,
        model=architecture.config_to_dict(generator.config),
        max_objects=max_objects,
        data=data,
        provenance=provenance or None,
    )
    state = {k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    with atomic_write(folder / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT})
    write_text(folder / CONFIG_FILE, json.dumps(meta.to_json(), indent=2))
    vocab.save(folder / VOCAB_FILE)
    return folder


def trained_data(config: Config) -> TrainedData:
    """What a model trained with ``config`` was trained on: the config's data section, and the
    preset's name when that section is the preset's, unchanged (``evaluate --model`` reads it)."""
    data = config.model_dump()["data"]
    preset = None
    if config.name in preset_names() and load_config(config.name).model_dump()["data"] == data:
        preset = config.name
    return TrainedData(preset=preset, config=data)


def trained_data_config(name_or_dir: str | Path) -> Config | None:
    """A config whose ``data`` is what the model folder (or shipped model) records it was
    trained on: the preset itself when it names one, else the recorded data section with
    defaults elsewhere; None for a folder that records nothing (format_version 1)."""
    folder = resolve_model(name_or_dir)
    data = read_model_meta(folder / CONFIG_FILE).data
    if data is None:
        return None
    if data.preset is not None:
        return load_config(data.preset)
    source = f"{short_path(folder / CONFIG_FILE)} data"
    return config_from_dict({"name": folder.name, "data": data.config}, source)


# ----------------------------------------------------------------------------- destinations


def check_replaceable_model_folder(out: Path, also_allowed: frozenset[str] = frozenset()) -> None:
    """Refuse an ``--out`` that replacing would destroy something else than a model folder: the
    current folder or one above it, a file, a link, a folder with other entries than a model's
    three files (and ``also_allowed``), or a config.json of another format. Raises
    :class:`ModelDestinationError`."""
    refuse_current_folder(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ModelDestinationError(
            f"--out {short_path(out)} is a file or a link, not a folder; it is left alone"
        )
    if out.is_dir():
        allowed = MODEL_FILES | also_allowed
        extra = sorted(p.name for p in out.iterdir() if p.name not in allowed)
        if extra:
            shown = ", ".join(extra[:3]) + (", ..." if len(extra) > 3 else "")
            raise ModelDestinationError(
                f"--out {short_path(out)} is a folder with other files than a model's ({shown}); "
                "it is left alone"
            )
        config = out / CONFIG_FILE
        if config.exists() and not is_model_folder_config(config):
            raise ModelDestinationError(
                f"--out {short_path(out)} holds a config.json that is not a layout2im "
                "model's; it is left alone"
            )
    if out.parent.exists() and not out.parent.is_dir():
        raise ModelDestinationError(
            f"--out {short_path(out)}: {short_path(out.parent)} is not a folder"
        )


def refuse_current_folder(out: Path) -> None:
    """Refuse ``out`` when it is the current folder or one above it."""
    if out.name in ("", ".", "..") or Path.cwd().resolve().is_relative_to(out.resolve()):
        raise ModelDestinationError(
            f"--out {short_path(out)}: name a new model folder, not the current folder"
        )
