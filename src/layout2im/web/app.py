"""The layout editor's web server: a FastAPI app around one :class:`Layout2ImPipeline`.

``create_app(pipeline)`` serves the editor page (``/``, static files under ``/static``, no
build step, no CDN) and a JSON API that the page uses and scripts can call; FastAPI documents it
at ``/docs`` (Swagger UI, which loads its own scripts from a CDN) and ``/openapi.json``:

- ``GET /api/info``: the model (architecture, its latent codes and capabilities, image size,
  z_dim, object limit) and the server's limits;
- ``GET /api/categories``: the model's category names;
- ``POST /api/generate``: a layout (JSON) -> base64 PNG images, the code of every object in
  every sample, and timings;
- ``POST /api/style``: a reference image (multipart upload), a box and a category -> the code
  ``z`` of that object, to put in a layout as the object's ``z``.

Safety: request bodies are limited (``max_json_bytes`` for JSON, ``max_upload_bytes`` for the
upload) by ``Content-Length`` and while streaming; uploads are decoded only if PIL recognises
their bytes as PNG, JPEG, WebP, GIF or BMP and their declared pixel count is within
``max_image_pixels``; layouts may not name server files (``style.image`` must be a ``data:``
URL), and the style images of one layout may hold at most ``max_style_pixels`` decoded pixels
together. Only the hosts the server was started for are answered (``allowed_hosts``; loopback
names by default) and requests from other sites' pages are refused (see
:mod:`layout2im.web.limits`). Every rejected request gets a 4xx JSON body
``{"error": "...", "field": "..."}`` naming the field; unexpected failures answer 500 without
stopping the server. Model calls run in a worker thread (never on the event loop) and one at a
time (a lock), so concurrent requests are each answered with exactly what the pipeline gives
for them alone; at most ``max_pending`` wait or run at once, more are answered ``503`` with
``Retry-After``. See ``docs/security.md``.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import io
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from pydantic import BaseModel, Field, StrictInt, WithJsonSchema
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..conversion.vocabularies import category_groups
from ..images import DEFAULT_MAX_PIXELS, ImageError
from ..layout import LayoutError
from ..pipeline import Layout2ImPipeline
from ..readers import InputError, parse_json
from ..schema.layout import MAX_SAMPLES as PIPELINE_MAX_SAMPLES
from ..schema.layout import SEED_LIMIT, layout_json_schema
from ..visualize import mask_pictures
from .limits import LOOPBACK_HOSTS, HostGuardMiddleware, RequestGuardMiddleware, RouteRule

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MB = 1024 * 1024
MAX_SAMPLES = 16
"""Images per ``/api/generate`` request by default (``create_app(max_samples=...)``), at most
the pipeline's own bound (:data:`layout2im.schema.layout.MAX_SAMPLES`)."""
MAX_PENDING = 16
RETRY_AFTER_S = 2
T = TypeVar("T")

EXAMPLE_LAYOUT = {
    "objects": [
        {"id": "a", "category": "circle", "box": [0.1, 0.1, 0.5, 0.5]},
        {"id": "b", "category": "square", "box": [0.45, 0.4, 0.9, 0.9], "seed": 7},
    ]
}


class ApiError(Exception):
    """A request the server refuses: answered with ``status`` and ``{"error", "field"}``."""

    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.field = field
        self.headers = headers


# ----------------------------------------------------------------------------- schemas


class ErrorResponse(BaseModel):
    error: str = Field(description="what is wrong, starting with the field")
    field: str | None = Field(description="the offending field, e.g. layout.objects[1].box")


class GenerateRequest(BaseModel):
    # documented with the layout schema (layout2im.schema.layout); validated against it by the
    # pipeline, which knows the model's categories and z_dim and reports every problem at once
    layout: Annotated[dict[str, Any], WithJsonSchema(layout_json_schema())] = Field(
        description=(
            "The layout: objects with a category and a normalised [x0, y0, x1, y1] box, and "
            "optionally one of seed, z or style ({'image': data: URL, 'box'}). Give every "
            "object an id so its code survives edits to other objects."
        ),
        examples=[EXAMPLE_LAYOUT],
    )
    num_samples: StrictInt = Field(
        1, ge=1, description=f"images to generate (at most {MAX_SAMPLES})"
    )
    seed: StrictInt | None = Field(
        0, ge=0, lt=SEED_LIMIT, description="call seed; null draws one (returned in the answer)"
    )
    rescale: Literal["clamp", "minmax"] | None = Field(
        None,
        description="pixels: clamp the de-normalised output, or min-max per image (as the "
        "authors' test.py saved images); null: the model's own choice (model.output_rescale)",
    )


