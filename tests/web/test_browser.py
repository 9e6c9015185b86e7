"""The editor in a real browser: Playwright drives Debian's chromium against a live server.

Never runs ``playwright install``: it uses /usr/bin/chromium (``apt-get install chromium``;
``.ci/run`` installs it) and skips, saying so, only when that browser is absent.
"""

import base64
import contextlib
import io
import json
import threading
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from layout2im.pipeline import Layout2ImPipeline
from layout2im.web import create_app
from layout2im.web.server import bind_socket, make_server
from tests.image_samples import solid_png

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed at /usr/bin/chromium "
        "(apt-get install -y chromium; .ci/run does it on CI)",
    ),
]


@pytest.fixture(scope="module")
def pipe(tiny_model_dir):
    return Layout2ImPipeline.from_pretrained(tiny_model_dir)


@contextlib.contextmanager
def _serving(pipe, name: str):
    """The editor on a free loopback port; yields its URL."""
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = make_server(create_app(pipe, model_name=name), log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def server_url(pipe):
    with _serving(pipe, "tiny") as url:
        yield url


@pytest.fixture
def page(server_url):
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 820})
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.on("console", lambda m: _console(m, errors))
            page.goto(server_url)
            page.wait_for_selector("body[data-ready='1']")
            yield page
        finally:
            browser.close()
    assert errors == []


def _console(message, errors: list[str]) -> None:
    # Chromium logs every 4xx answer; the tests that provoke them check the page's message.
    expected = "Failed to load resource: the server responded with a status of 4"
    if message.type == "error" and not message.text.startswith(expected):
        errors.append(f"console error: {message.text}")


def _drag(page: Page, start, end):
    """Press at ``start`` and release at ``end``, both normalised canvas coordinates."""
    box = page.locator("#canvas").bounding_box()

    def at(p):
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    page.mouse.move(*at(start))
    page.mouse.down()
    mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    page.mouse.move(*at(mid), steps=4)
    page.mouse.move(*at(end), steps=4)
    page.mouse.up()


def _settle(page: Page):
    page.wait_for_function("() => window.layout2imEditor.settled()", timeout=20_000)
    return page.evaluate("() => window.layout2imEditor.state.result")


def _row(page: Page, index: int):
    return page.locator(f"#objects > li[data-index='{index}']")


def _pick_category(page: Page, index: int, typed: str, expected: str):
    combo = _row(page, index).locator("input.category")
    combo.click()
    combo.fill(typed)  # type to filter
    options = _row(page, index).locator("ul.options li[role='option']")
    assert expected in options.all_inner_texts()
    _row(page, index).locator(f"ul.options li[data-value='{expected}']").click()


