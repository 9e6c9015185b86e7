"""Distributed training (2 gloo processes on CPU under torchrun), hard kills and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from layout2im.cli import main
from layout2im.data.collate import ResumableSampler
from layout2im.training.checkpoint import list_checkpoints, load_checkpoint
from layout2im.training.distributed import port_is_free
from tests.conftest import tiny_config

WORKER = Path(__file__).with_name("ddp_worker.py")
REPO = Path(__file__).resolve().parents[2]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def _write_config(path: Path, **train) -> Path:
    path.write_text(yaml.safe_dump(tiny_config(**train).model_dump()))
    return path


def test_sampler_shards_each_epoch_between_ranks_and_resumes():
    full = ResumableSampler(10, seed=3)
    stream = [i for _, i in zip(range(30), full, strict=False)]
    assert sorted(stream[:10]) == list(range(10)) and stream[:10] != stream[10:20]  # reshuffled
    ranks = [ResumableSampler(10, seed=3, rank=r, world_size=2) for r in (0, 1)]
    shards = [[i for _, i in zip(range(15), s, strict=False)] for s in ranks]
    assert shards[0] == stream[0::2] and shards[1] == stream[1::2]
    resumed = ResumableSampler(10, seed=3, start=12, rank=1, world_size=2)
    assert [i for _, i in zip(range(5), resumed, strict=False)] == stream[13:23:2]


@pytest.mark.slow
def test_two_process_gloo_run_keeps_ranks_identical_and_only_rank0_writes(tmp_path):
    config = _write_config(tmp_path / "tiny.yaml", steps=3, checkpoint_every=3, sample_every=3)
    reports = tmp_path / "reports"
    reports.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(WORKER), str(config), str(tmp_path / "runs"), str(reports)]  # fmt: skip
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((reports / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["step"] == r1["step"] == 3
    assert r0["digests"] == r1["digests"]  # weights, BN statistics and spectral-norm vectors
    assert r0["run_dir"] == r1["run_dir"]
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 1  # one run folder, made by rank 0
    stats = (runs[0] / "stats.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in stats] == [1, 2, 3]  # written once
    assert [p.name for p in list_checkpoints(runs[0] / "checkpoints")] == ["ckpt-00000003.pt"]
    state = load_checkpoint(list_checkpoints(runs[0] / "checkpoints")[-1])
    assert len(state["rng"]) == 2  # both ranks' RNG states
    assert "global batch 4 = 2 process(es) x 2" in (runs[0] / "log.txt").read_text()


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path):
    config = _write_config(tmp_path / "tiny.yaml", steps=60, checkpoint_every=30, sample_every=1000,
                           log_every=1, deterministic=True)  # fmt: skip
    base = [sys.executable, "-m", "layout2im", "train", "--config", str(config), "--no-progress"]
    straight = subprocess.run(
        [*base, "--out", str(tmp_path / "a")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert straight.returncode == 0, straight.stderr[-3000:]

    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    proc = subprocess.Popen([*base, "--out", str(tmp_path / "b")], env=_env(), **quiet)
    ckpt_dir = tmp_path / "b" / "00000-tiny" / "checkpoints"
    deadline = time.time() + 200
    while (
        not (ckpt_dir / "ckpt-00000030.pt").exists()
        and proc.poll() is None
        and time.time() < deadline
    ):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert [p.name for p in list_checkpoints(ckpt_dir)] == ["ckpt-00000030.pt"]
    assert not (tmp_path / "b" / "00000-tiny" / "model").exists()

    resumed = subprocess.run(
        [*base, "--out", str(tmp_path / "b"), "--resume"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = load_checkpoint(list_checkpoints(tmp_path / "a" / "00000-tiny" / "checkpoints")[-1])
    b = load_checkpoint(list_checkpoints(ckpt_dir)[-1])
    assert a["step"] == b["step"] == 60
    for net in ("generator", "image_d", "object_d"):
        for key, value in a["models"][net].items():
            assert torch.equal(value, b["models"][net][key]), f"{net}.{key}"

    def losses(run):
        lines = (run / "00000-tiny" / "stats.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(x).items() if "per_s" not in k} for x in lines]

    assert losses(tmp_path / "a") == losses(tmp_path / "b")  # every step's losses, once each


def test_resume_skips_a_truncated_checkpoint_with_a_message(tmp_path, caplog):
    config = _write_config(tmp_path / "tiny.yaml", steps=4, checkpoint_every=2)
    args = ["train", "--config", str(config), "--out", str(tmp_path / "runs"), "--no-progress"]
    assert main(args) == 0
    ckpts = list_checkpoints(tmp_path / "runs" / "00000-tiny" / "checkpoints")
    data = ckpts[-1].read_bytes()
    ckpts[-1].write_bytes(data[: len(data) // 3])
    _write_config(config, steps=6, checkpoint_every=2)
    assert main([*args, "--resume"]) == 0
    assert "ckpt-00000004.pt is unreadable" in caplog.text
    assert "falling back to the previous checkpoint" in caplog.text
    assert "from ckpt-00000002.pt (step 2)" in caplog.text
    final = load_checkpoint(list_checkpoints(tmp_path / "runs" / "00000-tiny" / "checkpoints")[-1])
    assert final["step"] == 6


def test_nproc_reports_a_taken_port(tmp_path, capsys):
    import socket

    config = _write_config(tmp_path / "tiny.yaml", steps=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert not port_is_free(port)
        code = main(
            [
                "train",
                "--config",
                str(config),
                "--nproc",
                "2",
                "--master-port",
                str(port),
                "--out",
                str(tmp_path),
            ]
        )
    assert code == 2
    assert f"port {port} is already in use" in capsys.readouterr().err


@pytest.mark.slow
def test_a_dying_rank_gives_a_clear_failure_not_a_hang(tmp_path):
    config = _write_config(
        tmp_path / "tiny.yaml",
        steps=100000,
        checkpoint_every=100000,
        sample_every=100000,
        log_every=1000,
    )
    cmd = [sys.executable, "-m", "layout2im", "train", "--config", str(config), "--nproc", "2",
           "--out", str(tmp_path / "runs"), "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 120
    workers = []
    while time.time() < deadline and len(workers) < 2:
        out = subprocess.run(
            ["pgrep", "-f", "-P", str(_torchrun_pid(proc.pid)), "layout2im"],
            capture_output=True,
            text=True,
        )
        workers = out.stdout.split()
        time.sleep(0.2)
    assert len(workers) == 2, "workers did not start"
    time.sleep(3)  # let them train
    os.kill(int(workers[-1]), signal.SIGKILL)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "lost contact with another process" in output or "exitcode  : -9" in output, output[
        -3000:
    ]


def _torchrun_pid(parent: int) -> int:
    deadline = time.time() + 60
    while time.time() < deadline:
        out = subprocess.run(
            ["pgrep", "-P", str(parent)], capture_output=True, text=True
        ).stdout.split()
        if out:
            return int(out[0])
        time.sleep(0.1)
    raise AssertionError("torchrun did not start")
