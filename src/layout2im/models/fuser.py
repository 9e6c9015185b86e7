"""Objects fuser: a multi-layer ConvLSTM reads each image's objects one by one.

The state starts at zero; the output is the last hidden state of the last layer after the
image's final object. Objects are read in slot order (the data pipeline shuffles that order per
sample during training, as the original does).

Two computations give the same result: :meth:`ObjectsFuser.forward` runs all images together,
step by step over the images that still have objects (sorted by object count);
:meth:`ObjectsFuser.forward_reference` runs image by image as the original code does.

The batched computation runs layer by layer (a layer's inputs are the whole sequence of the
layer below's outputs), so the input half of each gate convolution, ``W_x * x``, runs over the
whole sequence in one call; each step only adds the recurrent half ``W_h * h``, which is zero
(and skipped) at the first step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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
        counts = mask.sum(dim=1)
        # Sort images by object count (descending): at step t the images that still have an
        # object are a prefix of the sorted batch, so each step runs on exactly those, unpadded.
        order = torch.argsort(counts, descending=True, stable=True)
        active = (counts[order][None, :] > torch.arange(O, device=mask.device)[:, None]).sum(1)
        steps = [n for n in active.tolist() if n > 0]
        # The sequence in time-major order: step t's objects are rows offsets[t] : + steps[t],
        # those of images order[0], ..., order[steps[t] - 1].
        rank = torch.empty_like(order)
        rank[order] = torch.arange(B, device=mask.device)
        slot = mask.cumsum(dim=1)[mask] - 1  # (N,) each object's step
        img = mask.nonzero()[:, 0]  # (N,) each object's image
        offsets = torch.tensor([0, *steps], device=mask.device).cumsum(0)
        x = feats[torch.argsort(offsets[slot] + rank[img])]
        h = x.new_zeros(0, self.cells[-1].hidden_dim, *feats.shape[2:])
        if steps:
            for cell in self.cells:
                x, h = self._layer(cell, x, steps)
        # images without objects (at the end of the sorted order) keep the zero state
        h = torch.cat([h, h.new_zeros(B - h.shape[0], *h.shape[1:])])
        return h[torch.argsort(order)]

    @staticmethod
    def _layer(
        cell: ConvLSTMCell, x: torch.Tensor, steps: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One ConvLSTM layer over a time-major packed sequence x (sum(steps), C, h, w).

        Returns the layer's outputs in the same packing and each sequence's last hidden state
        (steps[0], hidden, h, w) in the sorted image order."""
        c_in = x.shape[1]
        weight = cell.conv.weight
        pad = cell.conv.padding
        gates_x = F.conv2d(x, weight[:, :c_in], cell.conv.bias, padding=pad)
        outputs = []
        start = 0
        h = c = None
        for t, n in enumerate(steps):
            gates = gates_x[start : start + n]
            start += n
            if t > 0:
                gates = gates + F.conv2d(h[:n], weight[:, c_in:], padding=pad)
            i, f, o, g = torch.split(gates, cell.hidden_dim, dim=1)
            c_new = torch.sigmoid(i) * torch.tanh(g)
            if t > 0:
                c_new = torch.sigmoid(f) * c[:n] + c_new
            h_new = torch.sigmoid(o) * torch.tanh(c_new)
            outputs.append(h_new)
            if t == 0:
                h, c = h_new, c_new
            else:
                h, c = torch.cat([h_new, h[n:]]), torch.cat([c_new, c[n:]])
        return torch.cat(outputs), h

    def forward_static(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The same result with shapes that do not depend on the layout (the static-shape
        path): every image runs all O steps, and a step whose slot is padding leaves that
        image's state as it was (``torch.where``, so padding gets no gradient either).

        feats: (B * O, C, h, w), one row per slot in row-major order (padding rows are read
        but have no effect); mask: (B, O) bool, real objects packed at the front of each row.
        Returns (B, hidden[-1], h, w).
        """
        B, O = mask.shape
        x = feats.view(B, O, *feats.shape[1:])
        h = None
        for cell in self.cells:
            x, h = self._layer_static(cell, x, mask)
        return h

    @staticmethod
    def _layer_static(
        cell: ConvLSTMCell, x: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One ConvLSTM layer over x (B, O, C, h, w). Returns the outputs (B, O, hidden, h, w)
        and each image's hidden state after its last real object (B, hidden, h, w)."""
        B, O = mask.shape
        c_in = x.shape[2]
        weight = cell.conv.weight
        pad = cell.conv.padding
        gates_x = F.conv2d(x.flatten(0, 1), weight[:, :c_in], cell.conv.bias, padding=pad)
        gates_x = gates_x.view(B, O, *gates_x.shape[1:])
        outputs = []
        h = c = None
        for t in range(O):
            gates = gates_x[:, t]
            if t > 0:
                gates = gates + F.conv2d(h, weight[:, c_in:], padding=pad)
            i, f, o, g = torch.split(gates, cell.hidden_dim, dim=1)
            c_new = torch.sigmoid(i) * torch.tanh(g)
            if t > 0:
                c_new = torch.sigmoid(f) * c + c_new
            h_new = torch.sigmoid(o) * torch.tanh(c_new)
            if t == 0:  # every image has a first object
                h, c = h_new, c_new
            else:
                keep = mask[:, t, None, None, None]
                h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
            outputs.append(h_new)
        return torch.stack(outputs, dim=1), h

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
