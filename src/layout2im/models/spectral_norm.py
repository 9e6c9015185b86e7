"""Spectral normalisation (Miyato et al., ICLR 2018) in two iteration orders.

Both divide a layer's weight W (viewed as a matrix, out x in*kh*kw) by an estimate of its
largest singular value, ``sigma = u . (W v)``, kept up to date by power iterations whose
vectors u, v are buffers (saved with the weights). They differ in the order of each iteration:

- ``classic`` (:class:`ClassicSpectralNorm`): ``v <- normalize(W^T u)``, then
  ``u <- normalize(W v)``, once per training forward; u and v start as random unit vectors,
  with no warm-up. This is Miyato et al.'s algorithm and the legacy
  ``torch.nn.utils.spectral_norm``, which the authors' discriminators use; the ``paper-*``
  presets take it so that a converted discriminator continues exactly where theirs stopped.
- ``modern``: ``torch.nn.utils.parametrizations.spectral_norm``, which updates u before v and
  runs 15 warm-up iterations when it is applied. Its sigma estimates differ from the classic
  ones at every step (by 5-21% on the first discriminator outputs of identical weights).

Both are parametrizations (``module.parametrizations.weight``) with the same buffers, so the
state-dict keys are the same (``parametrizations.weight.original``, ``...0._u``, ``...0._v``).
Each access to ``module.weight`` in training mode runs one iteration; eval mode only reads u, v.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as modern_spectral_norm

SPECTRAL_NORMS = ("classic", "modern")
EPS = 1e-12


class ClassicSpectralNorm(nn.Module):
    """The parametrization ``W -> W / sigma`` with the classic iteration order (see module).

    weight: the layer's weight (out, ...); dim 0 is the output dimension (conv and linear)."""

    def __init__(self, weight: torch.Tensor, n_power_iterations: int = 1, eps: float = EPS):
        super().__init__()
        if weight.ndim < 2:
            raise ValueError("spectral norm needs a weight with at least 2 dimensions")
        self.n_power_iterations = n_power_iterations
        self.eps = eps
        rows, cols = weight.shape[0], weight[0].numel()
        # as the classic API: u, then v, each a random unit vector (the RNG is read in this order)
        u = F.normalize(weight.new_empty(rows).normal_(0, 1), dim=0, eps=eps)
        v = F.normalize(weight.new_empty(cols).normal_(0, 1), dim=0, eps=eps)
        self.register_buffer("_u", u)
        self.register_buffer("_v", v)

    @torch.no_grad()
    def power_iteration(self, weight_mat: torch.Tensor) -> None:
        """``n_power_iterations`` times: v from u, then u from v (in place in the buffers)."""
        for _ in range(self.n_power_iterations):
            self._v = F.normalize(
                torch.mv(weight_mat.t(), self._u), dim=0, eps=self.eps, out=self._v
            )
            self._u = F.normalize(torch.mv(weight_mat, self._v), dim=0, eps=self.eps, out=self._u)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        weight_mat = weight.flatten(1)
        if self.training:
            self.power_iteration(weight_mat)
        u = self._u.clone(memory_format=torch.contiguous_format)
        v = self._v.clone(memory_format=torch.contiguous_format)
        sigma = torch.dot(u, torch.mv(weight_mat, v))
        return weight / sigma


def spectral_norm(module: nn.Module, kind: str = "modern", eps: float = EPS) -> nn.Module:
    """``module`` (a conv or linear layer) with its weight spectrally normalised; ``kind`` is
    ``classic`` or ``modern`` (see the module docstring). ``eps`` guards the normalisations of
    the power iteration (``torch.nn.utils.spectral_norm``'s argument of that name)."""
    if kind == "modern":
        return modern_spectral_norm(module, eps=eps)
    if kind == "classic":
        # unsafe: the safe registration calls the parametrization once to check it, which in
        # training mode would be a power iteration the classic API does not run
        parametrize.register_parametrization(
            module, "weight", ClassicSpectralNorm(module.weight, eps=eps), unsafe=True
        )
        return module
    raise ValueError(f"spectral norm must be one of {', '.join(SPECTRAL_NORMS)}, got {kind!r}")
