"""The editor's HTTP API through Starlette's TestClient: every endpoint, every bad input."""

import base64
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from layout2im.pipeline import Layout2ImPipeline
from layout2im.web import create_app
from tests.image_samples import bomb_png, jpeg_bytes, solid_png, truncated_png

LAYOUT = {
    "objects": [
        {"id": "a", "category": "circle", "box": [0.1, 0.1, 0.5, 0.5]},
        {"id": "b", "category": "square", "box": [0.4, 0.4, 0.9, 0.9]},
    ]
}


@pytest.fixture(scope="module")
def pipe(tiny_model_dir):
    return Layout2ImPipeline.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def client(pipe):
    app = create_app(pipe, model_name="tiny", max_upload_bytes=200_000, max_pending=32)
    with TestClient(app, base_url=LOCAL) as c:
        yield c


JSON_HEADERS = {"content-type": "application/json"}
LOCAL = "http://127.0.0.1:8000"  # the server answers loopback host names only


def _decode(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def _generate(client, layout=LAYOUT, **kw):
    return client.post("/api/generate", json={"layout": layout, **kw})


def _assert_error(response, status, field, text=""):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "field"}
    assert body["field"] == field, body
    assert text in body["error"], body


# -- pages and read-only endpoints -------------------------------------------------------------


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<canvas id="canvas"' in page.text and "/static/editor.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from a CDN
    for name, kind in (("editor.js", "javascript"), ("editor.css", "text/css")):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/%2e%2e/app.py").status_code == 404


