import json
import logging

import pytest
import torch

from layout2im.data import build_dataset
from layout2im.data.collate import batch_layout, collate_layouts
from layout2im.training.checkpoint import (
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    load_latest_checkpoint,
    save_checkpoint,
)
from layout2im.training.loop import RunError, train
from layout2im.training.trainer import Trainer
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
    straight = train(tiny_config(steps=4), out_root=tmp_path / "a", progress=False)
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

    half = train(tiny_config(steps=2), out_root=tmp_path / "b", progress=False)
    resumed = train(tiny_config(steps=4), out_root=tmp_path / "b", resume=True, progress=False)
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
    run = train(config, out_root=tmp_path, progress=False)
    records = [json.loads(x) for x in (run / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert all(r["fid-shapes.fid_shapes"] >= 0 for r in records)
    best = json.loads((run / "model-best" / "best.json").read_text())
    assert best["value"] == min(r["fid-shapes.fid_shapes"] for r in records)
    assert (run / "model-best" / "model.safetensors").is_file()
