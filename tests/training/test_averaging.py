"""Checkpoint averaging (`layout2im average`): the mean of the generator weights, exported."""

from __future__ import annotations

import json

import pytest
import torch

from layout2im.cli import main
from layout2im.data import build_dataset
from layout2im.data.collate import batch_layout, collate_layouts
from layout2im.pipeline import Layout2ImPipeline
from layout2im.training.averaging import (
    average_generator_state,
    export_averaged_model,
    select_checkpoints,
)
from layout2im.training.checkpoint import CheckpointError, save_checkpoint
from layout2im.training.trainer import Trainer
from tests.conftest import tiny_config, tiny_model_config


def _run_with_checkpoints(run_dir, steps=(2, 4, 6), **model) -> list[dict]:
    """A run folder whose checkpoints hold a tiny trainer after 2, 4, 6 steps (one train step
    between each). Returns the generator state of each, in order."""
    config = tiny_config()
    if model:
        config.model = tiny_model_config(**model)
    dataset, vocab = build_dataset(config.data, config.model.image_size)
    trainer = Trainer(config, vocab)
    states = []
    for k, step in enumerate(steps):
        batch = collate_layouts([dataset[4 * k + i] for i in range(4)])
        trainer.train_step(batch["images"], batch_layout(batch))
        trainer.step = step
        save_checkpoint(trainer.state_dict(), run_dir / "checkpoints", step, keep=10)
        states.append({k: v.clone() for k, v in trainer.generator.state_dict().items()})
    return states


def test_average_is_the_mean_of_float_weights_and_the_newest_integer_buffers(tmp_path):
    states = _run_with_checkpoints(tmp_path)
    paths = select_checkpoints(tmp_path)
    averaged, newest = average_generator_state(paths)
    assert newest["step"] == 6
    checked_float = checked_int = 0
    for key, value in averaged.items():
        if value.is_floating_point():
            expected = torch.stack([s[key].double() for s in states]).mean(0).float()
            torch.testing.assert_close(value, expected, rtol=0, atol=1e-7)
            checked_float += 1
        else:
            assert torch.equal(value, states[-1][key])  # num_batches_tracked of the newest
            checked_int += 1
    assert checked_float > 10 and checked_int > 0
    # the checkpoints really differ, so the mean is none of them
    weight = next(k for k in averaged if k.endswith("weight"))
    assert not torch.equal(averaged[weight], states[-1][weight])


def test_selection_by_first_step_and_count(tmp_path):
    _run_with_checkpoints(tmp_path)
    steps = lambda paths: [int(p.stem[5:]) for p in paths]  # noqa: E731
    assert steps(select_checkpoints(tmp_path)) == [2, 4, 6]
    assert steps(select_checkpoints(tmp_path, from_step=3)) == [4, 6]
    assert steps(select_checkpoints(tmp_path, last=2)) == [4, 6]
    assert steps(select_checkpoints(tmp_path, from_step=2, last=1)) == [6]


def test_exported_model_loads_generates_and_records_its_checkpoints(tmp_path):
    states = _run_with_checkpoints(tmp_path / "run")
    out, steps = export_averaged_model(tmp_path / "run", tmp_path / "model", from_step=4)
    assert steps == [4, 6]
    meta = json.loads((out / "config.json").read_text())
    assert meta["provenance"] == {"averaged_checkpoint_steps": [4, 6]}
    pipe = Layout2ImPipeline.from_pretrained(out)
    for key, value in pipe.generator.state_dict().items():
        if value.is_floating_point():
            expected = ((states[1][key].double() + states[2][key].double()) / 2).float()
            torch.testing.assert_close(value, expected, atol=1e-7, rtol=0)
    result = pipe({"objects": [{"category": "circle", "box": [0.1, 0.1, 0.6, 0.6]}]}, 2, seed=0)
    assert len(result.images) == 2 and result.images[0].size == (16, 16)
    # a second export replaces the folder and leaves no temporary folder behind
    export_averaged_model(tmp_path / "run", tmp_path / "model", last=1)
    meta = json.loads((out / "config.json").read_text())
    assert meta["provenance"]["averaged_checkpoint_steps"] == [6]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "run"]


def test_checkpoints_of_different_models_are_refused(tmp_path):
    _run_with_checkpoints(tmp_path, steps=(2,))
    _run_with_checkpoints(tmp_path, steps=(4,), z_dim=16)
    with pytest.raises(CheckpointError, match=r"ckpt-00000004\.pt: generator weight .* has shape"):
        average_generator_state(select_checkpoints(tmp_path))


def test_cli_averages_and_reports_bad_input(tmp_path, capsys):
    _run_with_checkpoints(tmp_path / "run")
    assert (
        main(["average", str(tmp_path / "run"), "--last", "2", "--out", str(tmp_path / "m")]) == 0
    )
    out = capsys.readouterr().out
    assert (
        "averaged 2 checkpoints (steps 4, 6)" in out
        and (tmp_path / "m" / "model.safetensors").is_file()
    )

    cases = [
        ([str(tmp_path / "missing")], "run folder not found"),
        ([str(tmp_path / "m")], "holds no checkpoints"),
        ([str(tmp_path / "run"), "--from-step", "7"], "no checkpoint at or after step 7"),
        ([str(tmp_path / "run"), "--last", "0"], "--last must be at least 1"),
    ]
    for args, message in cases:
        assert main(["average", *args, "--out", str(tmp_path / "never")]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "never").exists()

    (tmp_path / "run" / "checkpoints" / "ckpt-00000008.pt").write_bytes(b"not a checkpoint")
    assert main(["average", str(tmp_path / "run"), "--out", str(tmp_path / "never")]) == 2
    assert "ckpt-00000008.pt is unreadable" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
