"""CUDA-graph code paths on the CPU: GraphedCall's buffers and state restore, and the
trainer's graphed iteration, with a stand-in for torch.cuda whose "graph" re-runs the captured
function on replay (what a real graph does, minus the launch savings)."""

from __future__ import annotations

import contextlib

import pytest
import torch

from layout2im.config import ConfigError
from layout2im.data import build_dataset
from layout2im.data.collate import batch_layout, collate_layouts
from layout2im.training.graphs import GraphedCall
from layout2im.training.trainer import Trainer

from ..conftest import tiny_config


class FakeCuda:
    """Streams that do nothing; a graph whose capture runs ``fn`` once and whose replay runs
    it again on the call's input buffers, writing into the captured outputs."""

    def __init__(self, call=None, fn=None):
        self.call, self.fn = call, fn  # callables returning the GraphedCall / its function
        self.captures = self.replays = 0
        fake = self

        class Stream:
            def wait_stream(self, other):
                pass

        class Graph:
            def replay(self):
                fake.replays += 1
                call = fake.call()
                out = fake.fn()(*call.inputs)
                call.outputs.copy_(out)

        self.Stream = self.current_stream = Stream
        self.CUDAGraph = Graph

    @contextlib.contextmanager
    def stream(self, stream):
        yield

    @contextlib.contextmanager
    def graph(self, graph):
        self.captures += 1
        yield


def test_graphed_call_copies_inputs_and_restores_state():
    counter = torch.zeros(())
    weight = torch.tensor([2.0, 3.0])

    def fn(x):
        counter.add_(1)  # state changed in place, as a training step changes its weights
        return x * weight + counter

    holder = {}
    fake = FakeCuda(lambda: holder["call"], lambda: fn)
    call = GraphedCall(fn, [torch.ones(2)], state=[counter], warmup=2, backend=fake)
    holder["call"] = call
    assert fake.captures == 1 and counter.item() == 0  # warm-up and capture undone
    out = call(torch.tensor([1.0, 10.0]))
    assert out is call.outputs and torch.equal(out, torch.tensor([3.0, 31.0]))
    assert counter.item() == 1
    assert torch.equal(call(torch.tensor([0.0, 1.0])), torch.tensor([2.0, 5.0]))
    with pytest.raises(ValueError, match="fixed shapes"):
        call(torch.ones(3))
    with pytest.raises(ValueError, match="expected 1 inputs"):
        call(torch.ones(2), torch.ones(2))


def test_cuda_graphs_need_static_shapes_and_a_gpu(vocab):
    with pytest.raises(ConfigError, match="static_shapes"):
        tiny_config(cuda_graphs=True)
    with pytest.raises(ConfigError, match="CUDA device"):
        Trainer(tiny_config(cuda_graphs=True, static_shapes=True), vocab)


@pytest.mark.parametrize("reuse", [True, False])
def test_graphed_training_matches_eager(reuse):
    """Three steps: eager static-shape trainer vs the graphed one (captured at the first step
    after warm-up steps whose effects are undone): the same losses, weights and statistics."""
    trainers = []
    for graphed in (False, True):
        config = tiny_config(static_shapes=True, reuse_generator_forward=reuse)
        dataset, vocab = build_dataset(config.data, config.model.image_size)
        trainer = Trainer(config, vocab)
        if graphed:
            config.train.cuda_graphs = True  # on a CPU only with the stand-in below
            trainer.graph_backend = FakeCuda(
                lambda t=trainer: t._graphed, lambda t=trainer: t._graphed_iteration
            )
        trainers.append(trainer)
    eager, graphed = trainers
    for step in range(3):
        batch = collate_layouts([dataset[4 * step + i] for i in range(4)])
        r_e = eager.train_step(batch["images"], batch_layout(batch))
        r_g = graphed.train_step(batch["images"], batch_layout(batch))
        assert r_g.losses.keys() == r_e.losses.keys()
        for key, value in r_e.losses.items():
            assert r_g.losses[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
        for name in ("generator", "image_d", "object_d"):
            a, b = getattr(graphed, name).state_dict(), getattr(eager, name).state_dict()
            for key in b:
                torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
        for name in ("opt_g", "opt_d_img", "opt_d_obj"):
            a, b = getattr(graphed, name).state_dict(), getattr(eager, name).state_dict()
            for index, state in b["state"].items():
                for key, value in state.items():
                    torch.testing.assert_close(a["state"][index][key], value, rtol=1e-5, atol=1e-6)
    assert graphed.graph_backend.captures == 1 and graphed.graph_backend.replays == 3
    assert graphed.step == eager.step == 3