class Timing(BaseModel):
    generate_ms: float = Field(description="model time: codes, decoding, PNG encoding")
    queue_ms: float = Field(description="time waiting for the model (one call at a time)")
    total_ms: float = Field(description="server time for the whole request")


class GenerateResponse(BaseModel):
    images: list[str] = Field(description="base64-encoded PNG images, one per sample")
    latents: list[list[list[float]]] = Field(
        description="the code of every object in every sample: (num_samples, objects, z_dim)"
    )
    image_latents: list[list[float]] | None = Field(
        None,
        description="the image code of every sample (num_samples, dim), for architectures with "
        "one (send one back as the layout's image_z to keep the background); else null",
    )
    masks: list[list[str]] | None = Field(
        None,
        description="base64-encoded grayscale PNG of each object's mask in every sample "
        "(num_samples, objects), for architectures with masks; else null",
    )
    ids: list[str | int] = Field(description="each object's identity: its id, else its index")
    seed: int = Field(description="the call seed the codes were drawn from")
    warnings: list[str] = Field(
        default_factory=list,
        description="what to read the images with, e.g. more objects than the model was "
        "trained with (generated, up to max_objects_accepted)",
    )
    width: int
    height: int
    timing: Timing


class StyleResponse(BaseModel):
    z: list[float] = Field(description="the object's code (posterior mean), z_dim floats")
    category: str
    box: list[float]
    timing_ms: float


class LatentCodeInfo(BaseModel):
    name: str = Field(description="the layout field that gives it: z (per object), image_z")
    per: str = Field(description="object or image")
    dim: int
    distribution: str


class ModelInfo(BaseModel):
    name: str | None
    version: str
    architecture: str = Field(description="the model's registered architecture")
    capabilities: list[str] = Field(
        description="what the architecture can do: style (a code from a photo), masks, "
        "image_code, trainable; the editor hides what is missing"
    )
    latent_codes: list[LatentCodeInfo]
    image_size: int
    z_dim: int = Field(description="length of the per-object code")
    max_objects: int = Field(description="most objects per image the model was trained with")
    max_objects_accepted: int = Field(
        description="most objects a layout may hold; above max_objects the response warns"
    )
    num_categories: int
    max_samples: int
    max_json_bytes: int
    max_upload_bytes: int
    max_image_pixels: int
    max_style_pixels: int
    max_pending: int


class CategoryGroup(BaseModel):
    name: str = Field(description="the group's title, e.g. things or stuff")
    categories: list[str]


class Categories(BaseModel):
    categories: list[str] = Field(description="every category name of the model, by row")
    groups: list[CategoryGroup] | None = Field(
        None,
        description="the categories a person picks from, in groups (COCO-Stuff: things, then "
        "stuff); null when the vocabulary has no groups. Leaves out rows the model never "
        "trained on (__image__, COCO-Stuff's other)",
    )


# ----------------------------------------------------------------------------- the app


