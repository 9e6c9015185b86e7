"""``layout2im serve``: the failures it must report before serving anything."""

import socket

import pytest
from fastapi.testclient import TestClient

import layout2im.model_folder as model_folder_module
from layout2im.cli import main


def test_serve_without_a_model_explains_how_to_pass_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(model_folder_module, "PRETRAINED_DIR", tmp_path / "none")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no model is shipped") and "--model" in err
    assert "Traceback" not in err


def test_serve_with_a_bad_model_or_port(tmp_path, tiny_model_dir, capsys):
    assert main(["serve", "--model", str(tmp_path / "missing")]) == 2
    assert "--model not found: " in capsys.readouterr().err
    assert main(["serve", "--model", str(tiny_model_dir), "--port", "70000"]) == 2
    assert "--port must be between 0 and 65535" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["serve", "--model", str(tiny_model_dir), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_the_hosts_a_server_answers_follow_its_address(tiny_model_dir, monkeypatch):
    from layout2im.web import server

    assert server.allowed_hosts("127.0.0.1") == ("localhost", "127.0.0.1", "::1")
    assert server.allowed_hosts("192.168.1.20", ["Editor.LAN:8000"]) == (
        "localhost", "127.0.0.1", "::1", "192.168.1.20", "editor.lan"
    )  # fmt: skip
    assert server.allowed_hosts("0.0.0.0") is None and server.allowed_hosts("::") is None

    seen = {}

    class Stop(Exception):
        pass

    def fake_server(app, **kw):
        seen["app"] = app
        raise Stop

    monkeypatch.setattr(server, "make_server", fake_server)
    args = ["serve", "--model", str(tiny_model_dir), "--port", "0", "--allow-host", "box.lan"]
    with pytest.raises(Stop):  # the app was built; nothing is served
        main(args)

    with TestClient(seen["app"], base_url="http://box.lan:8000") as c:
        assert c.get("/api/info").status_code == 200
        assert c.get("/api/info", headers={"Host": "evil.example"}).status_code == 400
