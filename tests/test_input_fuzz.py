"""Property tests over hostile model folders, checkpoints, dataset files, raw HTTP requests
and slow HTTP clients (tests/input_fuzz.py, tests/dataset_fuzz.py, tests/http_fuzz.py;
benchmarks/fuzz.py runs the same families with many more examples)."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from layout2im.pipeline import Layout2ImPipeline
from layout2im.web import create_app
from tests import dataset_fuzz as df
from tests import http_fuzz as hf
from tests import input_fuzz as fz


def examples(n: int):
    return settings(
        max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )


FEW = examples(25)


@pytest.fixture(scope="module")
def tiny_state():
    from layout2im.data import build_dataset
    from layout2im.training.trainer import Trainer
    from tests.conftest import tiny_config

    config = tiny_config()
    _, vocab = build_dataset(config.data, config.model.image_size)
    return Trainer(config, vocab).state_dict()


@pytest.fixture(scope="module")
def tiny_app(tiny_model_dir):
    pipe = Layout2ImPipeline.from_pretrained(tiny_model_dir)
    return create_app(pipe), pipe.vocab.categories[0]


def test_hostile_model_folders_load_or_are_refused(tiny_model_dir):
    with tempfile.TemporaryDirectory() as work:

        @FEW
        @given(fz.model_folder_files(Path(tiny_model_dir)))
        def run(change):
            fz.check_model_folder(Path(tiny_model_dir), change, Path(work))

        run()


def test_hostile_checkpoints_load_or_are_refused(tiny_state):
    with tempfile.TemporaryDirectory() as work:

        @FEW
        @given(fz.checkpoint_states(tiny_state))
        def run(state):
            fz.check_checkpoint(state, Path(work))

        run()


def test_hostile_dataset_files_build_or_are_refused():
    with tempfile.TemporaryDirectory() as work:
        roots = df.write_roots(Path(work))

        @examples(40)
        @given(df.dataset_changes())
        def run(change):
            df.check_dataset(roots, change)

        run()
        for kind, name in (("vg", "objects.json"), ("coco", "instances.json")):  # restored
            assert df.check_dataset(roots, (kind, name, df.base_bytes(kind, name))) == "accepted"


def test_hostile_raw_requests_never_get_a_5xx(tiny_app):
    app, category = tiny_app
    outcomes = []
    with hf.serving(app, header_timeout_s=2.0, body_timeout_s=2.0) as port:

        @FEW
        @given(hf.raw_requests(category))
        def run(data):
            outcomes.append(hf.check_raw_request(port, data))

        run()
        for valid in (hf.INFO, hf.generate_request(category)):
            assert hf.check_raw_request(port, valid) == "accepted"
    assert "refused" in outcomes


def test_slow_clients_are_disconnected_in_time_and_steady_ones_answered(tiny_app):
    app, category = tiny_app
    with hf.serving(app, **hf.slow_server_deadlines()) as port:

        @examples(6)
        @given(hf.slow_clients(hf.min_body_size(category)))
        def run(plan):
            hf.check_slow_client(port, category, plan)

        run()
        size = hf.min_body_size(category) + 3000
        steady = hf.ClientPlan(size, head_chunk=50, head_pause=0.01, body_chunk=1000,
                               body_pause=0.02, idle_after=True)  # fmt: skip
        idle = hf.ClientPlan(size, 50, 0.0, 1000, 0.0, stop_after=0)
        assert [hf.check_slow_client(port, category, p) for p in (steady, idle)] == [
            "accepted", "refused"
        ]  # fmt: skip
