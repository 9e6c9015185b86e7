"""Objects fuser: a multi-layer ConvLSTM reads each image's objects one by one.

The state starts at zero; the output is the last hidden state of the last layer after the
image's final object. Objects are read in slot order (the data pipeline shuffles that order per
sample during training, as the original does).

Two computations give the same result: :meth:`ObjectsFuser.forward` runs all images together,
step by step over the images that still have objects (sorted by object count);
:meth:`ObjectsFuser.forward_reference` runs image by image as the original code does.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import ConvLSTMCell


class ObjectsFuser(nn.Module):
    def __init__(self, input_dim: int, hidden: list[int], kernel_size: int):
        super().__init__()
        dims = [input_dim, *hidden]
        self.cells = nn.ModuleList(
            ConvLSTMCell(dims[i], dims[i + 1], kernel_size) for i in range(len(hidden))
        )

    def forward(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """feats: (N, C, h, w), the objects of ``mask`` in row-major order; mask: (B, O) bool,
        real objects packed at the front of each row. Returns (B, hidden[-1], h, w)."""
        B, O = mask.shape
        _, C, H, W = feats.shape
        counts = mask.sum(dim=1)
        # Sort images by object count (descending): at step t the images that still have an
        # object are a prefix of the batch, so each step runs on exactly those, unpadded.
        order = torch.argsort(counts, descending=True, stable=True)
        seq = feats.new_zeros(B, O, C, H, W)
        seq[mask] = feats
        seq = seq[order]
        active = (counts[order][None, :] > torch.arange(O, device=mask.device)[:, None]).sum(1)
        states = [cell.zero_state(B, H, W, feats) for cell in self.cells]
        for t, n in enumerate(active.tolist()):
            x = seq[:n, t]
            for k, cell in enumerate(self.cells):
                h, c = states[k]
                h_new, c_new = cell(x, (h[:n], c[:n]))
                states[k] = (torch.cat([h_new, h[n:]]), torch.cat([c_new, c[n:]]))
                x = h_new
        out = states[-1][0]
        return out[torch.argsort(order)]

    def forward_reference(self, feats: torch.Tensor, obj_to_img: torch.Tensor, batch_size: int):
        """The original's computation, one image at a time.

        feats: (N, C, h, w); obj_to_img: (N,) sorted image index. Returns (B, hidden[-1], h, w).
        """
        outputs = []
        for i in range(batch_size):
            seq = feats[obj_to_img == i]  # (T, C, h, w)
            for cell in self.cells:
                h, c = cell.zero_state(1, seq.shape[2], seq.shape[3], seq)
                steps = []
                for t in range(seq.shape[0]):
                    h, c = cell(seq[t : t + 1], (h, c))
                    steps.append(h)
                seq = torch.cat(steps, dim=0)
            outputs.append(h)
        return torch.cat(outputs, dim=0)
