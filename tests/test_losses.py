import math

import pytest
import torch

from layout2im.config import LossConfig
from layout2im.losses import discriminator_loss, generator_loss, kl_divergence


def test_kl_is_summed_not_averaged():
    mu = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    # per element: 0.5 * (mu^2 + var - 1 - logvar)
    expected = 0.5 * (1.0) + 0.5 * (2.0 - 1.0 - math.log(2.0)) + 0.0 + 0.5 * 4.0
    assert kl_divergence(mu, logvar).item() == pytest.approx(expected, rel=1e-6)
    assert kl_divergence(torch.zeros(5, 3), torch.zeros(5, 3)).item() == 0.0


def test_discriminator_loss_terms_on_known_logits():
    w = LossConfig()
    zero = torch.zeros(2)
    terms = discriminator_loss(
        img_real=zero, img_rec=zero, img_rand=zero, obj_real=torch.zeros(3),
        obj_rec=torch.zeros(3), obj_rand=torch.zeros(3), cls_real=torch.zeros(3, 4),
        labels=torch.tensor([0, 1, 2]), weights=w,
    )  # fmt: skip
    ln2 = math.log(2.0)
    for key in ("d_img_real", "d_img_fake", "d_obj_real", "d_obj_fake"):
        assert terms[key].item() == pytest.approx(ln2)
    assert terms["d_obj_cls"].item() == pytest.approx(math.log(4.0))
    assert terms["total"].item() == pytest.approx(4 * ln2 + math.log(4.0))


def test_discriminator_fake_term_averages_rec_and_rand():
    w = LossConfig()
    big = torch.full((2,), 30.0)  # a confident "real" on fakes costs ~30 each
    terms = discriminator_loss(
        img_real=big, img_rec=big, img_rand=-big, obj_real=big, obj_rec=-big, obj_rand=-big,
        cls_real=torch.zeros(2, 2), labels=torch.tensor([0, 1]), weights=w,
    )  # fmt: skip
    assert terms["d_img_fake"].item() == pytest.approx(15.0, rel=1e-3)
    assert terms["d_obj_fake"].item() == pytest.approx(0.0, abs=1e-6)
    assert terms["d_img_real"].item() == pytest.approx(0.0, abs=1e-6)


def test_generator_loss_terms_and_weights():
    w = LossConfig()
    real = torch.zeros(1, 3, 2, 2)
    rec = torch.ones(1, 3, 2, 2)
    mu_rand, z_rand = torch.zeros(2, 4), torch.full((2, 4), 0.5)
    mu, logvar = torch.ones(2, 4), torch.zeros(2, 4)
    logits = torch.zeros(1)
    obj = torch.zeros(2)
    cls = torch.zeros(2, 5)
    terms = generator_loss(
        img_rec=rec, img_real=real, mu_rand=mu_rand, z_rand=z_rand, mu=mu, logvar=logvar,
        d_img_rec=logits, d_img_rand=logits, d_obj_rec=obj, d_obj_rand=obj, cls_rec=cls,
        cls_rand=cls, labels=torch.tensor([1, 2]), weights=w,
    )  # fmt: skip
    assert terms["g_img_rec"].item() == pytest.approx(1.0)  # L1 x1
    assert terms["g_z_rec"].item() == pytest.approx(10 * 0.5)  # L1 on mu x10
    assert terms["g_kl"].item() == pytest.approx(0.01 * 0.5 * 8)  # summed over 2x4, x0.01
    assert terms["g_img_adv"].item() == pytest.approx(math.log(2.0))
    assert terms["g_obj_adv"].item() == pytest.approx(math.log(2.0))
    assert terms["g_obj_cls"].item() == pytest.approx(math.log(5.0))
    parts = sum(v.item() for k, v in terms.items() if k != "total")
    assert terms["total"].item() == pytest.approx(parts)


def test_hinge_option():
    w = LossConfig(gan="hinge")
    terms = discriminator_loss(
        img_real=torch.tensor([2.0]), img_rec=torch.tensor([0.0]), img_rand=torch.tensor([-2.0]),
        obj_real=torch.tensor([0.0]), obj_rec=torch.tensor([0.0]), obj_rand=torch.tensor([0.0]),
        cls_real=torch.zeros(1, 2), labels=torch.tensor([0]), weights=w,
    )  # fmt: skip
    assert terms["d_img_real"].item() == 0.0
    assert terms["d_img_fake"].item() == pytest.approx(0.5 * 1.0 + 0.5 * 0.0)
