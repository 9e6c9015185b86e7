import copy
import dataclasses
import json
import logging

import pytest
import torch
import yaml

from layout2im.cli import main
from layout2im.config import DataConfig
from layout2im.data import build_dataset
from layout2im.data.collate import batch_layout, collate_layouts
from layout2im.data.shapes import SHAPE_CATEGORIES
from layout2im.errors import short_path
from layout2im.models.computation import FAST_PATHS
from layout2im.training.checkpoint import (
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    load_latest_checkpoint,
    save_checkpoint,
)
from layout2im.training.loop import RunError, train
from layout2im.training.trainer import SpeedOptions, Trainer
from tests.conftest import tiny_config, tiny_model_config


def _batches(config, n):
    dataset, vocab = build_dataset(config.data, config.model.image_size)
    b = config.train.batch_size
    return [collate_layouts([dataset[k * b + i] for i in range(b)]) for k in range(n)], vocab


def _params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("reuse", [False, True])
def test_steps_change_weights_and_keep_losses_finite(reuse):
    config = tiny_config(reuse_generator_forward=reuse)
    batches, vocab = _batches(config, 3)
    trainer = Trainer(config, vocab)
    before = [_params(m) for m in (trainer.generator, trainer.image_d, trainer.object_d)]
    for batch in batches:
        result = trainer.train_step(batch["images"], batch_layout(batch))
        assert result.d_applied and result.g_applied
        assert all(torch.isfinite(torch.tensor(v)) for v in result.losses.values())
    d_terms = ["d_img_real", "d_img_fake", "d_obj_real", "d_obj_fake", "d_obj_cls"]
    g_terms = ["g_img_rec", "g_z_rec", "g_kl", "g_img_adv", "g_obj_adv", "g_obj_cls"]
    expected = {f"D/{k}" for k in d_terms} | {f"G/{k}" for k in g_terms}
    assert expected <= set(result.losses)
    after = [_params(m) for m in (trainer.generator, trainer.image_d, trainer.object_d)]
    for b, a in zip(before, after, strict=True):
        assert any(not torch.equal(b[k], a[k]) for k in b)
    assert trainer.step == 3


def test_speed_options_switch_how_a_step_runs_not_what_it_computes():
    config = tiny_config()
    batches, vocab = _batches(config, 1)
    images, layout = batches[0]["images"], batch_layout(batches[0])
    fast = Trainer(copy.deepcopy(config), vocab)
    assert fast.speed_options() == SpeedOptions()  # the config's switches, every fast path
    reference = Trainer(copy.deepcopy(config), vocab)
    switched = SpeedOptions(
        reuse_generator_forward=True, channels_last=True, static_shapes=True, fast_paths=()
    )
    reference.set_speed_options(switched)
    assert reference.speed_options() == switched
    t = reference.config.train  # the run's config records what runs
    assert t.reuse_generator_forward and t.channels_last and t.static_shapes
    assert reference.generator.static_shapes
    assert reference.generator.computation == reference.image_d.computation == "reference"
    conv = next(m for m in reference.image_d.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    reference.set_speed_options(dataclasses.replace(switched, reuse_generator_forward=False))
    a = fast.train_step(images, layout).losses
    b = reference.train_step(images, layout).losses
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-3, abs=1e-4), key
    with pytest.raises(ValueError, match="unknown fast paths"):
        SpeedOptions(fast_paths=["nope"])
    assert SpeedOptions(fast_paths="fast").fast_paths == frozenset(FAST_PATHS)


def test_non_finite_loss_skips_the_update(caplog):
    config = tiny_config()
    batches, vocab = _batches(config, 1)
    trainer = Trainer(config, vocab)
    before = _params(trainer.image_d)
    images = batches[0]["images"].clone()
    images[0, 0, 0, 0] = float("nan")
    with caplog.at_level(logging.WARNING, logger="layout2im"):
        result = trainer.train_step(images, batch_layout(batches[0]))
    assert not result.d_applied and not result.g_applied
    assert "skipping this D update" in caplog.text
    after = _params(trainer.image_d)
    assert all(
        torch.equal(before[k], after[k]) for k in before if "weight" in k and "original" in k
    )


