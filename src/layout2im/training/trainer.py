"""The paper's training step and the state around it.

One iteration = one discriminator step then one generator step, as in the paper:

- D step: the generator's forward gives reconstructed and random images and crops; image D
  and object D see them (detached) against the real ones; the object D's auxiliary classifier
  learns on real crops.
- G step: every generator loss term against the freshly updated discriminators. The original
  recomputes the generator's forward here; ``train.reuse_generator_forward`` reuses the D
  step's forward instead (same losses, one forward fewer, different BN-statistics updates).

A step whose loss is not finite is skipped with a warning (the optimiser does not move).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from ..config import Config, ConfigError, TrainConfig
from ..hardware import resolve_amp
from ..layout import LayoutBatch
from ..losses import discriminator_loss, generator_loss
from ..models import GeneratorOutput, ImageDiscriminator, Layout2ImGenerator, ObjectDiscriminator
from ..models.computation import FAST_PATHS, parse_fast_paths, use_fast_paths
from ..vocab import Vocabulary
from .checkpoint import load_networks
from .distributed import DistEnv
from .graphs import GraphedCall

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class SpeedOptions:
    """How the trainer computes a step, never what: every combination trains the same model up
    to floating-point rounding (``docs/speed.md`` measures each).

    ``reuse_generator_forward``, ``channels_last``, ``static_shapes``, ``cudnn_benchmark``
    (CUDA only) and ``amp`` (``off``, ``bf16`` or ``auto``) are the ``train.*`` switches of the
    same names; ``fast_paths`` the networks' fast paths (names of
    :data:`~layout2im.models.computation.FAST_PATHS`, all by default). ``train.cuda_graphs`` is
    not among them: a captured graph is built with the trainer (its optimisers, its buffers).
    """

    reuse_generator_forward: bool = False
    channels_last: bool = False
    static_shapes: bool = False
    cudnn_benchmark: bool = False
    amp: str = "off"
    fast_paths: frozenset[str] = frozenset(FAST_PATHS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fast_paths", parse_fast_paths(self.fast_paths))

    @classmethod
    def of(cls, train: TrainConfig) -> SpeedOptions:
        """The options a training config asks for (every fast path: configs do not choose)."""
        return cls(
            reuse_generator_forward=train.reuse_generator_forward,
            channels_last=train.channels_last,
            static_shapes=train.static_shapes,
            cudnn_benchmark=train.cudnn_benchmark,
            amp=train.amp,
        )


class Trainer:
    """Models, optimisers, step counter and training RNG; :meth:`train_step` runs one iteration.

    ``rng`` (a CPU ``torch.Generator``) draws object shuffles, prior codes and the
    reparameterisation noise, so a run is reproducible from its seed and resumable from its
    checkpointed RNG state. In a distributed run (``env.world_size > 1``) every rank starts from
    the same weights, draws from its own ``rng`` (seeded by seed and rank) and the three
    networks are wrapped in DistributedDataParallel, which averages their gradients.
    """

    def __init__(
        self,
        config: Config,
        vocab: Vocabulary,
        device: torch.device | str = "cpu",
        env: DistEnv | None = None,
    ):
        self.config = config
        self.vocab = vocab
        self.env = env or DistEnv(device=torch.device(device))
        self.device = self.env.device if env is not None else torch.device(device)
        t = config.train
        if t.deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        seed_everything(t.seed)
        m = config.model
        self.generator = Layout2ImGenerator(m).to(self.device)
        sn = m.spectral_norm
        self.image_d = ImageDiscriminator(m.image_disc_channels, sn).to(self.device)
        self.object_d = ObjectDiscriminator(m.object_disc_channels, m.num_classes, sn).to(
            self.device
        )
        if t.sync_batchnorm and self.env.distributed:
            self.generator = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.generator)
        if t.cuda_graphs and (self.device.type != "cuda" or self.env.distributed):
            raise ConfigError(
                "train.cuda_graphs needs one process on a CUDA device "
                f"(this run: {self.device}, {self.env.world_size} process(es))"
            )
        self.memory_format = torch.contiguous_format
        self.set_speed_options(SpeedOptions.of(t))
        # capturable: the optimiser's step counters stay on the device (CUDA graphs)
        adam = dict(lr=t.effective_lr(), betas=(t.beta1, t.beta2), capturable=t.cuda_graphs)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), **adam)
        self.opt_d_img = torch.optim.Adam(self.image_d.parameters(), **adam)
        self.opt_d_obj = torch.optim.Adam(self.object_d.parameters(), **adam)
        self._graphed: GraphedCall | None = None
        self.graph_backend = None  # torch.cuda; tests substitute a CPU stand-in
        self._graphed_names: list[str] = []
        self.rng = torch.Generator().manual_seed(t.seed + 1_000_003 * self.env.rank)
        self.step = 0
        # The modules whose gradients are synchronised: DDP wrappers in a distributed run.
        self.g_train, self.d_img_train, self.d_obj_train = self._wrap()

    def _wrap(self):
        modules = (self.generator, self.image_d, self.object_d)
        if not self.env.distributed:
            return modules
        ids = [self.device] if self.device.type == "cuda" else None
        return tuple(DistributedDataParallel(m, device_ids=ids) for m in modules)

    def speed_options(self) -> SpeedOptions:
        """The options the trainer computes with now."""
        return dataclasses.replace(
            SpeedOptions.of(self.config.train), fast_paths=self._fast_paths_in_use()
        )

    def _fast_paths_in_use(self) -> frozenset[str]:
        """The fast paths in use in the three networks (each takes those it has)."""
        return frozenset(
            name
            for network in (self.generator, self.image_d, self.object_d)
            for module in network.modules()
            for name in getattr(module, "fast_paths", ())
        )

    def set_speed_options(self, options: SpeedOptions) -> None:
        """Compute the following steps with ``options`` (the same model, another speed). The
        trainer's ``config.train`` records them, so checkpoints and the run's config say what
        ran. ``cudnn_benchmark`` is left off under ``train.deterministic``; ``static_shapes``
        cannot be turned off under ``train.cuda_graphs``."""
        t = self.config.train
        if t.cuda_graphs and not options.static_shapes:
            raise ConfigError("train.cuda_graphs needs static_shapes: a graph replays fixed shapes")
        t.reuse_generator_forward = options.reuse_generator_forward
        t.static_shapes = options.static_shapes
        self.generator.static_shapes = options.static_shapes
        t.cudnn_benchmark = options.cudnn_benchmark
        if self.device.type == "cuda" and not t.deterministic:
            torch.backends.cudnn.benchmark = options.cudnn_benchmark
        t.amp = resolve_amp(options.amp, self.device)
        t.channels_last = options.channels_last
        memory_format = torch.channels_last if options.channels_last else torch.contiguous_format
        if memory_format != self.memory_format:
            self.memory_format = memory_format
            for module in (self.generator, self.image_d, self.object_d):
                module.to(memory_format=memory_format)
        for network in (self.generator, self.image_d, self.object_d):
            use_fast_paths(network, options.fast_paths)

    def autocast(self):
        """bf16 autocast when ``train.amp == "bf16"``, else a no-op context (``"auto"`` is
        resolved to one of the two when the trainer is built)."""
        t = self.config.train
        # no weight-cast cache under CUDA graphs: cached casts would outlive the capture
        return torch.autocast(
            self.device.type,
            dtype=torch.bfloat16,
            enabled=t.amp == "bf16",
            cache_enabled=not t.cuda_graphs,
        )

    # -- one iteration ------------------------------------------------------------------------

    def train_step(self, images: torch.Tensor, layout: LayoutBatch) -> StepResult:
        """images: (B, 3, H, W) ImageNet-normalised; layout: the batch's boxes and labels."""
        cfg = self.config.train
        self.generator.train()
        if cfg.static_shapes:  # every batch has max_objects slots per image
            layout = layout.padded(self.config.data.max_objects)
        layout, _ = layout.shuffled(self.rng)  # objects in a random order, per sample
        layout = layout.to(self.device)
        images = images.to(self.device).contiguous(memory_format=self.memory_format)
        z_rand = self._per_object_normal(layout)
        result = StepResult()
        if cfg.cuda_graphs:
            # the reparameterisation noise of both generator forwards, drawn in the order the
            # eager step draws it; the whole iteration replays as one CUDA graph
            eps = [self._per_object_normal(layout) for _ in range(2 - cfg.reuse_generator_forward)]
            inputs = (images, layout.labels, layout.boxes, layout.mask, z_rand, *eps)
            if self._graphed is None:
                self._graphed = GraphedCall(
                    self._graphed_iteration,
                    inputs,
                    self.iteration_state(),
                    backend=self.graph_backend,
                )
            losses = self._graphed(*inputs).tolist()
            names = self._graphed_names
            result.losses = dict(zip(names, losses, strict=True))
            bad = [k for k in ("D/total", "G/total") if not math.isfinite(result.losses[k])]
            if bad:
                raise FloatingPointError(
                    f"step {self.step}: {', '.join(bad)} is not finite; under train.cuda_graphs "
                    "a step cannot be skipped (resume from the last checkpoint, or train "
                    "without CUDA graphs, which skips such steps)"
                )
        else:
            d_terms, g_terms, result.d_applied, result.g_applied = self._iteration(
                images, layout, z_rand
            )
            result.losses = {f"D/{k}": v.item() for k, v in d_terms.items()}
            result.losses.update({f"G/{k}": v.item() for k, v in g_terms.items()})
        self.step += 1
        return result

    def _iteration(self, images, layout, z_rand, eps=(), check_finite: bool = True):
        """One D step and one G step on prepared inputs (see :meth:`train_step`). ``eps``: the
        reparameterisation noise of each generator forward (drawn from the trainer's RNG when
        empty). ``check_finite=False`` applies every update without looking at the loss (no
        host synchronisation: what a CUDA graph needs). Returns the D terms, the G terms and
        whether each update was applied."""
        cfg = self.config.train
        eps = list(eps)
        labels = self.generator.objects(layout)[0].labels

        # D step
        with torch.set_grad_enabled(cfg.reuse_generator_forward), self.autocast():
            out = self._generate(images, layout, z_rand, eps.pop(0) if eps else None)
        with self.autocast():
            d_terms = self._discriminator_terms(images, out.detached(), labels)
        d_opts = [self.opt_d_img, self.opt_d_obj]
        d_applied = self._apply(d_terms["total"], d_opts, "D", check_finite)

        # G step: the discriminators are frozen and called without their DDP wrappers (their
        # gradients are not wanted, so there is nothing to synchronise)
        if not cfg.reuse_generator_forward:
            with self.autocast():
                out = self._generate(images, layout, z_rand, eps.pop(0) if eps else None)
        with _frozen(self.image_d, self.object_d), self.autocast():
            g_terms = self._generator_terms(images, out, labels)
        with _frozen(self.image_d, self.object_d):
            g_applied = self._apply(g_terms["total"], [self.opt_g], "G", check_finite)
        return d_terms, g_terms, d_applied, g_applied

    def _graphed_iteration(self, images, labels, boxes, mask, z_rand, *eps) -> torch.Tensor:
        """:meth:`_iteration` on plain tensors, every update applied, its loss terms stacked
        into one tensor (names in ``_graphed_names``): the function a CUDA graph captures."""
        layout = LayoutBatch(labels, boxes, mask)
        d_terms, g_terms, _, _ = self._iteration(images, layout, z_rand, eps, check_finite=False)
        self._graphed_names = [f"D/{k}" for k in d_terms] + [f"G/{k}" for k in g_terms]
        return torch.stack([v.float() for v in (*d_terms.values(), *g_terms.values())])

    def iteration_state(self) -> list[torch.Tensor]:
        """Every tensor an iteration changes in place: parameters, buffers (BatchNorm
        statistics, spectral-norm vectors), optimiser states (after :meth:`init_optimizer_state`).
        """
        self.init_optimizer_state()
        tensors = [t for m in (self.generator, self.image_d, self.object_d) for t in m.parameters()]
        tensors += [b for m in (self.generator, self.image_d, self.object_d) for b in m.buffers()]
        for opt in (self.opt_g, self.opt_d_img, self.opt_d_obj):
            for state in opt.state.values():
                tensors += [v for v in state.values() if torch.is_tensor(v)]
        return tensors

    def init_optimizer_state(self) -> None:
        """Create the optimisers' per-parameter state now (zeros, step 0: what their first step
        would create), so that it lives at fixed addresses before a CUDA graph is captured."""
        for opt in (self.opt_g, self.opt_d_img, self.opt_d_obj):
            for group in opt.param_groups:
                for p in group["params"]:
                    state = opt.state[p]
                    if state:
                        continue
                    # where Adam itself puts it: on the device when capturable, else the CPU
                    where = p.device if group.get("capturable") else torch.device("cpu")
                    state["step"] = torch.zeros((), dtype=torch.float32, device=where)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _per_object_normal(self, layout: LayoutBatch) -> torch.Tensor:
        """N(0, I) codes (N, z_dim) from the trainer's RNG, one per real object (drawn on the
        CPU in float32); with static shapes scattered into the B * O slots (zeros in padding),
        so both paths draw the same numbers."""
        z = torch.randn(layout.num_objects, self.config.model.z_dim, generator=self.rng)
        z = z.to(self.device)
        if self.generator.static_shapes:
            z = layout.scatter(z).flatten(0, 1)
        return z

    def _generate(
        self,
        images: torch.Tensor,
        layout: LayoutBatch,
        z_rand: torch.Tensor,
        eps: torch.Tensor | None = None,
    ):
        """The generator's training forward; its reparameterisation noise is ``eps`` or comes
        from the trainer's RNG (drawn here with static shapes, one per real object, as the
        default path draws it inside the forward)."""
        if eps is None and self.generator.static_shapes:
            eps = self._per_object_normal(layout)
        if eps is not None:
            return self.g_train(images, layout, z_rand, eps=eps)
        return self.g_train(images, layout, z_rand, generator=self.rng)

    def _batched(self) -> bool:
        """One discriminator call per step and network in a distributed run: DDP synchronises
        one forward per backward."""
        return self.env.distributed

    def _image_d(self, module, *images: torch.Tensor) -> list[torch.Tensor]:
        """Image D logits for each batch; one call on their concatenation when batched (no
        norm layers, so the same logits, but one spectral-norm power iteration instead of one
        per call)."""
        if self._batched() and len(images) > 1:
            return list(module(torch.cat(images)).split([len(x) for x in images]))
        return [module(x) for x in images]

    def _object_d(self, module, *crops: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Object D (real/fake logits, class logits) for each batch of crops; see _image_d."""
        if self._batched() and len(crops) > 1:
            sizes = [len(x) for x in crops]
            src, cls = module(torch.cat(crops))
            return list(zip(src.split(sizes), cls.split(sizes), strict=True))
        return [module(x) for x in crops]

    def _discriminator_terms(self, images, fake: GeneratorOutput, labels):
        img_real, img_rec, img_rand = self._image_d(
            self.d_img_train, images, fake.img_rec, fake.img_rand
        )
        (obj_real, cls_real), (obj_rec, _), (obj_rand, _) = self._object_d(
            self.d_obj_train, fake.crops_real, fake.crops_rec, fake.crops_rand
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
            valid=fake.valid,
        )

    def _generator_terms(self, images, out: GeneratorOutput, labels):
        d_img_rec, d_img_rand = self._image_d(self.image_d, out.img_rec, out.img_rand)
        (obj_rec, cls_rec), (obj_rand, cls_rand) = self._object_d(
            self.object_d, out.crops_rec, out.crops_rand
        )
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
            valid=out.valid,
        )

    def _apply(self, loss: torch.Tensor, optimizers, name: str, check_finite: bool = True) -> bool:
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        if check_finite and not math.isfinite(loss.item()):
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

    def rng_state(self) -> dict:
        """This rank's RNG states (the trainer's generator, torch's CPU and CUDA generators)."""
        state = {"trainer": self.rng.get_state(), "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def set_rng_state(self, state: dict) -> None:
        self.rng.set_state(state["trainer"])
        torch.set_rng_state(state["torch"])
        if "cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"], self.device)

    def networks(self) -> dict[str, torch.nn.Module]:
        """The three networks by their name in a checkpoint's ``models``."""
        return {"generator": self.generator, "image_d": self.image_d, "object_d": self.object_d}

    def state_dict(self, rng_states: list[dict] | None = None) -> dict:
        """Everything needed to continue exactly: plain tensors and numbers only.

        ``rng_states``: every rank's :meth:`rng_state` in rank order (a distributed run gathers
        them first); by default this process's only."""
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
            "rng": rng_states if rng_states is not None else [self.rng_state()],
            "config": self.config.model_dump(),
            "vocab": self.vocab.names,
        }

    def load_state_dict(self, state: dict, where: str = "the checkpoint") -> None:
        """Continue from a checkpoint's state: networks (checked first, see
        :func:`~.checkpoint.load_networks`; ``where`` names the checkpoint in the error),
        optimisers, step and random streams."""
        load_networks(self.networks(), state["models"], where)
        self.opt_g.load_state_dict(state["optimizers"]["generator"])
        self.opt_d_img.load_state_dict(state["optimizers"]["image_d"])
        self.opt_d_obj.load_state_dict(state["optimizers"]["object_d"])
        states = state["rng"]
        if len(states) == self.env.world_size:
            self.set_rng_state(states[self.env.rank])
        else:
            log.warning(
                "the checkpoint holds RNG states of %d processes, this run has %d: continuing with "
                "fresh per-rank random streams (the run will not match an uninterrupted one)",
                len(states), self.env.world_size,
            )  # fmt: skip
            self.rng.manual_seed(
                self.config.train.seed + 1_000_003 * self.env.rank + int(state["step"])
            )
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
