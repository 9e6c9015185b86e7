"""Model folders: the config.json format (architecture, trained-on data, version), folders from
before architectures were registered, refusals, and destinations that must not be replaced."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from layout2im.architectures import get_architecture
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
    from layout2im.config import load_config

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


def test_the_shipped_model_is_a_version_1_folder_and_loads():
    meta = read_model_meta(default_model() / CONFIG_FILE)
    assert meta.format_version == 1 and meta.architecture == "layout2im" and meta.data is None
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
        f"error: {run} is not a layout2im model: config.json is missing; "
        f"did you mean {run / 'model'}?\n"
    )
    assert not (tmp_path / "o").exists()
