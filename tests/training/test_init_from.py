"""``train --init-from``: a new run starts from a model folder's networks, optimisers fresh."""

import shutil

import pytest
import torch
import yaml

from layout2im.errors import short_path
from layout2im.models import Layout2ImGenerator
from layout2im.pipeline import Layout2ImPipeline
from layout2im.training.checkpoint import CheckpointError, load_checkpoint
from layout2im.training.loop import RunError, train
from layout2im.vocab import Vocabulary
from tests.conftest import run_with_checkpoints, tiny_config, tiny_model_config


def _model_folder_with_checkpoint(tmp_path):
    run = tmp_path / "run"
    run_with_checkpoints(run, steps=(2,))
    ckpt = load_checkpoint(run / "checkpoints" / "ckpt-00000002.pt")
    folder = tmp_path / "init"
    g = Layout2ImGenerator(tiny_config().model)
    g.load_state_dict(ckpt["models"]["generator"])
    Layout2ImPipeline(g, Vocabulary(ckpt["vocab"]), max_objects=4).save_pretrained(folder)
    shutil.copytree(run / "checkpoints", folder / "checkpoints")
    return folder, ckpt


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_all_three_networks_start_from_the_checkpoint(tmp_path, caplog):
    folder, ckpt = _model_folder_with_checkpoint(tmp_path)
    with caplog.at_level("INFO", logger="layout2im"):
        result = train(tiny_config(steps=0), tmp_path / "runs", progress=False, init_from=folder)
    t = result.trainer
    assert _equal(t.generator.state_dict(), ckpt["models"]["generator"])
    assert _equal(t.image_d.state_dict(), ckpt["models"]["image_d"])
    assert _equal(t.object_d.state_dict(), ckpt["models"]["object_d"])
    assert t.step == 0 and t.opt_g.state_dict()["state"] == {}
    assert "optimisers start fresh" in caplog.text
    log = (result.run_dir / "log.txt").read_text()
    assert "initialised the generator, image discriminator, object discriminator" in log


def test_a_plain_model_folder_gives_the_generator_only(tmp_path, tiny_model_dir, caplog):
    with caplog.at_level("INFO", logger="layout2im"):
        result = train(
            tiny_config(steps=0), tmp_path / "runs", progress=False, init_from=tiny_model_dir
        )
    pipe = Layout2ImPipeline.from_pretrained(tiny_model_dir)
    assert _equal(result.trainer.generator.state_dict(), pipe.generator.state_dict())
    assert "the discriminators are new" in caplog.text


def test_refusals(tmp_path, tiny_model_dir):
    with pytest.raises(RunError, match="not a model folder"):
        train(tiny_config(steps=0), tmp_path / "r", init_from=tmp_path / "missing")
    with pytest.raises(RunError, match="cannot be combined with --resume"):
        train(tiny_config(steps=0), tmp_path / "r", resume=True, init_from=tiny_model_dir)
    other = tiny_config(steps=0)
    other.model = tiny_model_config(z_dim=6)
    with pytest.raises(CheckpointError, match=r"model.z_dim: 4 there, 6 here"):
        train(other, tmp_path / "r", progress=False, init_from=tiny_model_dir)
    assert not (tmp_path / "r").exists()  # no run left, nor the --out folder made for it


def test_a_checkpoint_that_does_not_fit_names_every_problem_and_leaves_no_run(tmp_path):
    folder, _ = _model_folder_with_checkpoint(tmp_path)
    path = folder / "checkpoints" / "ckpt-00000002.pt"
    state = torch.load(path, weights_only=True)
    d_key = next(k for k, v in state["models"]["image_d"].items() if v.dim() > 1)
    state["models"]["image_d"][d_key] = state["models"]["image_d"][d_key].reshape(-1)
    state["models"]["object_d"]["extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        train(tiny_config(steps=0), tmp_path / "runs", progress=False, init_from=folder)
    message = str(err.value)
    assert "ckpt-00000002.pt does not fit this run's networks: " in message
    assert f"models.image_d: '{d_key}' has shape (" in message
    assert "models.object_d: unexpected ['extra.weight']" in message
    assert not (tmp_path / "runs").exists()


def test_a_model_folder_with_a_broken_checkpoint_is_one_error_and_leaves_no_run(
    tmp_path, capsys, caplog
):
    from layout2im.cli import main
    from layout2im.model_folder import default_model

    folder = tmp_path / "init"
    shutil.copytree(default_model(), folder)  # the shipped shapes32 model
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "ckpt-00000002.pt").write_bytes(b"junk")  # breaks the unpickler
    runs = tmp_path / "runs"
    args = ["train", "--config", "shapes32", "--steps", "1", "--no-progress"]
    assert main([*args, "--init-from", str(folder), "--out", str(runs)]) == 2
    err = capsys.readouterr().err
    checkpoints = short_path(folder / "checkpoints")
    assert err.splitlines()[-1].startswith(
        f"error: no readable checkpoint in {checkpoints}: checkpoint "
        f"{short_path(folder / 'checkpoints' / 'ckpt-00000002.pt')} is unreadable"
    ), err
    assert "Traceback" not in err
    assert not runs.exists()


@pytest.mark.parametrize(
    "models, problem",
    [
        (
            [1, 2, 3],
            "'models' must map generator, image_d, object_d to their tensors, got [1, 2, 3]",
        ),
        (
            {"generator": "evil", "image_d": {}, "object_d": {}},
            "'models' must map generator, image_d, object_d to their tensors, got "
            "{'generator': 'evil', 'image_d': {}, 'object_d': {}}",
        ),
    ],
)
def test_init_from_a_checkpoint_of_the_wrong_structure_says_why(tmp_path, capsys, models, problem):
    from layout2im.cli import main

    folder, _ = _model_folder_with_checkpoint(tmp_path)
    older = folder / "checkpoints" / "ckpt-00000001.pt"
    path = folder / "checkpoints" / "ckpt-00000002.pt"
    state = torch.load(path, weights_only=True)
    state["models"] = models
    torch.save(state, path)
    shutil.copy(path, older)  # two unreadable: the message gives the newest one's problem
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(steps=0).model_dump()))
    out = tmp_path / "rinit" / "runs"
    args = ["train", "--config", str(config), "--init-from", str(folder), "--out", str(out)]
    assert main([*args, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        f"error: no readable checkpoint in {short_path(folder / 'checkpoints')} (2 tried); the "
        f"newest: checkpoint {short_path(path)}: {problem}"
    )
    assert "Traceback" not in err
    assert not (tmp_path / "rinit").exists()  # nothing of what the start made is left
