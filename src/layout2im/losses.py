"""Loss terms as pure functions returning named, weighted terms.

Every function returns an ordered dict of the *weighted* terms plus ``"total"``, their sum; the
trainer logs every entry. The paper's form is non-saturating BCE (``gan="bce"``); ``"hinge"`` is
an option outside the ``paper-*`` presets.

Discriminator (one step): image D on real, and on 1/2 reconstructed + 1/2 random fakes; object
D on the same three kinds of crops; auxiliary classification on real crops only.

Generator (one step): L1(img_rec, real) x1, L1(mu(E(crops_rand)), z_rand) x10, KL summed over
objects and dimensions (not averaged) x0.01, image and object adversarial terms and the object
classification term, each 1/2 rec + 1/2 rand, x1.

Object terms take ``valid`` (BoolTensor (N,) or None): with the static-shape path N counts
every object slot and only the valid rows enter a mean or sum (padding gets no gradient).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F

from .config import LossConfig

Terms = dict[str, torch.Tensor]


def masked_mean(x: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean of x (N, ...) over all elements, or over the rows where ``valid`` (N,) is True."""
    if valid is None:
        return x.mean()
    rows = valid.view(-1, *([1] * (x.dim() - 1)))
    per_row = x[0].numel() if x.dim() > 1 else 1
    return torch.where(rows, x, 0).sum() / (valid.sum() * per_row)


def d_real_fake(
    real: torch.Tensor, fake: torch.Tensor, gan: str, valid: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Discriminator loss on real logits and fake logits: (loss_real, loss_fake), means."""
    if gan == "hinge":
        return masked_mean(F.relu(1.0 - real), valid), masked_mean(F.relu(1.0 + fake), valid)
    bce = partial(F.binary_cross_entropy_with_logits, reduction="none")
    return (
        masked_mean(bce(real, torch.ones_like(real)), valid),
        masked_mean(bce(fake, torch.zeros_like(fake)), valid),
    )


def g_fool(fake: torch.Tensor, gan: str, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Generator's adversarial loss on fake logits (non-saturating BCE, or hinge's -mean)."""
    if gan == "hinge":
        return -masked_mean(fake, valid)
    bce = F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake), reduction="none")
    return masked_mean(bce, valid)


def classification(
    logits: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy of class logits (N, classes) against labels (N,), mean over objects."""
    return masked_mean(F.cross_entropy(logits, labels, reduction="none"), valid)


def kl_divergence(
    mu: torch.Tensor, logvar: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over objects and dimensions. mu, logvar: (N, D)."""
    terms = 1.0 + logvar - mu.pow(2) - logvar.exp()
    if valid is not None:
        terms = torch.where(valid[:, None], terms, 0)
    return -0.5 * torch.sum(terms)


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
    valid: torch.Tensor | None = None,
) -> Terms:
    """Logits: image D (B,) for real / rec / rand images, object D (N,) for the three kinds of
    crops, class logits (N, classes) of the real crops; labels (N,); valid (N,) or None."""
    img_loss_real, img_loss_rec = d_real_fake(img_real, img_rec, weights.gan)
    _, img_loss_rand = d_real_fake(img_real, img_rand, weights.gan)
    obj_loss_real, obj_loss_rec = d_real_fake(obj_real, obj_rec, weights.gan, valid)
    _, obj_loss_rand = d_real_fake(obj_real, obj_rand, weights.gan, valid)
    terms: Terms = {
        "d_img_real": weights.img_adv * img_loss_real,
        "d_img_fake": weights.img_adv * (0.5 * img_loss_rec + 0.5 * img_loss_rand),
        "d_obj_real": weights.obj_adv * obj_loss_real,
        "d_obj_fake": weights.obj_adv * (0.5 * obj_loss_rec + 0.5 * obj_loss_rand),
        "d_obj_cls": weights.obj_cls * classification(cls_real, labels, valid),
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
    valid: torch.Tensor | None = None,
) -> Terms:
    """img_*: (B, 3, H, W); mu_rand, z_rand, mu, logvar: (N, z_dim); d_img_*: image D logits
    (B,); d_obj_*: object D logits (N,); cls_*: class logits (N, classes); labels (N,); valid
    (N,) or None."""
    gan = weights.gan
    terms: Terms = {
        "g_img_rec": weights.img_rec * (img_rec - img_real).abs().mean(),
        "g_z_rec": weights.z_rec * masked_mean((mu_rand - z_rand).abs(), valid),
        "g_kl": weights.kl * kl_divergence(mu, logvar, valid),
        "g_img_adv": weights.img_adv
        * (0.5 * g_fool(d_img_rec, gan) + 0.5 * g_fool(d_img_rand, gan)),
        "g_obj_adv": weights.obj_adv
        * (0.5 * g_fool(d_obj_rec, gan, valid) + 0.5 * g_fool(d_obj_rand, gan, valid)),
        "g_obj_cls": weights.obj_cls
        * (0.5 * classification(cls_rec, labels, valid)
           + 0.5 * classification(cls_rand, labels, valid)),
    }  # fmt: skip
    terms["total"] = sum(terms.values())  # type: ignore[assignment]
    return terms