def test_draw_pick_generate_resample_lock_style_and_files(page, pipe, tmp_path):
    boxes = [(0.08, 0.1, 0.45, 0.5), (0.52, 0.12, 0.92, 0.55), (0.25, 0.55, 0.75, 0.95)]
    for x0, y0, x1, y1 in boxes:
        _drag(page, (x0, y0), (x1, y1))
    assert page.locator("#objects > li").count() == 3
    for index, (typed, name) in enumerate([("squ", "square"), ("ci", "circle"), ("sta", "star")]):
        _pick_category(page, index, typed, name)
    result = _settle(page)
    layout = page.evaluate("() => window.layout2imEditor.layoutJson()")
    assert [o["category"] for o in layout["objects"]] == ["square", "circle", "star"]
    for obj, expected in zip(layout["objects"], boxes, strict=True):
        assert obj["box"] == pytest.approx(expected, abs=0.01)
    assert len({o["id"] for o in layout["objects"]}) == 3

    # Images appear: four variations, decoded at the model's size, and the time is shown.
    variations = page.locator("#variations img")
    assert variations.count() == 4
    assert page.evaluate("() => document.querySelector('#variations img').naturalWidth") == 16
    assert "generated in" in page.inner_text("#timing")
    direct = pipe(layout, num_samples=4, seed=0)
    assert torch.equal(torch.tensor(result["latents"]), direct.latents)

    # Resample the circle: the image changes, the other objects keep their codes.
    before_src = variations.first.get_attribute("src")
    before = torch.tensor(result["latents"])
    _row(page, 1).locator("button.resample").click()
    after = torch.tensor(_settle(page)["latents"])
    assert variations.first.get_attribute("src") != before_src
    assert torch.equal(after[:, [0, 2]], before[:, [0, 2]])
    assert not torch.equal(after[:, 1], before[:, 1])

    # Lock the star as it is in variation 3, then resample everything else.
    page.locator("#variations button.variation").nth(2).click()
    _row(page, 2).locator("button.lock").click()
    assert _row(page, 2).locator("button.lock").get_attribute("aria-pressed") == "true"
    locked = torch.tensor(_settle(page)["latents"])
    page.click("#new-seed")
    changed = torch.tensor(_settle(page)["latents"])
    assert all(torch.equal(changed[k, 2], after[2, 2]) for k in range(4))
    assert not torch.equal(changed[:, 0], locked[:, 0])

    # Move the square by dragging it: every code stays.
    _drag(page, (0.2, 0.3), (0.3, 0.35))
    moved = torch.tensor(_settle(page)["latents"])
    assert torch.equal(moved, changed)
    square = page.evaluate("() => window.layout2imEditor.layoutJson()")["objects"][0]
    assert square["box"] == pytest.approx([0.18, 0.15, 0.55, 0.55], abs=0.01)

    # Style the square from an uploaded reference photo (solid red).
    red = tmp_path / "red.png"
    red.write_bytes(solid_png((255, 0, 0), (60, 40)))
    _row(page, 0).locator("button.style").click()
    page.set_input_files("#style-file", str(red))
    page.click("#style-apply")
    page.wait_for_selector("#style-dialog", state="hidden")
    styled = torch.tensor(_settle(page)["latents"])
    code = pipe.encode_style(red.read_bytes(), [0, 0, 1, 1], "square")
    assert torch.allclose(styled[:, 0], code.expand(4, -1), atol=1e-5)
    assert _row(page, 0).locator("img.style-thumb").is_visible()

    screenshot = tmp_path / "editor.png"
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000

    # Download the layout and the image; the layout loads back (and into the pipeline).
    with page.expect_download() as info:
        page.click("#download-layout")
    saved = json.loads(Path(info.value.path()).read_text())
    assert saved == page.evaluate("() => window.layout2imEditor.layoutJson()")
    assert torch.equal(pipe(saved, num_samples=4, seed=page.evaluate(
        "() => window.layout2imEditor.state.seed")).latents, styled)  # fmt: skip
    with page.expect_download() as info:
        page.click("#download-image")
    image_b64 = page.evaluate("() => window.layout2imEditor.state.result.images[2]")
    assert Path(info.value.path()).read_bytes() == base64.b64decode(image_b64)
    seed = page.evaluate("() => window.layout2imEditor.state.seed")
    assert info.value.suggested_filename == f"layout2im-seed{seed}-sample2-1x.png"

    page.click("#clear")
    page.wait_for_function("() => document.querySelectorAll('#variations img').length === 0")
    saved["objects"][1]["category"] = "heart"
    layout_file = tmp_path / "layout.json"
    layout_file.write_text(json.dumps(saved))
    page.set_input_files("#load-layout", str(layout_file))
    # the file is read asynchronously: until it is, the empty editor counts as settled
    page.wait_for_function(
        f"() => window.layout2imEditor.state.objects.length === {len(saved['objects'])}"
    )
    _settle(page)
    assert page.evaluate("() => window.layout2imEditor.layoutJson()") == saved
    assert page.locator("#variations img").count() == 4


