"""Loss terms as pure functions returning named, weighted terms.

Every function returns an ordered dict of the *weighted* terms plus ``"total"``, their sum; the
trainer logs every entry. The paper's form is non-saturating BCE (``gan="bce"``); ``"hinge"`` is
an option outside the ``paper-*`` presets.

Discriminator (one step): image D on real, and on 1/2 reconstructed + 1/2 random fakes; object
D on the same three kinds of crops; auxiliary classification on real crops only.

Generator (one step): L1(img_rec, real) x1, L1(mu(E(crops_rand)), z_rand) x10, KL summed over
objects and dimensions (not averaged) x0.01, image and object adversarial terms and the object
classification term, each 1/2 rec + 1/2 rand, x1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import LossConfig

Terms = dict[str, torch.Tensor]


def d_real_fake(
    real: torch.Tensor, fake: torch.Tensor, gan: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Discriminator loss on real logits and fake logits: (loss_real, loss_fake), means."""
    if gan == "hinge":
        return F.relu(1.0 - real).mean(), F.relu(1.0 + fake).mean()
    return (
        F.binary_cross_entropy_with_logits(real, torch.ones_like(real)),
        F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)),
    )


def g_fool(fake: torch.Tensor, gan: str) -> torch.Tensor:
    """Generator's adversarial loss on fake logits (non-saturating BCE, or hinge's -mean)."""
    if gan == "hinge":
        return -fake.mean()
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over objects and dimensions. mu, logvar: (N, D)."""
    return -0.5 * torch.sum(1.0 + logvar - mu.pow(2) - logvar.exp())


def discriminator_loss(
    img_real: torch.Tensor,
    img_rec: torch.Tensor,
    img_rand: torch.Tensor,
    obj_real: torch.Tensor,
    obj_rec: torch.Tensor,
    obj_rand: torch.Tensor,
    cls_real: torch.Tensor,
    labels: torch.Tensor,
    weights: LossConfig,
) -> Terms:
    """Logits: image D (B,) for real / rec / rand images, object D (N,) for the three kinds of
    crops, class logits (N, classes) of the real crops; labels (N,)."""
    img_loss_real, img_loss_rec = d_real_fake(img_real, img_rec, weights.gan)
    _, img_loss_rand = d_real_fake(img_real, img_rand, weights.gan)
    obj_loss_real, obj_loss_rec = d_real_fake(obj_real, obj_rec, weights.gan)
    _, obj_loss_rand = d_real_fake(obj_real, obj_rand, weights.gan)
    terms: Terms = {
        "d_img_real": weights.img_adv * img_loss_real,
        "d_img_fake": weights.img_adv * (0.5 * img_loss_rec + 0.5 * img_loss_rand),
        "d_obj_real": weights.obj_adv * obj_loss_real,
        "d_obj_fake": weights.obj_adv * (0.5 * obj_loss_rec + 0.5 * obj_loss_rand),
        "d_obj_cls": weights.obj_cls * F.cross_entropy(cls_real, labels),
    }
    terms["total"] = sum(terms.values())  # type: ignore[assignment]
    return terms


def generator_loss(
    img_rec: torch.Tensor,
    img_real: torch.Tensor,
    mu_rand: torch.Tensor,
    z_rand: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    d_img_rec: torch.Tensor,
    d_img_rand: torch.Tensor,
    d_obj_rec: torch.Tensor,
    d_obj_rand: torch.Tensor,
    cls_rec: torch.Tensor,
    cls_rand: torch.Tensor,
    labels: torch.Tensor,
    weights: LossConfig,
) -> Terms:
    """img_*: (B, 3, H, W); mu_rand, z_rand, mu, logvar: (N, z_dim); d_img_*: image D logits
    (B,); d_obj_*: object D logits (N,); cls_*: class logits (N, classes); labels (N,)."""
    gan = weights.gan
    terms: Terms = {
        "g_img_rec": weights.img_rec * (img_rec - img_real).abs().mean(),
        "g_z_rec": weights.z_rec * (mu_rand - z_rand).abs().mean(),
        "g_kl": weights.kl * kl_divergence(mu, logvar),
        "g_img_adv": weights.img_adv
        * (0.5 * g_fool(d_img_rec, gan) + 0.5 * g_fool(d_img_rand, gan)),
        "g_obj_adv": weights.obj_adv
        * (0.5 * g_fool(d_obj_rec, gan) + 0.5 * g_fool(d_obj_rand, gan)),
        "g_obj_cls": weights.obj_cls
        * (0.5 * F.cross_entropy(cls_rec, labels) + 0.5 * F.cross_entropy(cls_rand, labels)),
    }
    terms["total"] = sum(terms.values())  # type: ignore[assignment]
    return terms
