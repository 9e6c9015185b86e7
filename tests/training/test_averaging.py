"""Checkpoint averaging (`layout2im average`): the mean of the generator weights, exported."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch

from layout2im.cli import main
from layout2im.model_folder import MAX_METADATA_BYTES, MODEL_FILES
from layout2im.pipeline import Layout2ImPipeline
from layout2im.training.averaging import (
    average_generator_state,
    export_averaged_model,
    select_checkpoints,
)
from layout2im.training.checkpoint import CheckpointError
from tests.conftest import run_with_checkpoints


def test_average_is_the_mean_of_float_weights_and_the_newest_integer_buffers(tmp_path):
    states = run_with_checkpoints(tmp_path)
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
    run_with_checkpoints(tmp_path)
    steps = lambda paths: [int(p.stem[5:]) for p in paths]  # noqa: E731
    assert steps(select_checkpoints(tmp_path)) == [2, 4, 6]
    assert steps(select_checkpoints(tmp_path, from_step=3)) == [4, 6]
    assert steps(select_checkpoints(tmp_path, last=2)) == [4, 6]
    assert steps(select_checkpoints(tmp_path, from_step=2, last=1)) == [6]


def test_exported_model_loads_generates_and_records_its_checkpoints(tmp_path):
    states = run_with_checkpoints(tmp_path / "run")
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
    run_with_checkpoints(tmp_path, steps=(2,))
    run_with_checkpoints(tmp_path, steps=(4,), z_dim=16)
    with pytest.raises(CheckpointError, match=r"ckpt-00000004\.pt: generator weight .* has shape"):
        average_generator_state(select_checkpoints(tmp_path))


def test_cli_averages_and_reports_bad_input(tmp_path, capsys):
    run_with_checkpoints(tmp_path / "run")
    assert (
        main(["average", str(tmp_path / "run"), "--last", "2", "--out", str(tmp_path / "m")]) == 0
    )
    out = capsys.readouterr().out
    assert (
        "averaged 2 checkpoints (steps 4, 6)" in out
        and (tmp_path / "m" / "model.safetensors").is_file()
    )

    cases = [
        ([str(tmp_path / "missing")], "RUN_DIR not found: "),
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


def test_output_that_is_not_a_model_folder_is_refused_and_left_alone(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "00000-tiny"
    run_with_checkpoints(run, steps=(2, 4))
    (tmp_path / "notes.txt").write_text("keep me")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data.csv").write_text("keep me too")
    (tmp_path / "link").symlink_to(tmp_path / "other")
    (tmp_path / "bert").mkdir()  # another library's model folder, with the same file names
    (tmp_path / "bert" / "config.json").write_text('{"model_type": "bert"}')
    (tmp_path / "bert" / "model.safetensors").write_bytes(b"bert weights")
    (tmp_path / "huge").mkdir()  # a config.json over the metadata bound is not read whole
    with open(tmp_path / "huge" / "config.json", "wb") as f:
        f.truncate(MAX_METADATA_BYTES + 1)
    (run / "model").mkdir()
    monkeypatch.chdir(tmp_path)
    cases = [
        (run, "is the run folder"),
        (tmp_path / "runs", "a folder above it"),
        (run / "checkpoints", "its checkpoints"),
        (Path("."), "not the current folder"),
        (tmp_path, "not the current folder"),
        (tmp_path / "notes.txt", "is a file or a link"),
        (tmp_path / "link", "is a file or a link"),
        (tmp_path / "other", "other files than a model's (data.csv)"),
        (tmp_path / "notes.txt" / "model", "notes.txt is not a folder"),
        (tmp_path / "bert", "not a layout2im model's"),
        (tmp_path / "huge", "not a layout2im model's"),
        (run / "model", "its exported model"),
        (run / "model" / "averaged", "its exported model"),
    ]
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    for out, message in cases:
        with pytest.raises(CheckpointError, match=re.escape(message)):
            export_averaged_model(run, out)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
    assert (tmp_path / "notes.txt").read_text() == "keep me"

    # a new folder inside the run is fine, and so is replacing a model folder
    out, _ = export_averaged_model(run, run / "model-averaged")
    assert sorted(p.name for p in out.iterdir()) == sorted(MODEL_FILES)
    export_averaged_model(run, run / "model-averaged", last=1)
    meta = json.loads((out / "config.json").read_text())
    assert meta["provenance"]["averaged_checkpoint_steps"] == [4]  # the new one replaced it
    umask = os.umask(0)
    os.umask(umask)
    # as mkdir and open() make them, not mkdtemp's 0o700 or safetensors' 0o600
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask
    for name in MODEL_FILES:
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_a_failed_write_keeps_the_previous_model(tmp_path, monkeypatch):
    run_with_checkpoints(tmp_path / "run", steps=(2, 4))
    out, _ = export_averaged_model(tmp_path / "run", tmp_path / "model", last=1)
    before = (out / "model.safetensors").read_bytes()

    def fail(self, folder, provenance=None):
        (Path(folder) / "config.json").write_text("{half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Layout2ImPipeline, "save_pretrained", fail)
    with pytest.raises(CheckpointError, match=r"could not write the model to .*No space left"):
        export_averaged_model(tmp_path / "run", tmp_path / "model")
    assert (out / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "run"]


def test_a_failed_swap_puts_the_previous_model_back(tmp_path, monkeypatch):
    """The new folder is complete, the old one has been moved aside, and the last rename fails:
    the old model must be back at --out and no hidden folder left."""
    run_with_checkpoints(tmp_path / "run", steps=(2, 4))
    out, _ = export_averaged_model(tmp_path / "run", tmp_path / "model", last=1)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    rename = Path.rename

    def failing_rename(self, target):
        if self.name.startswith(".model-new-"):
            raise OSError(5, "Input/output error")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", failing_rename)
    with pytest.raises(CheckpointError, match=r"could not write the model to .*Input/output"):
        export_averaged_model(tmp_path / "run", tmp_path / "model")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "run"]


def test_checkpoints_of_another_vocabulary_or_without_a_generator_are_refused(tmp_path):
    run_with_checkpoints(tmp_path, steps=(2, 4))
    path = tmp_path / "checkpoints" / "ckpt-00000004.pt"
    state = torch.load(path, weights_only=True)
    state["vocab"] = list(reversed(state["vocab"]))
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="not a checkpoint of the same model"):
        average_generator_state(select_checkpoints(tmp_path))
    del state["models"]["generator"]
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"ckpt-00000004\.pt: 'models' must map generator"):
        average_generator_state(select_checkpoints(tmp_path))
    # a run folder given as its checkpoints folder gets a hint
    with pytest.raises(CheckpointError, match="give the run folder"):
        select_checkpoints(tmp_path / "checkpoints")


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda t: torch.full_like(t, float("nan")), r"holds [\d,]+ NaN and 0 infinite values"),
        (lambda t: t.to(torch.complex64), "is complex64, expected a floating-point tensor"),
    ],
)
def test_checkpoints_with_unusable_weights_are_refused(tmp_path, capsys, make, problem):
    run_with_checkpoints(tmp_path / "run", steps=(2, 4))
    path = tmp_path / "run" / "checkpoints" / "ckpt-00000002.pt"
    state = torch.load(path, weights_only=True)
    key = next(k for k in state["models"]["generator"] if k.endswith("weight"))
    state["models"]["generator"][key] = make(state["models"]["generator"][key])
    torch.save(state, path)
    assert main(["average", str(tmp_path / "run"), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"ckpt-00000002\.pt: models\.generator\['{re.escape(key)}'\] {problem}", err)
    assert err.count("\n") == 1 and not (tmp_path / "m").exists()