def test_server_errors_are_shown_and_name_the_object(page):
    page.evaluate(
        """() => window.layout2imEditor.loadLayout({objects: [
            {category: "circle", box: [0.1, 0.1, 0.5, 0.5]},
            {category: "zebra", box: [0.5, 0.5, 0.9, 0.9]}]})"""
    )
    page.wait_for_function("() => document.body.dataset.error === '1'")
    # the editor gives every object an id, which the message names with the index
    assert "objects[1].category (id 'o2'): unknown category 'zebra'" in page.inner_text("#error")
    assert _row(page, 1).get_attribute("class") == "object selected"


def _combo(page: Page, index: int):
    return _row(page, index).locator("input.category")


def _options(page: Page, index: int) -> list[str]:
    return _row(page, index).locator("ul.options li[role='option']").all_inner_texts()


def test_category_picker_behaves_as_a_person_expects(page, pipe):
    categories = pipe.vocab.categories
    # Right after drawing, the picker is open on every category, and the box has none yet
    # (it is not sent to the model until one is picked).
    _drag(page, (0.1, 0.1), (0.5, 0.5))
    combo = _combo(page, 0)
    assert combo.evaluate("el => el === document.activeElement")
    assert _options(page, 0) == categories
    assert combo.input_value() == "" and combo.get_attribute("placeholder") == "pick a category"
    assert page.evaluate("() => window.layout2imEditor.layoutJson()") == {"objects": []}
    combo.type("ci")
    assert _options(page, 0) == ["circle"]
    combo.press("Enter")
    assert page.evaluate("() => window.layout2imEditor.state.objects[0].category") == "circle"

    # A new box does not take the last category picked.
    _drag(page, (0.55, 0.55), (0.9, 0.9))
    assert page.evaluate("() => window.layout2imEditor.state.objects[1].category") is None
    assert _options(page, 1) == categories

    # An unknown name and Enter: said so, the text goes back to the box's category.
    _combo(page, 1).type("zzz")
    assert "no category matches" in _row(page, 1).locator("ul.options").inner_text()
    _combo(page, 1).press("Enter")
    assert "no category “zzz”" in page.inner_text("#notice")
    assert _combo(page, 1).input_value() == ""
    assert page.evaluate("() => window.layout2imEditor.state.objects[1].category") is None
    _row(page, 1).locator("ul.options li[data-value='square']").click()
    combo = _combo(page, 0)
    combo.click()
    assert _options(page, 0) == categories  # not filtered by its own value
    combo.fill("qqq")
    combo.press("Enter")
    assert "the box keeps “circle”" in page.inner_text("#notice")
    assert combo.input_value() == "circle"
    page.keyboard.press("Escape")
    result = _settle(page)
    sent = page.evaluate("() => window.layout2imEditor.layoutJson()")["objects"]
    assert [o["category"] for o in sent] == ["circle", "square"]
    assert len(result["ids"]) == 2

    # A box narrower than the model shows (16 px images here: 1-2 px) is enlarged, with a word.
    _drag(page, (0.3, 0.7), (0.33, 0.73))
    box = page.evaluate("() => window.layout2imEditor.state.objects[2].box")
    assert box[2] - box[0] == pytest.approx(4 / 16) and box[3] - box[1] == pytest.approx(4 / 16)
    assert "enlarged to 4 px of the model's 16×16 image" in page.inner_text("#notice")


# ----------------------------------------------------------------------------- a COCO model


@pytest.fixture(scope="module")
def coco_server_url(tmp_path_factory):
    """The editor on a converted random-weight model of the authors' COCO-Stuff vocabulary."""
    from layout2im.conversion import convert_original
    from tests.conversion import original_networks as orig

    folder = tmp_path_factory.mktemp("coco")
    state = orig.random_state(orig.generator_shapes(184), seed=4)
    torch.save(state, folder / "netG_coco.pt")
    convert_original(folder / "netG_coco.pt", "coco", folder / "model")
    pipe = Layout2ImPipeline.from_pretrained(folder / "model")
    with _serving(pipe, "coco") as url:
        yield url


