import base64

import pytest
from PIL import Image

from layout2im.images import ImageError, decode_data_url, load_image
from tests.image_samples import bomb_png, jpeg_bytes, png_bytes, solid_png, truncated_png


def _data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_every_source_gives_the_same_rgb_image(tmp_path):
    data = solid_png((250, 10, 20))
    path = tmp_path / "ref.png"
    path.write_bytes(data)
    images = [
        load_image(data),
        load_image(path),
        load_image(str(path)),
        load_image(_data_url(data)),
        load_image(_data_url(data, "application/octet-stream")),  # bytes decide, not the label
        load_image(Image.new("RGB", (40, 30), (250, 10, 20))),
    ]
    for img in images:
        assert img.mode == "RGB" and img.size == (40, 30)
        assert img.getpixel((5, 5)) == (250, 10, 20)


def test_jpeg_and_transparency():
    assert load_image(jpeg_bytes((0, 0, 255))).getpixel((3, 3))[2] > 240
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent: white
    assert load_image(png_bytes(rgba)).getpixel((1, 1)) == (255, 255, 255)


@pytest.mark.parametrize(
    "data, kind, message",
    [
        (b"hello, this is text", "not_image", "not an image; accepted formats: PNG, JPEG"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not_image", "not an image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "not_image", "not an image"),
        (truncated_png(), "corrupt", "truncated or corrupt PNG image"),
        (bomb_png(), "too_large", "too many pixels"),
        (bomb_png(8000, 8000), "too_large", "pixels"),  # under PIL's default limit, over ours
        (b"", "unreadable", "empty"),
    ],
)
def test_bad_images_are_refused_with_a_reason(data, kind, message):
    with pytest.raises(ImageError) as info:
        load_image(data)
    assert info.value.kind == kind
    assert message in str(info.value)


def test_limits_are_parameters():
    with pytest.raises(ImageError, match="larger than"):
        load_image(solid_png((1, 2, 3)), max_bytes=10)
    with pytest.raises(ImageError, match="the limit is 100"):
        load_image(solid_png((1, 2, 3)), max_pixels=100)


def test_data_url_errors(tmp_path):
    with pytest.raises(ImageError, match="base64"):
        decode_data_url("data:image/png,rawtext")
    with pytest.raises(ImageError, match="invalid base64"):
        decode_data_url("data:image/png;base64,@@@@")
    with pytest.raises(ImageError, match="malformed"):
        decode_data_url("data:nonsense")
    with pytest.raises(ImageError, match="larger than"):
        decode_data_url("data:image/png;base64," + "A" * 4000, max_bytes=100)
    with pytest.raises(ImageError, match="image file not found"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="not a file"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="expected image bytes"):
        load_image(3.5)  # type: ignore[arg-type]
