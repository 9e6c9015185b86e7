"""Loaded checkpoints are checked in one place (check_training_state): wrong types, wrong
networks, non-finite or non-float tensors, FIFOs and pickled code are one CheckpointError."""

import os
import pickle

import pytest
import torch

from layout2im.errors import short_path
from layout2im.training.checkpoint import (
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    load_networks,
    save_checkpoint,
)
from layout2im.training.loop import train
from layout2im.training.trainer import Trainer
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def good_state():
    from layout2im.data import build_dataset

    config = tiny_config()
    _, vocab = build_dataset(config.data, config.model.image_size)
    return Trainer(config, vocab).state_dict()


def _first_weight(state):
    return next(k for k in state["models"]["generator"] if k.endswith("weight"))


def _set(path, value):
    def change(state):
        *parents, last = path
        for key in parents:
            state = state[key]
        state[last] = value(state[last]) if callable(value) else value

    return change


CASES = [
    (_set(["step"], "6"), "'step' must be an integer >= 0, got '6'"),
    (_set(["step"], True), "'step' must be an integer"),
    (_set(["step"], -1), "'step' must be an integer"),
    (_set(["models"], [1, 2, 3]), "'models' must map generator, image_d, object_d"),
    (_set(["models", "generator"], "evil"), "'models' must map"),
    (_set(["optimizers"], "x"), "'optimizers' must be a dict"),
    (_set(["vocab"], [5]), "'vocab' must be a list of category names"),
]


@pytest.mark.parametrize("change, message", CASES)
def test_a_checkpoint_of_the_wrong_structure_is_refused(tmp_path, good_state, change, message):
    state = {**good_state, "models": dict(good_state["models"])}
    change(state)
    path = save_checkpoint(state, tmp_path, 6, keep=3)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda t: torch.full_like(t, float("nan")), r"holds [\d,]+ NaN and 0 infinite values"),
        (lambda t: t.to(torch.complex64), "is complex64, expected a floating-point tensor"),
        (lambda t: t > 0, "is bool, expected a floating-point tensor"),
        (lambda t: t.to(torch.int64), "is int64, expected a floating-point tensor"),
        (lambda t: "evil", "must be a tensor, got str"),
    ],
)
def test_non_finite_or_non_float_weights_are_refused(tmp_path, good_state, make, message):
    key = _first_weight(good_state)
    generator = {**good_state["models"]["generator"]}
    generator[key] = make(generator[key])
    state = {**good_state, "models": {**good_state["models"], "generator": generator}}
    path = save_checkpoint(state, tmp_path, 6, keep=3)
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(path)
    assert "models.generator" in str(err.value)


def test_a_fifo_named_like_a_checkpoint_is_refused_unopened(tmp_path):
    os.mkfifo(tmp_path / "ckpt-00000006.pt")
    with pytest.raises(CheckpointError, match="is a FIFO"):
        load_checkpoint(tmp_path / "ckpt-00000006.pt")


class _Code:
    def __reduce__(self):
        return (os.getcwd, ())


def test_a_pickle_that_needs_code_is_named_as_such(tmp_path):
    torch.save({"step": 1, "models": _Code()}, tmp_path / "ckpt-00000001.pt")
    with pytest.raises(CheckpointError, match=r"needs Python code unpickled to load \(posix"):
        load_checkpoint(tmp_path / "ckpt-00000001.pt")
    (tmp_path / "ckpt-00000002.pt").write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(CheckpointError, match=r"ckpt-00000002\.pt"):
        load_checkpoint(tmp_path / "ckpt-00000002.pt")


def test_resume_from_a_checkpoint_with_a_wrong_shape_is_a_checkpoint_error(tmp_path):
    run = train(tiny_config(steps=2), tmp_path, progress=False).run_dir
    newest = list_checkpoints(run / "checkpoints")[-1]
    state = torch.load(newest, weights_only=True)
    key = _first_weight(state)
    state["models"]["generator"][key] = torch.zeros(3, 3)
    torch.save(state, newest)
    with pytest.raises(CheckpointError) as err:
        train(tiny_config(steps=4), tmp_path, resume=run, progress=False)
    message = str(err.value)
    prefix = f"{short_path(run)}: its newest checkpoint does not fit this run's networks: "
    assert message.startswith(prefix), message
    assert message.count("does not fit") == 1 and message.count(short_path(run)) == 1
    assert f"models.generator: '{key}' has shape (3, 3), the network's is (" in message


def test_every_network_problem_is_named_in_one_message_and_nothing_is_loaded(good_state):
    from layout2im.data import build_dataset

    config = tiny_config()
    trainer = Trainer(config, build_dataset(config.data, config.model.image_size)[1])
    before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    models = {name: dict(tensors) for name, tensors in good_state["models"].items()}
    weight = _first_weight(good_state)
    models["generator"][weight] = models["generator"][weight].reshape(-1)
    gone = next(iter(models["image_d"]))
    del models["image_d"][gone]
    models["object_d"]["extra.weight"] = torch.zeros(1)
    counter = next(k for k in models["generator"] if k.endswith("num_batches_tracked"))
    models["generator"][counter] = models["generator"][counter].float()
    with pytest.raises(CheckpointError) as err:
        load_networks(trainer.networks(), models, "ckpt-00000006.pt")
    message = str(err.value)
    assert message.startswith("ckpt-00000006.pt does not fit this run's networks: ")
    assert f"models.generator: '{weight}' has shape (" in message
    assert f"models.generator: '{counter}' is float32, expected int64" in message
    assert f"models.image_d: missing ['{gone}']" in message
    assert "models.object_d: unexpected ['extra.weight']" in message
    after = trainer.generator.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing loaded


def test_integer_counters_of_the_right_type_load(good_state):
    from layout2im.data import build_dataset

    config = tiny_config()
    trainer = Trainer(config, build_dataset(config.data, config.model.image_size)[1])
    models = {name: dict(tensors) for name, tensors in good_state["models"].items()}
    counter = next(k for k in models["generator"] if k.endswith("num_batches_tracked"))
    models["generator"][counter] = torch.tensor(41)
    load_networks(trainer.networks(), models, "checkpoint")
    assert trainer.generator.state_dict()[counter].item() == 41