def test_coco_model_categories_grouped_filtered_and_the_object_limit(coco_server_url, tmp_path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(coco_server_url)
            page.wait_for_selector("body[data-ready='1']")
            assert "171 categories, up to 8 objects" in page.inner_text("#model-info")
            _drag(page, (0.05, 0.05), (0.3, 0.3))
            options = _row(page, 0).locator("ul.options")
            groups = options.locator("li.group").all_inner_texts()
            assert [g.lower() for g in groups] == ["things", "stuff"]
            names = _options(page, 0)
            assert len(names) == 171 and names[0] == "person" and names[80] == "banner"
            assert "__image__" not in names and "other" not in names
            _combo(page, 0).type("sky")
            assert _options(page, 0) == ["sky-other", "skyscraper"]
            assert [g.lower() for g in options.locator("li.group").all_inner_texts()] == ["stuff"]
            _combo(page, 0).press("Enter")
            picks = ["person", "dog", "tree", "grass", "car", "clouds", "bench", "road"]
            cells = [(0.05 + 0.3 * (i % 3), 0.05 + 0.3 * (i // 3)) for i in range(9)]
            for i, name in enumerate(picks[1:], start=1):
                x, y = cells[i]
                _drag(page, (x, y), (x + 0.25, y + 0.25))
                _combo(page, i).type(name)
                _row(page, i).locator(f"ul.options li[data-value='{name}']").click()
            result = _settle(page)
            sent = page.evaluate("() => window.layout2imEditor.layoutJson()")["objects"]
            assert [o["category"] for o in sent] == ["sky-other", *picks[1:]]
            assert len(result["images"]) == 4 and page.inner_text("#error") == ""
            assert (
                page.evaluate("() => document.querySelector('#variations img').naturalWidth") == 64
            )
            # a ninth object, beyond the 8 the model was trained with: generated, with a warning
            x, y = cells[8]
            _drag(page, (x, y), (x + 0.2, y + 0.2))
            _combo(page, 8).type("sheep")
            _row(page, 8).locator("ul.options li[data-value='sheep']").click()
            page.wait_for_function("() => window.layout2imEditor.layoutJson().objects.length === 9")
            result = _settle(page)
            assert len(result["images"]) == 4
            warning = page.inner_text("#error")
            assert "the layout has 9 objects" in warning and "at most 8" in warning
            _combo(page, 2).click()
            page.screenshot(path=str(tmp_path / "coco-editor.png"))
        finally:
            browser.close()


@pytest.fixture(scope="module")
def lostgan_server_url(tmp_path_factory):
    """The editor on a converted random-weight LostGAN-v2 128 model (the authors' keys and
    shapes at a small width) of the COCO-Stuff vocabulary."""
    from layout2im.conversion import convert_lostgan
    from tests.models.lostgan import original_lostgan as orig

    folder = tmp_path_factory.mktemp("lostgan")
    state = orig.random_state(orig.generator_shapes(128, ch=2, mask_ch=8, head_ch=6), seed=5)
    torch.save(state, folder / "G_coco.pth")
    convert_lostgan(folder / "G_coco.pth", "coco", folder / "model")
    with _serving(Layout2ImPipeline.from_pretrained(folder / "model"), "lostgan-coco") as url:
        yield url


def _canvas_pixels(page: Page) -> list[int]:
    return page.evaluate(
        "() => { const c = document.querySelector('#canvas');"
        " return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
        ".filter((_, i) => i % 97 === 0)); }"
    )


def test_lostgan_model_mask_overlay_and_background_lock(lostgan_server_url, server_url, tmp_path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(lostgan_server_url)
            page.wait_for_selector("body[data-ready='1']")
            assert "128×128 images" in page.inner_text("#model-info")
            _drag(page, (0.05, 0.05), (0.95, 0.5))
            _combo(page, 0).type("sky-other")
            _row(page, 0).locator("ul.options li[data-value='sky-other']").click()
            _drag(page, (0.3, 0.55), (0.7, 0.95))
            _combo(page, 1).type("dog")
            _row(page, 1).locator("ul.options li[data-value='dog']").click()
            result = _settle(page)
            assert len(result["masks"]) == 4 and len(result["masks"][0]) == 2
            # no style from a photo for this architecture; masks and the background lock shown
            assert _row(page, 0).locator("button.style").is_hidden()
            assert page.locator("#show-mask-label").is_visible()
            assert page.locator("#lock-background-label").is_visible()
            page.uncheck("#show-boxes")
            plain = _canvas_pixels(page)
            page.check("#show-mask")  # the selected object (the dog) over a dimmed image
            assert _canvas_pixels(page) != plain
            page.screenshot(path=str(tmp_path / "lostgan-mask.png"))
            page.uncheck("#show-mask")
            assert _canvas_pixels(page) == plain
            # lock the background, then draw new codes for every object: the image code stays
            shown = result["image_latents"][0]
            page.check("#lock-background")
            assert page.evaluate("() => window.layout2imEditor.layoutJson().image_z") == shown
            page.click("#new-seed")
            page.wait_for_function(
                f"() => (window.layout2imEditor.state.result || {{}}).seed !== {result['seed']}"
            )
            locked = _settle(page)
            assert locked["image_latents"] == [shown] * 4
            assert locked["latents"][0] != result["latents"][0]
            page.uncheck("#lock-background")
            assert page.evaluate("() => window.layout2imEditor.layoutJson().image_z") is None
            # the Layout2Im model has style and neither masks nor an image code
            page.goto(server_url)
            page.wait_for_selector("body[data-ready='1']")
            assert page.locator("#show-mask-label").is_hidden()
            assert page.locator("#lock-background-label").is_hidden()
        finally:
            browser.close()


# ----------------------------------------------------------------- the seed, the view, downloads

LARGEST_SEED = 2**63 - 1  # the largest seed the server takes (19 digits)
SCENE = {"objects": [{"category": "circle", "box": [0.1, 0.15, 0.6, 0.7]},
                     {"category": "square", "box": [0.5, 0.4, 0.95, 0.9]}]}  # fmt: skip


def _set_seed(page: Page, text: str) -> None:
    page.fill("#seed", text)
    page.press("#seed", "Enter")  # the change event


def test_the_seed_field_shows_every_seed_the_server_takes_exactly(page, pipe):
    for width in (320, 800, 1200):  # a phone, one column, two columns
        page.set_viewport_size({"width": width, "height": 820})
        for seed in (1826638342, LARGEST_SEED):
            _set_seed(page, str(seed))
            assert page.input_value("#seed") == str(seed)
            scroll, client, right = page.evaluate(
                "() => { const e = document.querySelector('#seed');"
                " return [e.scrollWidth, e.clientWidth, e.getBoundingClientRect().right]; }"
            )
            assert scroll <= client, (width, seed)  # no digit scrolled out of view
            assert right <= width, (width, seed)  # nor off the page
    # the largest seed reaches the server exactly (a JavaScript Number would round it to 2**63)
    page.evaluate(f"() => window.layout2imEditor.loadLayout({json.dumps(SCENE)})")
    result = _settle(page)
    assert page.evaluate("() => window.layout2imEditor.state.seed") == LARGEST_SEED
    layout = page.evaluate("() => window.layout2imEditor.layoutJson()")  # with the editor's ids
    direct = pipe(layout, num_samples=4, seed=LARGEST_SEED)
    assert torch.equal(torch.tensor(result["latents"]), direct.latents)
    # a seed beyond the server's range is refused with a word, the field keeps the seed
    _set_seed(page, str(2**63))
    assert f"a whole number from 0 to {LARGEST_SEED}" in page.inner_text("#notice")
    assert page.input_value("#seed") == str(LARGEST_SEED)
    assert page.evaluate("() => window.layout2imEditor.state.seed") == LARGEST_SEED


def _model_image(page: Page) -> Image.Image:
    b64 = page.evaluate("() => window.layout2imEditor.state.result.images[0]")
    return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")


def _view(page: Page) -> dict:
    """How the page scales the model's image: the canvas's smoothing, the variations' CSS and
    the canvas's pixel at the centre of every model pixel (row-major RGB)."""
    return page.evaluate(
        """(n) => {
            const c = document.querySelector('#canvas');
            const ctx = c.getContext('2d');
            const data = ctx.getImageData(0, 0, c.width, c.height).data;
            const at = (k) => Math.floor((k + 0.5) * c.width / n);  // a model pixel's centre
            const centres = [];
            for (let y = 0; y < n; y++)
                for (let x = 0; x < n; x++) {
                    const i = (at(y) * c.width + at(x)) * 4;
                    centres.push([data[i], data[i + 1], data[i + 2]]);
                }
            const thumb = document.querySelector('#variations img');
            return {
                smoothing: ctx.imageSmoothingEnabled,
                rendering: getComputedStyle(thumb).imageRendering,
                every: Array.from(data.filter((_, i) => i % 97 === 0)),
                centres,
                tooltip: document.querySelector('#download-scale').title,
            };
        }""",
        _model_image(page).width,
    )


def _download(page: Page, scale: str):
    page.select_option("#download-scale", scale)
    with page.expect_download() as info:
        page.click("#download-image")
    path = Path(info.value.path())
    return info.value.suggested_filename, path.read_bytes(), Image.open(path).convert("RGB")


def test_pixel_exact_toggle_and_downloads_at_a_chosen_scale(page):
    page.evaluate(f"() => window.layout2imEditor.loadLayout({json.dumps(SCENE)})")
    _settle(page)
    page.uncheck("#show-boxes")
    model = _model_image(page)
    n = model.width  # 16 for the tiny model
    raw = model.tobytes()
    model_pixels = [list(raw[i : i + 3]) for i in range(0, len(raw), 3)]

    # Smooth by default: bilinear on the canvas and in the variations.
    smooth = _view(page)
    assert smooth["smoothing"] is True and smooth["rendering"] == "auto"
    assert "smoothly (bilinear)" in smooth["tooltip"]
    page.check("#pixel-exact")
    exact = _view(page)
    assert exact["smoothing"] is False and exact["rendering"] == "pixelated"
    assert "pixel-exact (nearest neighbour)" in exact["tooltip"]
    assert exact["every"] != smooth["every"]
    assert exact["centres"] == model_pixels  # squares of the model's own pixels

    # 1x: the server's PNG, byte for byte; 4x and 8x: scaled as the view is.
    name, data, one = _download(page, "1")
    b64 = page.evaluate("() => window.layout2imEditor.state.result.images[0]")
    assert name == "layout2im-seed0-sample0-1x.png" and data == base64.b64decode(b64)
    assert one.size == (n, n)
    name, _, four = _download(page, "4")
    assert name == "layout2im-seed0-sample0-4x.png" and four.size == (4 * n, 4 * n)
    assert four.tobytes() == model.resize((4 * n, 4 * n), Image.NEAREST).tobytes()
    name, _, eight = _download(page, "8")
    assert name == "layout2im-seed0-sample0-8x.png" and eight.size == (8 * n, 8 * n)
    assert eight.tobytes() == model.resize((8 * n, 8 * n), Image.NEAREST).tobytes()
    page.uncheck("#pixel-exact")
    assert _view(page)["every"] == smooth["every"]
    _, _, smooth_four = _download(page, "4")
    assert smooth_four.size == (4 * n, 4 * n)
    assert smooth_four.tobytes() != four.tobytes()
    # smooth scaling keeps the picture: its 4x4 blocks average close to the model's pixels
    blocks = torch.tensor(list(smooth_four.resize((n, n), Image.BOX).tobytes()), dtype=float)
    pixels = torch.tensor(list(raw), dtype=float)
    assert (blocks - pixels).abs().mean() < 16  # of 255
