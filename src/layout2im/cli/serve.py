"""``layout2im serve``: the layout editor in the browser."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..pipeline import Layout2ImPipeline, default_model
from ..threads import GENERATE
from . import limits
from .options import CLIError, add_device_arg, add_int, add_model_arg, add_threads_arg


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="the interactive layout editor in the browser")
    add_model_arg(
        p, "a model folder or the name of a shipped model (default: the shipped default model)"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes it)",
    )
    add_int(p, "--port", bound=limits.PORT, default=8000, help="port (default 8000; 0 picks one)")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this host name (e.g. the name a reverse proxy forwards); "
        "by default only loopback names and the --host address are answered, any with "
        "--host 0.0.0.0 or ::",
    )
    add_device_arg(p)
    add_threads_arg(p, GENERATE)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    model = args.model if args.model is not None else default_model()
    pipe = Layout2ImPipeline.from_pretrained(model, device=args.device)
    # web/ needs fastapi and uvicorn (heavy): loaded only by this command, after the model
    from ..web.app import create_app
    from ..web.server import allowed_hosts, bind_socket, is_loopback, make_server

    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        raise CLIError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    host, port = sock.getsockname()[:2]
    folder = Path(str(model)).resolve()  # runs/<run>/model is named after its run
    name = f"{folder.parent.name}/{folder.name}" if folder.name == "model" else folder.name
    app = create_app(pipe, model_name=name, allowed_hosts=allowed_hosts(args.host, args.allow_host))
    shown = f"[{host}]" if ":" in host else host
    print(f"layout2im editor: http://{shown}:{port}/  (API docs: http://{shown}:{port}/docs)")
    if not is_loopback(args.host):
        print(
            f"warning: listening on {args.host}: anyone who can reach this machine can use the "
            "editor; there is no authentication",
            file=sys.stderr,
        )
    print("press Ctrl+C to stop")
    with sock:
        make_server(app).run(sockets=[sock])
    return 0
