"""CUDA graphs: capture a function of fixed-shape tensors once, replay it for new values.

A step of this model is hundreds of small kernels: at small batches a GPU waits on the Python
and launch overhead between them. A CUDA graph records the kernels once and launches them all
with one call. :class:`GraphedCall` holds the captured function's input buffers: each call
copies the new inputs into them, replays the graph and returns its output tensor(s), which the
next call overwrites (clone what you keep).

What it needs from the function: the same shapes every call (the static-shape path), no host
synchronisation (no ``.item()``, no data-dependent Python branches) and no CPU random numbers
inside (they are drawn outside and passed in). A function that changes tensors in place
(a training step: parameters, BatchNorm statistics, optimiser states) must name them in
``state``: the warm-up calls that precede the capture run on them for real, so they are copied
before and written back after, and the first replay starts where an eager call would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

WARMUP_CALLS = 3  # eager calls on a side stream before capturing (as PyTorch's docs advise)


class GraphedCall:
    """``fn(*inputs)`` captured into a CUDA graph.

    inputs: the example tensors (their shapes, dtypes and devices are fixed from now on; the
    values are the first call's); state: tensors ``fn`` updates in place (see the module
    docstring). ``backend``: the object providing ``Stream``, ``stream``, ``current_stream``,
    ``CUDAGraph`` and ``graph`` (``torch.cuda``; tests pass a CPU stand-in).
    """

    def __init__(
        self,
        fn: Callable[..., torch.Tensor],
        inputs: Sequence[torch.Tensor],
        state: Sequence[torch.Tensor] = (),
        warmup: int = WARMUP_CALLS,
        backend=None,
    ):
        cuda = backend if backend is not None else torch.cuda
        self.inputs = [x.detach().clone() for x in inputs]
        saved = [t.detach().clone() for t in state]
        side = cuda.Stream()
        side.wait_stream(cuda.current_stream())
        with cuda.stream(side):
            for _ in range(warmup):
                fn(*self.inputs)
        cuda.current_stream().wait_stream(side)
        self.graph = cuda.CUDAGraph()
        with cuda.graph(self.graph):
            self.outputs = fn(*self.inputs)
        with torch.no_grad():
            for tensor, value in zip(state, saved, strict=True):
                tensor.copy_(value)

    def __call__(self, *inputs: torch.Tensor):
        if len(inputs) != len(self.inputs):
            raise ValueError(f"expected {len(self.inputs)} inputs, got {len(inputs)}")
        for buffer, value in zip(self.inputs, inputs, strict=True):
            if buffer.shape != value.shape:
                raise ValueError(
                    f"a graphed call takes fixed shapes: {tuple(value.shape)} given, "
                    f"{tuple(buffer.shape)} captured"
                )
            buffer.copy_(value)
        self.graph.replay()
        return self.outputs