def test_info_categories_and_openapi(client, pipe):
    info = client.get("/api/info").json()
    assert info["name"] == "tiny" and info["image_size"] == 16 and info["z_dim"] == 4
    assert info["max_objects"] == 8 and info["max_upload_bytes"] == 200_000
    assert info["max_objects_accepted"] == 32
    assert client.get("/api/categories").json() == {
        "categories": pipe.vocab.categories,
        "groups": None,  # only vocabularies with groups (COCO-Stuff) have them
    }
    schema = client.get("/openapi.json").json()
    assert {"/api/generate", "/api/style", "/api/info", "/api/categories"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


# -- generate ---------------------------------------------------------------------------------


def test_generate_matches_the_pipeline(client, pipe):
    r = _generate(client, num_samples=3, seed=5)
    assert r.status_code == 200, r.text
    body = r.json()
    direct = pipe(LAYOUT, num_samples=3, seed=5)
    assert body["seed"] == 5 and body["ids"] == ["a", "b"]
    assert body["width"] == body["height"] == 16
    assert torch.equal(torch.tensor(body["latents"]), direct.latents)
    for b64, img in zip(body["images"], direct.images, strict=True):
        assert np.array_equal(_decode(b64), np.asarray(img))
    timing = body["timing"]
    assert 0 < timing["generate_ms"] <= timing["total_ms"] and timing["queue_ms"] >= 0


def test_generate_without_seed_returns_the_seed_it_drew(client):
    first = _generate(client, seed=None).json()
    again = _generate(client, seed=first["seed"]).json()
    assert again["images"] == first["images"]


def test_generate_with_a_style_data_url(client, pipe):
    data = solid_png((255, 0, 0))
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    layout = json.loads(json.dumps(LAYOUT))
    layout["objects"][0]["style"] = {"image": url, "box": [0, 0, 1, 1]}
    body = _generate(client, layout, num_samples=2, seed=1).json()
    code = pipe.encode_style(data, [0, 0, 1, 1], "circle")
    assert torch.allclose(torch.tensor(body["latents"])[:, 0], code.expand(2, -1), atol=1e-6)


def _styled(image: str) -> list[dict]:
    style = {"image": image, "box": [0, 0, 1, 1]}
    return [{"category": "circle", "box": [0, 0, 1, 1], "style": style}]


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


CIRCLE = LAYOUT["objects"][0]
BAD_LAYOUTS = [
    ([{"category": "dog", "box": [0, 0, 1, 1]}], "objects[0].category", "unknown category"),
    (
        [CIRCLE, {"category": "circle", "box": [0.1, 0.1, 1.2, 0.5]}],
        "objects[1].box",
        "x1 (1.2) is outside [0, 1]",
    ),
    ([{"category": "circle", "box": [0, 0, 1]}], "objects[0].box", "4 numbers"),
    ([CIRCLE] * 33, "objects", "at most 32"),
    ([], "objects", "empty"),
    ([{**CIRCLE, "z": [1.0]}], "objects[0].z", "z_dim is 4"),
    (_styled("/etc/passwd"), "objects[0].style.image", "file paths are not accepted"),
    (_styled(_data_url(b"GIF? no")), "objects[0].style.image", "not an image"),
    (_styled(_data_url(bomb_png())), "objects[0].style.image", "too many pixels"),
]


@pytest.mark.parametrize("objects, field, text", BAD_LAYOUTS)
def test_generate_bad_layouts(client, objects, field, text):
    _assert_error(_generate(client, {"objects": objects}), 422, f"layout.{field}", text)


def test_generate_bad_requests(client):
    post = client.post
    _assert_error(
        post("/api/generate", content=b'{"layout": ', headers={"content-type": "application/json"}),
        400,
        "body",
        "malformed JSON",
    )
    deep = b'{"layout": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    _assert_error(post("/api/generate", content=deep, headers=JSON_HEADERS), 400, "body")
    _assert_error(post("/api/generate", json=[1, 2]), 422, "body", "must be a JSON object")
    _assert_error(post("/api/generate", json={"seed": 1}), 422, "layout", "missing")
    _assert_error(post("/api/generate", json={"layout": "x"}), 422, "layout")
    _assert_error(_generate(client, num_samples=0), 422, "num_samples")
    _assert_error(_generate(client, num_samples=17), 422, "num_samples", "at most 16")
    _assert_error(_generate(client, num_samples="many"), 422, "num_samples")
    _assert_error(_generate(client, seed=-3), 422, "seed")
    _assert_error(_generate(client, rescale="gamma"), 422, "rescale")
    text = {"content-type": "text/plain"}
    r = post("/api/generate", content=json.dumps({"layout": LAYOUT}), headers=text)
    _assert_error(r, 415, "Content-Type", "must be application/json")
    _assert_error(post("/api/generate", content=b"{}"), 415, "Content-Type", "got none")
    _assert_error(client.get("/api/generate"), 405, None)
    _assert_error(client.get("/api/nothing"), 404, None)


def test_oversized_bodies_are_refused_declared_or_streamed(client):
    big = json.dumps({"layout": LAYOUT, "pad": "x" * (2 * 1024 * 1024)}).encode()
    headers = {"content-type": "application/json"}
    _assert_error(client.post("/api/generate", content=big, headers=headers), 413, "body", "2 MB")

    def chunks():  # no Content-Length: the limit applies while reading
        for k in range(0, len(big), 65536):
            yield big[k : k + 65536]

    r = client.post("/api/generate", content=chunks(), headers=headers)
    assert "content-length" not in r.request.headers
    _assert_error(r, 413, "body", "larger than the limit")
    _assert_error(
        client.post("/api/generate", content=b"{}", headers={**headers, "content-length": "abc"}),
        400,
        "Content-Length",
    )


# -- style ---------------------------------------------------------------------------------------


def _style(client, data, category="circle", box="[0, 0, 1, 1]", name="ref.png", mime="image/png"):
    return client.post(
        "/api/style", files={"file": (name, data, mime)}, data={"category": category, "box": box}
    )


def test_style_returns_the_pipelines_code(client, pipe):
    data = solid_png((250, 200, 0))
    body = _style(client, data, "star", "[0.1, 0.2, 0.7, 0.9]").json()
    expected = pipe.encode_style(data, [0.1, 0.2, 0.7, 0.9], "star")
    assert torch.allclose(torch.tensor(body["z"]), expected, atol=1e-6)
    assert body["category"] == "star" and body["box"] == [0.1, 0.2, 0.7, 0.9]
    jpeg = _style(client, jpeg_bytes((0, 0, 255)), name="x.jpg", mime="image/jpeg")
    assert jpeg.status_code == 200 and len(jpeg.json()["z"]) == 4
    # A PNG sent as "image/jpeg" named .txt is still a PNG: the bytes decide.
    liar = _style(client, data, "star", "[0.1, 0.2, 0.7, 0.9]", name="a.txt", mime="image/jpeg")
    assert liar.json()["z"] == body["z"]


def test_style_bad_uploads(client):
    _assert_error(_style(client, b"just some text", mime="image/png"), 415, "file", "not an image")
    _assert_error(_style(client, b"%PDF-1.7\n..."), 415, "file", "not an image")
    _assert_error(_style(client, truncated_png()), 422, "file", "truncated or corrupt")
    _assert_error(_style(client, bomb_png()), 413, "file", "too many pixels")
    _assert_error(_style(client, b"\x00" * 200_001), 413, "file", "larger than")
    _assert_error(_style(client, b"\x00" * 400_000), 413, "body", "larger than the limit")
    _assert_error(_style(client, solid_png((1, 2, 3)), category="dog"), 422, "category")
    _assert_error(_style(client, solid_png((1, 2, 3)), box="[0, 0, 2, 1]"), 422, "box", "outside")
    _assert_error(_style(client, solid_png((1, 2, 3)), box="left half"), 422, "box", "JSON list")
    r = client.post("/api/style", data={"category": "circle"})  # no file
    _assert_error(r, 415, "Content-Type", "multipart/form-data")
    r = client.post("/api/style", files={"other": ("a", b"x")}, data={"category": "circle"})
    _assert_error(r, 422, "file", "missing")
    _assert_error(client.post("/api/style", json={"file": "x"}), 415, "Content-Type")


# -- robustness and concurrency -----------------------------------------------------------------


def test_the_server_survives_bad_input_and_internal_errors(pipe, monkeypatch):
    app = create_app(pipe)
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as c:
        for _ in range(3):
            assert _style(c, truncated_png()).status_code == 422
            r = c.post("/api/generate", content=b"\xff\xfe", headers=JSON_HEADERS)
            assert r.status_code == 400
        original = Layout2ImPipeline.__call__

        def broken(self, *args, **kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr(Layout2ImPipeline, "__call__", broken)
        r = _generate(c)
        assert r.status_code == 500 and r.json()["error"] == "internal error: RuntimeError"
        monkeypatch.setattr(Layout2ImPipeline, "__call__", original)
        assert _generate(c).status_code == 200


def test_twenty_concurrent_requests_get_their_own_images(client, pipe):
    seeds = list(range(100, 120))
    expected = {s: pipe(LAYOUT, num_samples=2, seed=s) for s in seeds}
    barrier = threading.Barrier(len(seeds))

    def request(seed):
        barrier.wait()  # all threads fire together
        return seed, _generate(client, num_samples=2, seed=seed)

    with ThreadPoolExecutor(len(seeds)) as pool:
        answers = list(pool.map(request, seeds))
    for seed, r in answers:
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["seed"] == seed
        assert torch.equal(torch.tensor(body["latents"]), expected[seed].latents)
        for b64, img in zip(body["images"], expected[seed].images, strict=True):
            assert np.array_equal(_decode(b64), np.asarray(img))


def test_coco_stuff_categories_come_in_groups():
    from layout2im.conversion.vocabularies import category_groups, coco_stuff_vocabulary

    groups = category_groups(coco_stuff_vocabulary())
    assert [g["name"] for g in groups] == ["things", "stuff"]
    assert len(groups[0]["categories"]) == 80 and len(groups[1]["categories"]) == 91
    assert groups[0]["categories"][:2] == ["person", "bicycle"]
    assert groups[1]["categories"][-1] == "wood"


def test_more_objects_than_trained_generate_with_a_warning(client):
    obj = {"category": "circle", "box": [0.1, 0.1, 0.5, 0.5]}
    r = _generate(client, {"objects": [obj] * 10})
    assert r.status_code == 200
    warnings = r.json()["warnings"]
    assert len(warnings) == 1 and "10 objects" in warnings[0] and "at most 8" in warnings[0]
    assert _generate(client).json()["warnings"] == []


# -- hostile input -------------------------------------------------------------------------------


def test_style_box_nested_without_limit_is_a_422_naming_the_box(client, caplog):
    r = _style(client, solid_png((1, 2, 3)), box="[" * 100_000 + "]" * 100_000)
    _assert_error(r, 422, "box", "box: must be a JSON list")
    assert "Traceback" not in caplog.text


def test_style_box_with_a_huge_integer_is_a_422_naming_the_box(client, caplog):
    r = _style(client, solid_png((1, 2, 3)), box="[0, 0, " + "9" * 5000 + ", 1]")
    _assert_error(r, 422, "box", "an integer with 5000 digits")
    assert len(r.json()["error"]) < 200 and "Traceback" not in caplog.text


def test_both_content_length_and_transfer_encoding_is_a_400(client):
    headers = {"content-type": "application/json", "transfer-encoding": "chunked"}
    r = client.post("/api/generate", content=b"{}", headers={**headers, "content-length": "2"})
    _assert_error(r, 400, "Content-Length", "both Content-Length and Transfer-Encoding")
    long = {"content-type": "application/json", "content-length": "9" * 5000}
    _assert_error(client.post("/api/generate", content=b"{}", headers=long), 413, "body")


@pytest.mark.parametrize("value", [1e308, -3.5e38, 1e39, 1001.0])
def test_codes_beyond_float32_or_the_code_range_are_refused(client, value):
    layout = {"objects": [{"category": "circle", "box": [0, 0, 1, 1], "z": [0.0] * 3 + [value]}]}
    _assert_error(_generate(client, layout), 422, "layout.objects[0].z", "objects[0].z[3]:")


def test_a_megabyte_category_name_is_quoted_short(client):
    name = "c" * 1_000_000
    r = _generate(client, {"objects": [{"category": name, "box": [0, 0, 1, 1]}]})
    _assert_error(r, 422, "layout.objects[0].category", "unknown category 'ccc")
    assert len(r.content) < 1000
    r = _style(client, solid_png((1, 2, 3)), category="d" * 100_000)
    _assert_error(r, 422, "category", "unknown category 'ddd")
    assert len(r.content) < 1000


def test_requests_for_other_host_names_are_refused(client, pipe):
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example"):
        r = client.get("/api/info", headers={"Host": host})
        _assert_error(r, 400, "Host", "is not served here")
        assert len(r.content) < 400
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000", "LOCALHOST"):
        assert client.get("/api/info", headers={"Host": host}).status_code == 200, host
    with TestClient(create_app(pipe, allowed_hosts=None), base_url="http://evil.example") as c:
        assert c.get("/api/info").status_code == 200  # --host 0.0.0.0: any name, as asked
    app = create_app(pipe, allowed_hosts=("127.0.0.1", "editor.lan"))
    with TestClient(app, base_url="http://editor.lan:8000") as c:
        assert c.get("/api/info").status_code == 200


def test_cross_origin_posts_are_refused(client):
    data = solid_png((1, 2, 3))
    files = {"file": ("r.png", data, "image/png")}
    form = {"category": "circle", "box": "[0, 0, 1, 1]"}
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:9999"},  # another port is another origin
        {"Sec-Fetch-Site": "cross-site"},
    ):
        r = client.post("/api/style", files=files, data=form, headers=headers)
        _assert_error(r, 403, "Origin", "cross-origin")
        r = client.post("/api/generate", json={"layout": LAYOUT}, headers=headers)
        _assert_error(r, 403, "Origin", "cross-origin")
    same = {"Origin": LOCAL, "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/style", files=files, data=form, headers=same).status_code == 200
    assert client.get("/api/info", headers={"Origin": "http://evil.example"}).status_code == 200


def test_past_the_queue_bound_requests_get_503_with_retry_after(pipe, monkeypatch):
    entered, release = threading.Event(), threading.Event()
    real = pipe.style_codes

    def slow(layout, **kw):
        entered.set()
        assert release.wait(30)
        return real(layout, **kw)

    monkeypatch.setattr(pipe, "style_codes", slow)
    app = create_app(pipe, max_pending=1)
    with TestClient(app, base_url=LOCAL) as c, ThreadPoolExecutor(1) as pool:
        first = pool.submit(_generate, c)
        assert entered.wait(30)
        busy = _generate(c)
        release.set()
        assert first.result().status_code == 200
    _assert_error(busy, 503, None, "the server is busy")
    assert busy.headers["retry-after"] == "2"


def test_style_images_of_one_layout_share_a_pixel_budget(pipe):
    url = _data_url(solid_png((9, 9, 9), size=(300, 300)))
    two = [*_styled(url), {**_styled(url)[0], "box": [0.5, 0.5, 1, 1]}]
    with TestClient(create_app(pipe, max_style_pixels=100_000), base_url=LOCAL) as c:
        assert _generate(c, {"objects": _styled(url)}).status_code == 200
        r = _generate(c, {"objects": two})
        _assert_error(r, 422, "layout.objects[1].style.image", "more than 100000 pixels together")


def test_any_generate_body_gets_a_200_or_a_4xx_never_a_5xx(client, pipe):
    from hypothesis import HealthCheck, given, settings

    from tests import layout_fuzz as fz

    seen = set()

    @settings(max_examples=100, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(fz.api_bodies(pipe.vocab.categories, pipe.config.z_dim, pipe.max_objects))
    def run(body):
        seen.add(fz.check_api_generate(client, body))

    run()
    assert seen == {"refused", "generated"}


def test_generate_documents_the_layout_schema_and_reports_every_problem(client):
    schema = client.get("/openapi.json").json()
    request = schema["components"]["schemas"]["GenerateRequest"]["properties"]
    objects = request["layout"]["properties"]["objects"]["items"]
    assert objects["required"] == ["category", "box"]
    assert objects["properties"]["box"]["items"]["maximum"] == 1
    assert request["num_samples"]["type"] == "integer"

    bad = {"objects": [{"id": "a", "category": "qqq", "box": [0.5, 0, 0.2, 1]}]}
    r = _generate(client, bad)
    _assert_error(r, 422, "layout.objects[0].category", "objects[0].category (id 'a'): unknown")
    assert "objects[0].box (id 'a'): x1 (0.2) must be greater than x0 (0.5)" in r.json()["error"]
    surrogate = (
        b'{"layout": {"objects": [{"id": "\\ud800", "category": "circle", "box": [0,0,1,1]}]}}'
    )
    r = client.post(
        "/api/generate", content=surrogate, headers={"content-type": "application/json"}
    )
    _assert_error(r, 422, "layout.objects[0].id", "lone surrogate")
    for value in (True, "2"):
        _assert_error(_generate(client, num_samples=value), 422, "num_samples")
        _assert_error(_generate(client, seed=value), 422, "seed")
