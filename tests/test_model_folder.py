"""Model folders: the config.json format (architecture, trained-on data, version), folders from
before architectures were registered, refusals, and destinations that must not be replaced."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from layout2im.architectures import get_architecture
from layout2im.config import load_config
from layout2im.errors import QUOTE_CHARS, short_path
from layout2im.model_folder import (
    CONFIG_FILE,
    ModelDestinationError,
    ModelLoadError,
    check_replaceable_model_folder,
    default_model,
    load_model_folder,
    read_model_meta,
    trained_data,
)
from layout2im.pipeline import Layout2ImPipeline
from layout2im.schema.model_folder import FORMAT_VERSION, TrainedData
from tests.conftest import tiny_config

SCENE = {"objects": [{"id": "a", "category": "circle", "box": [0.1, 0.1, 0.6, 0.6]}]}


def _copy(src, dst, edit=None):
    shutil.copytree(src, dst)
    if edit is not None:
        meta = json.loads((dst / CONFIG_FILE).read_text())
        edit(meta)
        (dst / CONFIG_FILE).write_text(json.dumps(meta))
    return dst


def test_a_written_folder_records_its_architecture_version_and_data(tmp_path, tiny_model_dir):
    pipe = Layout2ImPipeline.from_pretrained(tiny_model_dir)
    data = trained_data(tiny_config())
    pipe.save_pretrained(tmp_path / "m", data=data, provenance={"note": "test"})
    meta = json.loads((tmp_path / "m" / CONFIG_FILE).read_text())
    assert meta["format"] == "layout2im"
    assert meta["format_version"] == FORMAT_VERSION == 2
    assert meta["architecture"] == "layout2im"
    assert meta["data"] == {"config": tiny_config().model_dump()["data"]}  # not a preset's data
    assert meta["provenance"] == {"note": "test"}
    again = Layout2ImPipeline.from_pretrained(tmp_path / "m")
    assert again.data == data and again.architecture is get_architecture("layout2im")
    assert again(SCENE, seed=0).images[0].tobytes() == pipe(SCENE, seed=0).images[0].tobytes()


def test_a_preset_unchanged_is_recorded_by_name():

    config = load_config("paper-coco64")
    assert trained_data(config).preset == "paper-coco64"
    config.data.min_objects = 4  # changed: the data is recorded, the preset is not claimed
    assert trained_data(config) == TrainedData(preset=None, config=config.model_dump()["data"])


def test_a_folder_from_before_architectures_loads_as_layout2im(tmp_path, tiny_model_dir):
    def old(meta):  # what save_pretrained wrote before: version 1, no architecture, no data
        meta["format_version"] = 1
        del meta["architecture"]
        meta.pop("data", None)

    folder = _copy(tiny_model_dir, tmp_path / "old", old)
    model = load_model_folder(folder)
    assert model.meta.format_version == 1 and model.meta.data is None
    assert model.architecture.name == "layout2im"
    new = Layout2ImPipeline.from_pretrained(tiny_model_dir)
    old_pipe = Layout2ImPipeline.from_pretrained(folder)
    assert torch.equal(old_pipe(SCENE, seed=1).latents, new(SCENE, seed=1).latents)
    assert old_pipe(SCENE, seed=1).images[0].tobytes() == new(SCENE, seed=1).images[0].tobytes()


def test_the_shipped_model_records_its_architecture_and_training_preset():
    meta = read_model_meta(default_model() / CONFIG_FILE)
    assert meta.format_version == FORMAT_VERSION and meta.architecture == "layout2im"
    assert meta.data.preset == "shapes32"
    assert meta.data.config == load_config("shapes32").model_dump()["data"]
    assert meta.provenance == {"averaged_checkpoint_steps": list(range(32000, 40001, 1000))}
    assert Layout2ImPipeline.from_pretrained("shapes32").architecture.name == "layout2im"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(format_version=99), r"format_version: format_version 99 is not one"),
        (lambda m: m.update(format_version="2"), r"format_version: .*\(got '2'\)"),
        (lambda m: m.update(colour="red"), r"unknown key 'colour' \(a newer layout2im"),
        (lambda m: m.update(architecture="layout2img"), r"did you mean 'layout2im'\?"),
        (lambda m: m.update(max_objects=500), r"max_objects: .*less than or equal to 128"),
        (lambda m: m.update(data={"preset": 3, "config": {}}), r"data\.preset: .*\(got 3\)"),
        (lambda m: m.update(format="diffusers"), r"is not a layout2im model config"),
    ],
)
def test_unreadable_metadata_is_refused_with_the_key(tmp_path, tiny_model_dir, edit, message):
    folder = _copy(tiny_model_dir, tmp_path / "m", edit)
    with pytest.raises(ModelLoadError, match=message):
        Layout2ImPipeline.from_pretrained(folder)


def test_a_vocabulary_of_the_wrong_length_is_refused(tmp_path, tiny_model_dir):
    folder = _copy(tiny_model_dir, tmp_path / "m")
    (folder / "vocab.json").write_text(json.dumps({"names": ["circle", "square"]}))
    with pytest.raises(ModelLoadError, match=r"vocab\.json has 2 rows but the model has \d+"):
        Layout2ImPipeline.from_pretrained(folder)


def test_unexpected_weights_are_refused_by_name(tmp_path, tiny_model_dir):
    from safetensors.torch import load_file, save_file

    folder = _copy(tiny_model_dir, tmp_path / "m")
    state = load_file(str(folder / "model.safetensors"))
    state["extra.weight"] = torch.zeros(3)
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=r"unexpected \['extra\.weight'\]"):
        Layout2ImPipeline.from_pretrained(folder)


def test_destinations_that_are_not_model_folders_are_left_alone(tmp_path, tiny_model_dir):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep")
    with pytest.raises(ModelDestinationError, match=r"other files than a model's \(notes\.txt\)"):
        check_replaceable_model_folder(tmp_path / "other")
    check_replaceable_model_folder(tiny_model_dir)  # a model folder may be replaced
    check_replaceable_model_folder(tmp_path / "new")
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep"


def test_a_run_folder_given_as_the_model_points_to_its_model(tmp_path, capsys):
    from layout2im.cli import main
    from layout2im.pipeline import default_model

    run = tmp_path / "runs" / "00000-shapes32"
    shutil.copytree(default_model(), run / "model")
    layout = Path(__file__).resolve().parents[1] / "examples" / "three-shapes.json"
    args = ["generate", "--model", str(run), "--layout", str(layout), "--out", str(tmp_path / "o")]
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"error: {short_path(run)} is not a layout2im model: config.json is missing; "
        f"did you mean {short_path(run / 'model')}?\n"
    )
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- weights refused

LAYOUT = Path(__file__).resolve().parents[1] / "examples" / "three-shapes.json"
WEIGHT = "crop_encoder.convs.0.weight"  # a float32 conv weight of the shipped model
COUNTER = "crop_encoder.norms.0.bn.num_batches_tracked"  # BatchNorm's int64 step counter


def _shipped_with(edit):
    """``m``: a copy of the shipped shapes32 folder whose model.safetensors ``edit`` changed,
    in the current folder (each test makes that ``tmp_path``, so messages show paths whole)."""
    from safetensors.torch import load_file, save_file

    folder = _copy(default_model(), Path("m"))
    state = load_file(str(folder / "model.safetensors"))
    edit(state)
    save_file(state, str(folder / "model.safetensors"))
    return folder


def _generate(folder, out, capsys) -> tuple[int, str]:
    from layout2im.cli import main

    code = main(["generate", "--model", str(folder), "--layout", str(LAYOUT), "--out", str(out)])
    return code, capsys.readouterr().err


def _replace(key, make):
    return lambda state: state.__setitem__(key, make(state[key]))


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            _replace(WEIGHT, lambda t: torch.full_like(t, float("nan"))),
            f"'{WEIGHT}' holds 1,176 NaN and 0 infinite values (of 1,176); weights must be finite",
        ),
        (
            _replace(WEIGHT, lambda t: t.index_fill(0, torch.tensor([0]), float("-inf"))),
            f"'{WEIGHT}' holds 0 NaN and 147 infinite values (of 1,176); weights must be finite",
        ),
        (
            _replace(WEIGHT, lambda t: t > 0),
            f"'{WEIGHT}' is bool, expected a floating-point tensor (the network's is float32)",
        ),
        (
            _replace(WEIGHT, lambda t: t.to(torch.int64)),
            f"'{WEIGHT}' is int64, expected a floating-point tensor (the network's is float32)",
        ),
        (
            _replace(WEIGHT, lambda t: t.to(torch.complex64)),
            f"'{WEIGHT}' is complex64, expected a floating-point tensor (the network's is float32)",
        ),
        (
            _replace(COUNTER, lambda t: t.float()),
            f"'{COUNTER}' is float32, expected int64",
        ),
    ],
    ids=["nan", "inf", "bool", "int64", "complex", "float-counter"],
)
def test_weights_of_the_wrong_type_or_not_finite_are_refused(
    tmp_path, capsys, monkeypatch, edit, problem
):
    monkeypatch.chdir(tmp_path)
    folder = _shipped_with(edit)
    code, err = _generate(folder, Path("out"), capsys)
    assert code == 2
    assert err == f"error: {folder / 'model.safetensors'} cannot be loaded: {problem}\n"
    assert not (Path("out")).exists()


def test_every_tensor_of_the_wrong_shape_is_named_in_one_message(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    keys = [WEIGHT, "crop_encoder.convs.1.weight", "decoder.res_blocks.0.body.0.weight"]

    def flatten(state):  # the same number of values, so the size check lets it through
        for key in keys:
            state[key] = state[key].reshape(-1)

    folder = _shipped_with(flatten)
    code, err = _generate(folder, Path("out"), capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {folder / 'model.safetensors'} cannot be loaded: ")
    for key in keys:
        assert re.search(rf"'{re.escape(key)}' has shape \(\d+,\), the network's is \(", err), key
    assert not (Path("out")).exists()


def test_a_long_unexpected_key_is_quoted_short(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = _shipped_with(lambda s: s.__setitem__("k" * 5000, torch.zeros(1)))
    code, err = _generate(folder, Path("out"), capsys)
    assert code == 2 and err.count("\n") == 1
    assert "unexpected ['kkkk" in err and "k" * (QUOTE_CHARS + 1) not in err
    assert not (Path("out")).exists()


def test_half_precision_weights_and_integer_counters_load(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = _shipped_with(_replace(WEIGHT, lambda t: t.half()))
    code, err = _generate(folder, Path("out"), capsys)
    assert code == 0, err
    model = load_model_folder(folder)
    assert model.generator.state_dict()[WEIGHT].dtype == torch.float32
    assert model.generator.state_dict()[COUNTER].dtype == torch.int64
