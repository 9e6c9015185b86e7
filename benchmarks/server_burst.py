"""The editor's server under a burst of large requests: latency of a normal request meanwhile,
and the process's memory before, at the peak and after the burst.

    python benchmarks/server_burst.py

``--clients`` threads each send ``--requests`` layouts to ``POST /api/generate`` (through
Starlette's test client, in this process) whose objects all take their style from a
``--megapixels`` MP PNG sent as a ``data:`` URL (a uniform image: a small upload that decodes
to many pixels). The server's per-layout style budget (40 MP) lets the first image of a layout
be decoded and refuses the layout at the second (422); layouts with one styled object are
answered. Meanwhile one client times small requests. Memory is the resident set size
(``VmRSS``), sampled every 10 ms. Run twice: with the server as it is, and with
``--no-trim`` (freed memory not handed back after each model call) to show what that buys.
Writes ``<out>.json`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import platform
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import torch
from fastapi.testclient import TestClient
from PIL import Image

import layout2im
from layout2im.fsutil import write_text
from layout2im.pipeline import Layout2ImPipeline, default_model
from layout2im.web import app as web_app
from layout2im.web import create_app

RESULTS = Path(__file__).parent / "results"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def big_png_url(megapixels: float) -> str:
    side = int((megapixels * 1e6) ** 0.5)
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (200, 30, 30)).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def run(args, trim: bool) -> dict:
    if not trim:
        web_app._MALLOC_TRIM = None
    pipe = Layout2ImPipeline.from_pretrained(args.model or default_model())
    url = big_png_url(args.megapixels)
    style = {"image": url, "box": [0, 0, 1, 1]}
    many = {"objects": [{"category": "circle", "box": [0.1 * k, 0.1, 0.1 * k + 0.1, 0.5],
                         "style": style} for k in range(8)]}  # fmt: skip
    one = {"objects": [{"category": "circle", "box": [0.1, 0.1, 0.6, 0.6], "style": style}]}
    small = {"objects": [{"category": "square", "box": [0.2, 0.2, 0.8, 0.8]}]}
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    app = create_app(pipe, max_json_bytes=8 * 2**20)
    samples: list[float] = []
    stop = threading.Event()

    def sample_memory():
        while not stop.is_set():
            samples.append(rss_mb())
            time.sleep(0.01)

    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        client.post("/api/generate", json={"layout": small})  # warm up
        before = rss_mb()
        sampler = threading.Thread(target=sample_memory, daemon=True)
        sampler.start()

        def heavy(k: int):
            for i in range(args.requests):
                body = many if (i + k) % 2 == 0 else one
                r = client.post("/api/generate", json={"layout": body})
                with lock:
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        latencies = []
        start = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            futures = [pool.submit(heavy, k) for k in range(args.clients)]
            while not all(f.done() for f in futures):
                t = time.perf_counter()
                r = client.post("/api/generate", json={"layout": small})
                latencies.append(time.perf_counter() - t)
                assert r.status_code in (200, 503), r.text
            for f in futures:
                f.result()
        burst_s = time.perf_counter() - start
        time.sleep(0.5)
        stop.set()
        sampler.join()
        after = rss_mb()
    return {
        "trim": trim,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "burst_seconds": round(burst_s, 1),
        "normal_request_ms_median": round(statistics.median(latencies) * 1e3, 1),
        "normal_request_ms_max": round(max(latencies) * 1e3, 1),
        "rss_mb_before": round(before, 1),
        "rss_mb_peak": round(max(samples), 1),
        "rss_mb_after": round(after, 1),
    }


def render(record: dict) -> str:
    r = record["result"]
    return "\n".join([
        "# A burst of large style requests to the editor's server",
        "",
        f"Command: `{record['command']}`",
        f"{record['clients']} clients x {record['requests']} requests, each layout styled by a "
        f"{record['megapixels']} MP PNG; model {record['model']}; layout2im "
        f"{record['layout2im']}, torch {record['torch']}, {record['platform']}, "
        f"{record['created']}.",
        "",
        "| freed memory handed back | answers | normal request median / max (ms) | "
        "RSS before / peak / after (MB) |",
        "|---|---|---|---|",
        f"| {'yes' if r['trim'] else 'no (--no-trim)'} | {r['statuses']} | "
        f"{r['normal_request_ms_median']} / {r['normal_request_ms_max']} | "
        f"{r['rss_mb_before']} / {r['rss_mb_peak']} / {r['rss_mb_after']} |",
        "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="model folder or shipped name (default: the shipped model)")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--requests", type=int, default=4, help="requests per client")
    p.add_argument("--megapixels", type=float, default=39.0)
    p.add_argument("--no-trim", action="store_true", help="do not hand freed memory back")
    p.add_argument("--out", type=Path, help="output path stem (default results/server_burst)")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    result = run(args, trim=not args.no_trim)
    out = args.out or RESULTS / ("server_burst-no-trim" if args.no_trim else "server_burst")
    record = {
        "command": " ".join(["python", "benchmarks/server_burst.py", *(argv or sys.argv[1:])]),
        "clients": args.clients,
        "requests": args.requests,
        "megapixels": args.megapixels,
        "model": Path(str(args.model or default_model())).name,
        "layout2im": layout2im.__version__,
        "torch": torch.__version__,
        "platform": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "result": result,
    }
    write_text(out.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
    write_text(out.with_suffix(".md"), render(record))
    print(render(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
