"""Property tests over hostile model folders, checkpoints, dataset files and raw HTTP requests
(tests/input_fuzz.py; benchmarks/fuzz.py runs the same families with many more examples)."""

import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from layout2im.pipeline import Layout2ImPipeline
from layout2im.web import create_app
from layout2im.web.server import bind_socket, make_server
from tests import input_fuzz as fz

FEW = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@pytest.fixture(scope="module")
def tiny_state():
    from layout2im.data import build_dataset
    from layout2im.training.trainer import Trainer
    from tests.conftest import tiny_config

    config = tiny_config()
    _, vocab = build_dataset(config.data, config.model.image_size)
    return Trainer(config, vocab).state_dict()


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


def test_hostile_dataset_files_stream_or_are_refused():
    with tempfile.TemporaryDirectory() as work:

        @FEW
        @given(fz.dataset_files())
        def run(example):
            fz.check_dataset_file(example, Path(work))

        run()


def test_hostile_raw_requests_never_get_a_5xx(tiny_model_dir):
    app = create_app(Layout2ImPipeline.from_pretrained(tiny_model_dir))
    sock = bind_socket("127.0.0.1", 0)
    server = make_server(app, log_level="warning", header_timeout_s=2.0, body_timeout_s=2.0)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:

        @FEW
        @given(fz.raw_requests())
        def run(data):
            fz.check_raw_request(sock.getsockname()[1], data)

        run()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
