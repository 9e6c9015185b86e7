"""The static-shape path (``train.static_shapes``, ``generator.static_shapes``) against the
default computation: every layout padded to a fixed number of object slots, padding masked out
of every statistic. Outputs, losses, gradients and BatchNorm statistics must match on the real
objects (float32 sums in another order: tolerances of a few 1e-5 relative)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from layout2im.data import build_dataset
from layout2im.data.collate import batch_layout, collate_layouts
from layout2im.layout import LayoutBatch
from layout2im.losses import discriminator_loss, generator_loss
from layout2im.models import Layout2ImGenerator
from layout2im.models.fuser import ObjectsFuser
from layout2im.models.layers import masked_batch_norm
from layout2im.training.trainer import Trainer

from ..conftest import tiny_config, tiny_model_config

SLOTS = 5  # the padded width: more than any layout below has


def close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


def grads_close(a: torch.Tensor, b: torch.Tensor) -> None:
    """Gradients through train-mode BatchNorm amplify float32 rounding (see test_bf16): the
    tolerance is relative to the gradient's scale, not to each element."""
    scale = b.abs().max().item()
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * max(scale, 1.0))


def layouts(generator: torch.Generator, batch: int = 4) -> LayoutBatch:
    """1..4 objects per image (at least one image with each count below 4)."""
    labels, boxes = [], []
    for i in range(batch):
        n = 1 + i % 4
        size = 0.2 + 0.5 * torch.rand(n, 2, generator=generator)
        corner = torch.rand(n, 2, generator=generator) * (1 - size)
        boxes.append(torch.cat([corner, corner + size], dim=1))
        labels.append(torch.randint(0, 10, (n,), generator=generator))
    return LayoutBatch.from_lists(labels, boxes)


def test_masked_batch_norm_is_batch_norm_of_the_valid_rows():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, 4, 4, generator=g)
    valid = torch.tensor([True, False, True, True, False, True, True])
    for momentum in (0.1, None):
        ref = nn.BatchNorm2d(3, affine=False, momentum=momentum)
        mine = copy.deepcopy(ref)
        for _ in range(2):
            expected = ref(x[valid])
            got = masked_batch_norm(mine, x, valid)
            close(got[valid], expected, rtol=1e-5, atol=1e-6)
            close(mine.running_mean, ref.running_mean, rtol=1e-6, atol=1e-7)
            close(mine.running_var, ref.running_var, rtol=1e-6, atol=1e-7)
            assert mine.num_batches_tracked == ref.num_batches_tracked
        # padding rows are normalised with the valid rows' statistics, and change nothing
        x2 = x.clone()
        x2[~valid] = 1e3
        before = mine.running_mean.clone()
        close(masked_batch_norm(copy.deepcopy(mine), x2, valid)[valid], ref(x[valid]), 1e-5, 1e-6)
        ref.running_mean.copy_(before)
    mine.eval(), ref.eval()
    close(masked_batch_norm(mine, x, valid), ref(x))
    with pytest.raises(ValueError):
        masked_batch_norm(nn.BatchNorm2d(3), x, valid)


def test_static_fuser_matches_packed_fuser():
    torch.manual_seed(0)
    fuser = ObjectsFuser(6, [5, 4], 3)
    layout = layouts(torch.Generator().manual_seed(1)).padded(SLOTS)
    _, valid = layout.slots()
    feats = torch.randn(len(valid), 6, 4, 4, requires_grad=True)
    static = fuser.forward_static(feats, layout.mask)
    packed = fuser(feats[valid], layout.mask)
    close(static, packed, 1e-5, 1e-6)
    w = torch.randn_like(static)
    (g_static,) = torch.autograd.grad((static * w).sum(), feats)
    (g_packed,) = torch.autograd.grad((packed * w).sum(), feats)
    close(g_static[valid], g_packed[valid], 1e-5, 1e-6)
    assert g_static[~valid].abs().max() == 0  # padding steps change nothing


def test_slots_and_padding():
    layout = layouts(torch.Generator().manual_seed(2))
    wide = layout.padded(SLOTS)
    assert wide.labels.shape == (4, SLOTS) and wide.mask.sum() == layout.mask.sum()
    objects, valid = wide.slots()
    assert objects.labels.shape == (4 * SLOTS,) and valid.shape == (4 * SLOTS,)
    flat = layout.flat()
    assert torch.equal(objects.labels[valid], flat.labels)
    assert torch.equal(objects.boxes[valid], flat.boxes)
    assert torch.equal(objects.obj_to_img[valid], flat.obj_to_img)
    with pytest.raises(ValueError):
        layout.padded(2)


