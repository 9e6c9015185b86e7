"""Objects fuser: a multi-layer ConvLSTM reads each image's objects one by one.

The state starts at zero; the output is the last hidden state of the last layer after the
image's final object. Objects are read in slot order (the data pipeline shuffles that order per
sample during training, as the original does).

Two computations give the same result: :meth:`ObjectsFuser.forward` runs all images together,
padded to the longest and masked so that padding steps leave the state unchanged;
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
        seq = feats.new_zeros(B, O, C, H, W)
        seq[mask] = feats
        step_mask = mask[:, :, None, None, None].to(feats.dtype)
        for cell in self.cells:
            h, c = cell.zero_state(B, H, W, feats)
            outputs = []
            for t in range(O):
                h_new, c_new = cell(seq[:, t], (h, c))
                keep = step_mask[:, t]
                h = keep * h_new + (1 - keep) * h
                c = keep * c_new + (1 - keep) * c
                outputs.append(h)
            seq = torch.stack(outputs, dim=1)
        return h

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