def create_app(
    pipeline: Layout2ImPipeline,
    *,
    model_name: str | None = None,
    max_json_bytes: int = 2 * MB,
    max_upload_bytes: int = 10 * MB,
    max_image_pixels: int = DEFAULT_MAX_PIXELS,
    max_style_pixels: int = DEFAULT_MAX_PIXELS,
    max_samples: int = MAX_SAMPLES,
    max_pending: int = MAX_PENDING,
    allowed_hosts: tuple[str, ...] | list[str] | None = LOOPBACK_HOSTS,
) -> FastAPI:
    """The editor app serving ``pipeline``. Limits: JSON bodies ``max_json_bytes``, the style
    upload ``max_upload_bytes`` (plus 64 KiB for the form around it), each reference image
    ``max_image_pixels`` (PIL's ``Image.MAX_IMAGE_PIXELS`` is lowered to it if higher), all
    style images of one layout ``max_style_pixels`` together, requests waiting for or using
    the model ``max_pending``. ``allowed_hosts``: the ``Host`` names answered (``None``:
    any)."""
    if not 1 <= max_samples <= PIPELINE_MAX_SAMPLES:
        raise ValueError(
            f"max_samples must be between 1 and {PIPELINE_MAX_SAMPLES}, got {max_samples}"
        )
    if max_image_pixels < (Image.MAX_IMAGE_PIXELS or max_image_pixels + 1):
        Image.MAX_IMAGE_PIXELS = max_image_pixels
    lock = threading.Lock()
    pending = 0  # requests waiting for or using the model (changed on the event loop only)
    app = FastAPI(
        title="layout2im editor",
        version=__version__,
        description=(
            "Generate images from layouts (boxes + categories) with a Layout2Im model. "
            'Errors are JSON {"error": "...", "field": "..."} naming the field.'
        ),
    )
    app.state.pipeline = pipeline
    error_responses: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorResponse} for code in (400, 413, 415, 422)
    }

    async def call_model(work: Callable[[], T]) -> tuple[T, float, float]:
        """Run ``work`` in a worker thread, alone; returns (result, queue_ms, model_ms).
        Past ``max_pending`` requests in the queue, answers 503 at once."""
        nonlocal pending
        if pending >= max_pending:
            raise ApiError(
                503,
                f"the server is busy ({pending} requests are waiting for the model); "
                f"retry in {RETRY_AFTER_S} s",
                None,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )

        def locked() -> tuple[T, float, float]:
            queued = time.perf_counter()
            with lock:
                start = time.perf_counter()
                try:
                    result = work()
                finally:
                    _release_freed_memory()
                return result, (start - queued) * 1e3, (time.perf_counter() - start) * 1e3

        pending += 1
        try:
            return await run_in_threadpool(locked)
        finally:
            pending -= 1

    # -- pages ----------------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # -- API ------------------------------------------------------------------------------------

    @app.get("/api/info", response_model=ModelInfo, summary="the model and the server's limits")
    async def info() -> ModelInfo:
        described = pipeline.architecture.describe(pipeline.config)
        return ModelInfo(
            name=model_name,
            version=__version__,
            architecture=described["name"],
            capabilities=described["capabilities"],
            latent_codes=[LatentCodeInfo(**code) for code in described["latent_codes"]],
            image_size=pipeline.image_size,
            z_dim=pipeline.z_dim,
            max_objects=pipeline.max_objects,
            max_objects_accepted=pipeline.object_limit,
            num_categories=len(pipeline.vocab.categories),
            max_samples=max_samples,
            max_json_bytes=max_json_bytes,
            max_upload_bytes=max_upload_bytes,
            max_image_pixels=max_image_pixels,
            max_style_pixels=max_style_pixels,
            max_pending=max_pending,
        )

    @app.get("/api/categories", response_model=Categories, summary="the model's categories")
    async def categories() -> Categories:
        groups = category_groups(pipeline.vocab)
        return Categories(
            categories=pipeline.vocab.categories,
            groups=None if groups is None else [CategoryGroup(**g) for g in groups],
        )

    @app.post(
        "/api/generate",
        response_model=GenerateResponse,
        responses=error_responses,
        summary="generate images from a layout",
    )
    async def generate(request: GenerateRequest) -> GenerateResponse:
        received = time.perf_counter()
        if request.num_samples > max_samples:
            raise ApiError(
                422,
                f"num_samples: at most {max_samples} per request, got {request.num_samples}",
                "num_samples",
            )
        try:
            layout = pipeline.parse(request.layout, allow_style_files=False)
        except LayoutError as exc:
            raise _layout_error(exc) from None

        def work() -> tuple[Any, list[str]]:
            codes = pipeline.style_codes(layout, max_total_pixels=max_style_pixels)
            result = pipeline(
                layout,
                num_samples=request.num_samples,
                seed=request.seed,
                rescale=request.rescale,
                style_codes=codes,
            )
            masks = None
            if result.masks is not None:
                pictures = list(mask_pictures(result.masks, "mask").values())
                per = result.masks.shape[1]
                masks = [
                    [_png_base64(p) for p in pictures[k * per : (k + 1) * per]]
                    for k in range(result.masks.shape[0])
                ]
            return result, [_png_base64(img) for img in result.images], masks

        try:
            (result, pngs, masks), queue_ms, model_ms = await call_model(work)
        except LayoutError as exc:  # a style image that cannot be used
            raise _layout_error(exc) from None
        size = pipeline.image_size
        return GenerateResponse(
            images=pngs,
            latents=result.latents.tolist(),
            image_latents=None if result.image_latents is None else result.image_latents.tolist(),
            masks=masks,
            ids=result.layout.object_keys(),
            seed=result.seed,
            warnings=result.warnings,
            width=size,
            height=size,
            timing=Timing(
                generate_ms=round(model_ms, 2),
                queue_ms=round(queue_ms, 2),
                total_ms=round((time.perf_counter() - received) * 1e3, 2),
            ),
        )

    @app.post(
        "/api/style",
        response_model=StyleResponse,
        responses=error_responses,
        summary="encode an object's look from a reference image",
    )
    async def style(
        file: Annotated[UploadFile, File(description="PNG, JPEG, WebP, GIF or BMP image")],
        category: Annotated[
            str, Form(description="the object's category (the code depends on it)")
        ],
        box: Annotated[
            str, Form(description="region of the image, normalised [x0, y0, x1, y1] (JSON)")
        ] = "[0, 0, 1, 1]",
    ) -> StyleResponse:
        data = await file.read(max_upload_bytes + 1)
        if len(data) > max_upload_bytes:
            raise ApiError(413, f"file: larger than {max_upload_bytes / MB:g} MB", "file")
        try:
            box_value = parse_json(box, "box")
        except InputError as exc:
            problem = str(exc).removeprefix("box: ")
            message = f"box: must be a JSON list [x0, y0, x1, y1] ({problem})"
            raise ApiError(422, message, "box") from None

        def work():
            return pipeline.encode_style(
                data,
                box_value,
                category,
                max_bytes=max_upload_bytes,
                max_pixels=max_image_pixels,
            )

        try:
            z, _, model_ms = await call_model(work)
        except ImageError as exc:
            status = {"not_image": 415, "too_large": 413}.get(exc.kind, 422)
            raise ApiError(status, f"file: {exc}", "file") from None
        except LayoutError as exc:  # "box: ..." or "category: ..."
            field = str(exc).split(":", 1)[0]
            raise ApiError(422, str(exc), field) from None
        return StyleResponse(
            z=z.tolist(), category=category, box=list(box_value), timing_ms=round(model_ms, 2)
        )

    # -- errors ---------------------------------------------------------------------------------

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, str(exc), exc.field, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        field = "body" if exc.status_code == 400 else None  # e.g. JSON nested too deeply
        return _error(exc.status_code, str(exc.detail), field, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error while answering a request")
        return _error(500, f"internal error: {type(exc).__name__}", None)

    def rule_for(method: str, path: str) -> RouteRule:
        if path == "/api/style":
            return RouteRule(max_upload_bytes + 64 * 1024, "multipart/form-data")
        if path == "/api/generate":
            return RouteRule(max_json_bytes, "application/json")
        return RouteRule(max_json_bytes)

    app.add_middleware(RequestGuardMiddleware, rule_for=rule_for)
    app.add_middleware(HostGuardMiddleware, allowed_hosts=allowed_hosts)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def _libc_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL("libc.so.6").malloc_trim
    return None


_MALLOC_TRIM = _libc_malloc_trim()


def _release_freed_memory() -> None:
    """Hand memory freed by a request (decoded reference images, activations) back to the
    operating system: glibc keeps freed blocks of worker threads' arenas otherwise, so the
    server's memory would stay at its peak after a burst of large requests."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class SecurityHeadersMiddleware:
    """No sniffing, no framing, no referrer; the editor page may load only its own files."""

    CSP = (
        "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; "
        "style-src 'self'; connect-src 'self'; object-src 'none'; frame-ancestors 'none'"
    )

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # FastAPI's /docs page loads Swagger UI from a CDN: no CSP there.
        editor = not scope["path"].startswith(("/docs", "/redoc"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                if editor:
                    headers.append((b"content-security-policy", self.CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _png_base64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _layout_error(exc: LayoutError) -> ApiError:
    field = exc.field
    return ApiError(422, str(exc), f"layout.{field}" if field else "layout")


def _error(
    status: int, message: str, field: str | None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status, headers=headers)


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error", "malformed JSON")
        return _error(
            400, f"body: malformed JSON at character {first['loc'][-1]}: {reason}", "body"
        )
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field = _dotted(loc) or "body"
    message = first.get("msg", "invalid value")
    if first.get("type") == "missing":
        message = "missing"
    elif first.get("type") in ("dict_type", "model_attributes_type") and field == "body":
        message = "must be a JSON object"
    return _error(422, f"{field}: {message}", field)


def _dotted(parts: list[str]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out
