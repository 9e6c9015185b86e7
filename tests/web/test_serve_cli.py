"""``layout2im serve``: the failures it must report before serving anything."""

import socket

import layout2im.pipeline as pipeline_module
from layout2im.cli import main


def test_serve_without_a_model_explains_how_to_pass_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pipeline_module, "PRETRAINED_DIR", tmp_path / "none")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no model is shipped") and "--model" in err
    assert "Traceback" not in err


def test_serve_with_a_bad_model_or_port(tmp_path, tiny_model_dir, capsys):
    assert main(["serve", "--model", str(tmp_path / "missing")]) == 2
    assert "model folder not found" in capsys.readouterr().err
    assert main(["serve", "--model", str(tiny_model_dir), "--port", "70000"]) == 2
    assert "--port must be between 0 and 65535" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["serve", "--model", str(tiny_model_dir), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