def test_checkpoint_round_trip_continues_identically(tmp_path):
    config = tiny_config()
    batches, vocab = _batches(config, 4)
    a = Trainer(config, vocab)
    for batch in batches[:2]:
        a.train_step(batch["images"], batch_layout(batch))
    path = save_checkpoint(a.state_dict(), tmp_path, a.step, keep=2)
    state = torch.load(path, weights_only=True)  # no pickled code in checkpoints
    b = Trainer(config, vocab)
    b.load_state_dict(state)
    for batch in batches[2:]:
        la = a.train_step(batch["images"], batch_layout(batch)).losses
        lb = b.train_step(batch["images"], batch_layout(batch)).losses
        assert la == lb
    for k, v in a.generator.state_dict().items():
        assert torch.equal(v, b.generator.state_dict()[k]), k


def test_checkpoints_are_pruned_and_truncation_is_detected(tmp_path, caplog):
    config = tiny_config()
    _, vocab = _batches(config, 1)
    trainer = Trainer(config, vocab)
    for step in (1, 2, 3):
        trainer.step = step
        save_checkpoint(trainer.state_dict(), tmp_path, step, keep=2)
    paths = list_checkpoints(tmp_path)
    assert [p.name for p in paths] == ["ckpt-00000002.pt", "ckpt-00000003.pt"]
    data = paths[-1].read_bytes()
    paths[-1].write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(paths[-1])
    with caplog.at_level(logging.WARNING, logger="layout2im"):
        state, used = load_latest_checkpoint(tmp_path)
    assert used == paths[0] and state["step"] == 2
    assert "falling back to the previous checkpoint" in caplog.text