@pytest.mark.parametrize("computation", ["fast", "reference"])
def test_generator_forward_outputs_statistics_and_gradients(computation):
    torch.manual_seed(0)
    dynamic = Layout2ImGenerator(tiny_model_config())
    dynamic.computation = computation
    static = copy.deepcopy(dynamic)
    static.static_shapes = True
    g = torch.Generator().manual_seed(3)
    layout = layouts(g).padded(SLOTS)
    _, valid = layout.slots()
    n = int(valid.sum())
    images = torch.randn(4, 3, 16, 16, generator=g)
    z, eps = torch.randn(n, 4, generator=g), torch.randn(n, 4, generator=g)
    out_d = dynamic(images, layout, z, eps=eps)
    out_s = static(
        images, layout, layout.scatter(z).flatten(0, 1), eps=layout.scatter(eps).flatten(0, 1)
    )
    assert out_d.valid is None and torch.equal(out_s.valid, valid)
    for name in ("img_rec", "img_rand"):
        close(getattr(out_s, name), getattr(out_d, name))
    for name in ("crops_real", "crops_rec", "crops_rand", "mu", "logvar", "mu_rand"):
        close(getattr(out_s, name)[valid], getattr(out_d, name))
    for (name, a), (_, b) in zip(static.named_buffers(), dynamic.named_buffers(), strict=True):
        close(a.float(), b.float(), rtol=1e-5, atol=1e-6), name

    # gradients of a functional of every output
    gw = torch.Generator().manual_seed(4)

    def functional(out, rows):
        total = 0
        for name in ("img_rec", "img_rand", "crops_rec", "mu", "logvar", "mu_rand"):
            value = getattr(out, name)
            value = value if rows is None or name.startswith("img") else value[rows]
            total = total + (value * torch.randn(value.shape, generator=gw)).sum()
        return total

    functional(out_d, None).backward()
    gw.manual_seed(4)
    functional(out_s, valid).backward()
    for (name, a), (_, b) in zip(
        static.named_parameters(), dynamic.named_parameters(), strict=True
    ):
        if b.grad is None:
            assert a.grad is None or a.grad.abs().max() == 0, name
            continue
        grads_close(a.grad, b.grad)


def test_generation_in_eval_mode_matches():
    torch.manual_seed(0)
    dynamic = Layout2ImGenerator(tiny_model_config()).eval()
    for module in dynamic.modules():  # non-trivial running statistics
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    static = copy.deepcopy(dynamic)
    static.static_shapes = True
    g = torch.Generator().manual_seed(5)
    layout = layouts(g).padded(SLOTS)
    z = torch.randn(layout.num_objects, 4, generator=g)
    with torch.no_grad():
        close(static.decode(layout, layout.scatter(z).flatten(0, 1)), dynamic.decode(layout, z))


def test_masked_losses_equal_the_losses_of_the_valid_rows():
    from layout2im.config import LossConfig

    g = torch.Generator().manual_seed(6)
    valid = torch.tensor([True, True, False, True, False, True])
    n, k = len(valid), 10
    r = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    labels = torch.randint(0, k, (n,), generator=g)
    for gan in ("bce", "hinge"):
        weights = LossConfig(gan=gan, kl=0.3)
        obj = dict(obj_real=r(n), obj_rec=r(n), obj_rand=r(n), cls_real=r(n, k))
        img = dict(img_real=r(3), img_rec=r(3), img_rand=r(3))
        masked = discriminator_loss(**img, **obj, labels=labels, weights=weights, valid=valid)
        plain = discriminator_loss(
            **img, **{key: v[valid] for key, v in obj.items()}, labels=labels[valid],
            weights=weights,
        )  # fmt: skip
        for key in plain:
            close(masked[key], plain[key], 1e-6, 1e-7)
        per_obj = dict(
            mu_rand=r(n, 4), z_rand=r(n, 4), mu=r(n, 4), logvar=r(n, 4), d_obj_rec=r(n),
            d_obj_rand=r(n), cls_rec=r(n, k), cls_rand=r(n, k),
        )  # fmt: skip
        per_img = dict(img_rec=r(3, 3, 4, 4), img_real=r(3, 3, 4, 4), d_img_rec=r(3),
                       d_img_rand=r(3))  # fmt: skip
        masked = generator_loss(**per_img, **per_obj, labels=labels, weights=weights, valid=valid)
        plain = generator_loss(
            **per_img, **{key: v[valid] for key, v in per_obj.items()}, labels=labels[valid],
            weights=weights,
        )  # fmt: skip
        for key in plain:
            close(masked[key], plain[key], 1e-6, 1e-7)


def _trainers(**train):
    """Two trainers with the same weights and RNG, default and static shapes, whose optimisers
    are plain SGD (a parameter's change is then its gradient, up to the learning rate)."""
    out = []
    for static in (False, True):
        config = tiny_config(static_shapes=static, **train)
        config.data.max_objects = SLOTS
        dataset, vocab = build_dataset(config.data, config.model.image_size)
        trainer = Trainer(config, vocab)
        for name, module in (("opt_g", trainer.generator), ("opt_d_img", trainer.image_d),
                             ("opt_d_obj", trainer.object_d)):  # fmt: skip
            setattr(trainer, name, torch.optim.SGD(module.parameters(), lr=0.05))
        out.append(trainer)
    return dataset, out


@pytest.mark.parametrize("reuse", [True, False])
def test_training_steps_match(reuse):
    dataset, (dynamic, static) = _trainers(reuse_generator_forward=reuse)
    assert static.generator.static_shapes and not dynamic.generator.static_shapes
    for step in range(3):
        batch = collate_layouts([dataset[4 * step + i] for i in range(4)])
        counts = batch_layout(batch).mask.sum(1)
        assert counts.min() < SLOTS  # padding in every batch
        r_d = dynamic.train_step(batch["images"], batch_layout(batch))
        r_s = static.train_step(batch["images"], batch_layout(batch))
        assert r_d.losses.keys() == r_s.losses.keys()
        for key, value in r_d.losses.items():
            assert r_s.losses[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
        for name in ("generator", "image_d", "object_d"):
            a, b = getattr(static, name).state_dict(), getattr(dynamic, name).state_dict()
            for key in b:  # parameters (moved by their gradients) and every buffer
                close(a[key].float(), b[key].float(), rtol=1e-4, atol=1e-5)
    assert torch.equal(static.rng.get_state(), dynamic.rng.get_state())
