"""The paper's training step and the state around it.

One iteration = one discriminator step then one generator step (DESIGN.md section 1):

- D step: the generator's forward gives reconstructed and random images and crops; image D
  and object D see them (detached) against the real ones; the object D's auxiliary classifier
  learns on real crops.
- G step: every generator loss term against the freshly updated discriminators. The original
  recomputes the generator's forward here; ``train.reuse_generator_forward`` reuses the D
  step's forward instead (same losses, one forward fewer, different BN-statistics updates).

A step whose loss is not finite is skipped with a warning (the optimiser does not move).
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import Config
from ..layout import LayoutBatch
from ..losses import discriminator_loss, generator_loss
from ..models import GeneratorOutput, ImageDiscriminator, Layout2ImGenerator, ObjectDiscriminator
from ..vocab import Vocabulary

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class StepResult:
    """Loss terms (floats) of one iteration and whether each optimiser step was applied."""

    losses: dict[str, float] = field(default_factory=dict)
    d_applied: bool = True
    g_applied: bool = True


class Trainer:
    """Models, optimisers, step counter and training RNG; :meth:`train_step` runs one iteration.

    ``rng`` (a CPU ``torch.Generator``) draws object shuffles, prior codes and the
    reparameterisation noise, so a run is reproducible from its seed and resumable from its
    checkpointed RNG state.
    """

    def __init__(self, config: Config, vocab: Vocabulary, device: torch.device | str = "cpu"):
        self.config = config
        self.vocab = vocab
        self.device = torch.device(device)
        seed_everything(config.train.seed)
        m = config.model
        self.generator = Layout2ImGenerator(m).to(self.device)
        self.image_d = ImageDiscriminator(m.image_disc_channels).to(self.device)
        self.object_d = ObjectDiscriminator(m.object_disc_channels, m.num_classes).to(self.device)
        t = config.train
        self.memory_format = torch.channels_last if t.channels_last else torch.contiguous_format
        for module in (self.generator, self.image_d, self.object_d):
            module.to(memory_format=self.memory_format)
        betas = (t.beta1, t.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=t.lr, betas=betas)
        self.opt_d_img = torch.optim.Adam(self.image_d.parameters(), lr=t.lr, betas=betas)
        self.opt_d_obj = torch.optim.Adam(self.object_d.parameters(), lr=t.lr, betas=betas)
        self.rng = torch.Generator().manual_seed(t.seed)
        self.step = 0

    # -- one iteration ------------------------------------------------------------------------

    def train_step(self, images: torch.Tensor, layout: LayoutBatch) -> StepResult:
        """images: (B, 3, H, W) ImageNet-normalised; layout: the batch's boxes and labels."""
        cfg = self.config.train
        self.generator.train()
        layout, _ = layout.shuffled(self.rng)  # objects in a random order, per sample
        layout = layout.to(self.device)
        images = images.to(self.device).contiguous(memory_format=self.memory_format)
        labels = layout.flat().labels
        z_rand = torch.randn(layout.num_objects, self.config.model.z_dim, generator=self.rng)
        z_rand = z_rand.to(self.device)
        result = StepResult()

        # D step
        with torch.set_grad_enabled(cfg.reuse_generator_forward):
            out = self.generator(images, layout, z_rand, generator=self.rng)
        d_terms = self._discriminator_terms(images, out.detached(), labels)
        result.d_applied = self._apply(d_terms["total"], [self.opt_d_img, self.opt_d_obj], "D")

        # G step
        if not cfg.reuse_generator_forward:
            out = self.generator(images, layout, z_rand, generator=self.rng)
        with _frozen(self.image_d, self.object_d):
            g_terms = self._generator_terms(images, out, labels)
            result.g_applied = self._apply(g_terms["total"], [self.opt_g], "G")

        self.step += 1
        result.losses = {f"D/{k}": v.item() for k, v in d_terms.items()}
        result.losses.update({f"G/{k}": v.item() for k, v in g_terms.items()})
        return result

    def _image_d(self, *images: torch.Tensor) -> list[torch.Tensor]:
        """Image D logits for each batch; one call on their concatenation when
        ``train.batch_discriminator_calls`` (no norm layers, so the same logits, but one
        spectral-norm power iteration instead of one per call)."""
        if self.config.train.batch_discriminator_calls and len(images) > 1:
            return list(self.image_d(torch.cat(images)).split([len(x) for x in images]))
        return [self.image_d(x) for x in images]

    def _object_d(self, *crops: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Object D (real/fake logits, class logits) for each batch of crops; see _image_d."""
        if self.config.train.batch_discriminator_calls and len(crops) > 1:
            sizes = [len(x) for x in crops]
            src, cls = self.object_d(torch.cat(crops))
            return list(zip(src.split(sizes), cls.split(sizes), strict=True))
        return [self.object_d(x) for x in crops]

    def _discriminator_terms(self, images, fake: GeneratorOutput, labels):
        img_real, img_rec, img_rand = self._image_d(images, fake.img_rec, fake.img_rand)
        (obj_real, cls_real), (obj_rec, _), (obj_rand, _) = self._object_d(
            fake.crops_real, fake.crops_rec, fake.crops_rand
        )
        return discriminator_loss(
            img_real=img_real,
            img_rec=img_rec,
            img_rand=img_rand,
            obj_real=obj_real,
            obj_rec=obj_rec,
            obj_rand=obj_rand,
            cls_real=cls_real,
            labels=labels,
            weights=self.config.train.loss,
        )

    def _generator_terms(self, images, out: GeneratorOutput, labels):
        d_img_rec, d_img_rand = self._image_d(out.img_rec, out.img_rand)
        (obj_rec, cls_rec), (obj_rand, cls_rand) = self._object_d(out.crops_rec, out.crops_rand)
        return generator_loss(
            img_rec=out.img_rec,
            img_real=images,
            mu_rand=out.mu_rand,
            z_rand=out.z_rand,
            mu=out.mu,
            logvar=out.logvar,
            d_img_rec=d_img_rec,
            d_img_rand=d_img_rand,
            d_obj_rec=obj_rec,
            d_obj_rand=obj_rand,
            cls_rec=cls_rec,
            cls_rand=cls_rand,
            labels=labels,
            weights=self.config.train.loss,
        )

    def _apply(self, loss: torch.Tensor, optimizers, name: str) -> bool:
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        if not math.isfinite(loss.item()):
            log.warning(
                "step %d: %s loss is %s; skipping this %s update",
                self.step,
                name,
                loss.item(),
                name,
            )
            return False
        loss.backward()
        for opt in optimizers:
            opt.step()
        return True

    # -- state ----------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to continue exactly: plain tensors and numbers only."""
        return {
            "step": self.step,
            "models": {
                "generator": self.generator.state_dict(),
                "image_d": self.image_d.state_dict(),
                "object_d": self.object_d.state_dict(),
            },
            "optimizers": {
                "generator": self.opt_g.state_dict(),
                "image_d": self.opt_d_img.state_dict(),
                "object_d": self.opt_d_obj.state_dict(),
            },
            "rng": {"trainer": self.rng.get_state(), "torch": torch.get_rng_state()},
            "config": self.config.to_dict(),
            "vocab": self.vocab.names,
        }

    def load_state_dict(self, state: dict) -> None:
        self.generator.load_state_dict(state["models"]["generator"])
        self.image_d.load_state_dict(state["models"]["image_d"])
        self.object_d.load_state_dict(state["models"]["object_d"])
        self.opt_g.load_state_dict(state["optimizers"]["generator"])
        self.opt_d_img.load_state_dict(state["optimizers"]["image_d"])
        self.opt_d_obj.load_state_dict(state["optimizers"]["object_d"])
        self.rng.set_state(state["rng"]["trainer"])
        torch.set_rng_state(state["rng"]["torch"])
        self.step = int(state["step"])


class _frozen:
    """Turn off parameter gradients of modules for the generator step (saves D's weight grads)."""

    def __init__(self, *modules: torch.nn.Module):
        self.params = [p for m in modules for p in m.parameters()]

    def __enter__(self):
        self.saved = [p.requires_grad for p in self.params]
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc):
        for p, flag in zip(self.params, self.saved, strict=True):
            p.requires_grad_(flag)