@pytest.mark.slow
def test_train_writes_a_run_folder_and_resume_matches_an_uninterrupted_run(tmp_path):
    straight = train(tiny_config(steps=4), out_root=tmp_path / "a", progress=False).run_dir
    assert straight.name == "00000-tiny"
    for name in ("config.yaml", "log.txt", "stats.jsonl", "model/config.json",
                 "model/model.safetensors", "model/vocab.json"):  # fmt: skip
        assert (straight / name).is_file(), name
    records = [json.loads(line) for line in (straight / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert {"D/total", "G/total", "G/g_kl", "it_per_s", "img_per_s"} <= set(records[0])
    assert sorted(p.name for p in (straight / "samples").iterdir()) == [
        "step-00000002.png",
        "step-00000004.png",
    ]

    half = train(tiny_config(steps=2), out_root=tmp_path / "b", progress=False).run_dir
    resumed = train(
        tiny_config(steps=4), out_root=tmp_path / "b", resume=True, progress=False
    ).run_dir
    assert resumed == half
    a = load_checkpoint(list_checkpoints(straight / "checkpoints")[-1])
    b = load_checkpoint(list_checkpoints(resumed / "checkpoints")[-1])
    assert a["step"] == b["step"] == 4
    for k, v in a["models"]["generator"].items():
        assert torch.equal(v, b["models"]["generator"][k]), k
    lines_a = (straight / "stats.jsonl").read_text().splitlines()
    lines_b = (resumed / "stats.jsonl").read_text().splitlines()
    strip = lambda line: {k: v for k, v in json.loads(line).items() if "per_s" not in k}  # noqa: E731
    assert [strip(x) for x in lines_a] == [strip(x) for x in lines_b]


def test_resume_refuses_a_different_config(tmp_path):
    train(tiny_config(steps=2), out_root=tmp_path, progress=False)
    other = tiny_config(steps=4, lr=3e-4)
    with pytest.raises(RunError, match=r"different config.*train\.lr"):
        train(other, out_root=tmp_path, resume=True, progress=False)
    with pytest.raises(RunError, match="nothing to resume"):
        train(tiny_config(), out_root=tmp_path / "empty", resume=True, progress=False)


def test_batched_discriminator_calls_give_the_same_logits(monkeypatch):
    config = tiny_config()
    _, vocab = _batches(config, 1)
    trainer = Trainer(config, vocab)
    trainer.image_d.eval()  # no power iteration: compare the computation only
    trainer.object_d.eval()
    a, b = torch.randn(3, 3, 16, 16), torch.randn(2, 3, 16, 16)
    separate = trainer._image_d(trainer.image_d, a, b)
    crops = torch.randn(5, 3, 8, 8), torch.randn(4, 3, 8, 8)
    separate_obj = trainer._object_d(trainer.object_d, *crops)
    monkeypatch.setattr(trainer, "_batched", lambda: True)  # as in a distributed run
    for x, y in zip(separate, trainer._image_d(trainer.image_d, a, b), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)
    for (s1, c1), (s2, c2) in zip(
        separate_obj, trainer._object_d(trainer.object_d, *crops), strict=True
    ):
        torch.testing.assert_close(s1, s2, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(c1, c2, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_periodic_evaluation_keeps_the_best_model(tmp_path):
    config = tiny_config(
        steps=4, eval_every=2, eval_metrics=["fid-shapes"], eval_num_images=8,
        best_metric="fid-shapes.fid_shapes", best_mode="min",
    )  # fmt: skip
    # the shapes32 protocol is for 32x32 images: a tiny 32x32 model
    config.model = tiny_model_config(
        image_size=32,
        crop_size=16,
        object_encoder_channels=[4, 8, 8, 8],
        decoder_channels=[8, 8, 8, 4],
    )
    config.validate()
    run = train(config, out_root=tmp_path, progress=False).run_dir
    records = [json.loads(x) for x in (run / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert all(r["fid-shapes.fid_shapes"] >= 0 for r in records)
    best = json.loads((run / "model-best" / "best.json").read_text())
    assert best["value"] == min(r["fid-shapes.fid_shapes"] for r in records)
    assert (run / "model-best" / "model.safetensors").is_file()


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_best_metric_that_is_not_finite_keeps_the_best_model_as_it_was(
    tmp_path, monkeypatch, caplog, value
):
    from types import SimpleNamespace

    from layout2im.training import loop

    results = {
        "protocol": {"name": "p"},
        "metrics": {"m": {"status": "ok", "values": {"v": value}}},
    }
    monkeypatch.setattr(loop, "evaluate_generator", lambda *a, **k: results)
    trainer = SimpleNamespace(generator=torch.nn.Identity(), device="cpu")
    config = tiny_config(best_metric="m.v", best_mode="min")
    before = {"step": 2, "metric": "m.v", "value": 1.5}
    assert loop.evaluate_during_training(trainer, config, tmp_path, 4, before) is before
    assert not (tmp_path / "model-best").exists()
    assert "train.best_metric m.v is" in caplog.text and "not a best model" in caplog.text


# ----------------------------------------------------------------------------- hostile input


def _yaml_config(tmp_path, config):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.model_dump()))
    return str(path)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_resume_of_a_run_with_a_corrupt_config_names_the_file(tmp_path, capsys):
    run = train(tiny_config(steps=2), out_root=tmp_path, progress=False).run_dir
    (run / "config.yaml").write_text("model: [unclosed\n  : {")
    before = sorted(p.name for p in run.rglob("*"))
    args = ["train", "--config", _yaml_config(tmp_path, tiny_config(steps=4))]
    assert main([*args, "--out", str(tmp_path), "--resume", str(run), "--no-progress"]) == 2
    err = _one_error_line(capsys)
    config = short_path(run / "config.yaml")
    assert f"cannot resume {short_path(run)}: config {config} is not valid YAML" in err
    assert sorted(p.name for p in run.rglob("*")) == before


def test_resume_of_a_missing_run_folder_names_the_path_given(tmp_path, capsys):
    missing = tmp_path / "runs3" / "nonexistent-run"
    args = ["train", "--config", _yaml_config(tmp_path, tiny_config(steps=4))]
    assert main([*args, "--out", str(tmp_path / "r"), "--resume", str(missing)]) == 2
    assert f"--resume not found: {short_path(missing)}" in _one_error_line(capsys)
    assert not (tmp_path / "r").exists() and not (tmp_path / "runs3").exists()


def test_an_unreadable_checkpoint_skipped_on_resume_is_never_kept_by_pruning(tmp_path, caplog):
    run = train(
        tiny_config(steps=4, checkpoint_every=1, keep_checkpoints=2), tmp_path, False
    ).run_dir
    folder = run / "checkpoints"
    newest = list_checkpoints(folder)[-1]
    newest.write_bytes(newest.read_bytes()[:100])  # ckpt 4 unreadable; 3 is the good one
    with caplog.at_level(logging.WARNING, logger="layout2im"):
        train(
            tiny_config(steps=6, checkpoint_every=1, keep_checkpoints=2),
            tmp_path,
            resume=run,
            progress=False,
        )
    assert "renamed the unreadable checkpoint" in caplog.text
    assert [p.name for p in list_checkpoints(folder)] == ["ckpt-00000005.pt", "ckpt-00000006.pt"]
    for path in list_checkpoints(folder):
        load_checkpoint(path)  # both kept checkpoints are readable
    assert (folder / "ckpt-00000004.pt.unreadable").is_file()


def test_a_run_that_fails_at_start_has_the_error_in_its_log(tmp_path, capsys):
    config = tiny_config(steps=2)
    config.data.name = "coco-format"
    config.data.root = str(tmp_path / "no-such-data")
    config.data.coco.instances_json = "instances.json"
    args = ["train", "--config", _yaml_config(tmp_path, config)]
    assert main([*args, "--out", str(tmp_path / "runs"), "--no-progress"]) == 2
    err = _one_error_line(capsys)
    (run,) = (tmp_path / "runs").iterdir()
    log_text = (run / "log.txt").read_text()
    assert "training stopped: " in log_text and err[len("error: ") :].strip() in log_text
    assert not (run / "checkpoints").exists() and not (run / "model").exists()


def test_a_new_coco_format_run_takes_its_vocabulary_from_the_data(tmp_path, caplog):
    from layout2im.data.shapes_export import export_shapes_coco

    root = tmp_path / "data"
    export_shapes_coco(root, num_images=12, image_size=16)
    config = tiny_config(steps=2)
    config.data = DataConfig(
        name="coco-format",
        root=str(root),
        image_dir="images",
        min_objects=1,
        max_objects=8,
        coco={
            "instances_json": "annotations/instances.json",
            "stuff_only": False,
            "min_box_area": 0.0,
        },
    )
    rows = len(SHAPE_CATEGORIES) + 1  # row 0 __image__, then the categories by id
    assert config.model.num_classes == len(SHAPE_CATEGORIES)
    with caplog.at_level(logging.INFO, logger="layout2im"):
        run = train(config, tmp_path / "runs", progress=False).run_dir
    said = f"model.num_classes set to {rows}, the size of the coco-format vocabulary"
    assert said in caplog.text and said in (run / "log.txt").read_text()
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["num_classes"] == rows
    meta = json.loads((run / "model" / "config.json").read_text())
    assert meta["model"]["num_classes"] == rows

    # resuming continues the run (its config.yaml says 7)
    again = copy.deepcopy(config)
    again.model.num_classes = rows
    again.train.steps = 3
    assert train(again, tmp_path / "runs", resume=run, progress=False).run_dir == run

    # the data gained a category: the run's model cannot continue on the new vocabulary
    instances = root / "annotations" / "instances.json"
    coco = json.loads(instances.read_text())
    coco["categories"].append({"id": rows, "name": "moon"})
    instances.write_text(json.dumps(coco))
    again.train.steps = 4
    with pytest.raises(RunError, match="cannot continue on a different vocabulary"):
        train(again, tmp_path / "runs", resume=run, progress=False)
    assert [p.name for p in list_checkpoints(run / "checkpoints")][-1] == "ckpt-00000003.pt"
