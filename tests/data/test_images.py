"""Photos in any PIL mode become 8-bit RGB; unreadable files raise BadImageError with the path."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from layout2im.data.images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BadImageError,
    load_image,
    resize_to_array,
    to_imagenet_tensor,
    to_rgb,
)


@pytest.mark.parametrize(
    "mode, value, rgb",
    [
        ("L", 77, (77, 77, 77)),
        ("1", 1, (255, 255, 255)),
        ("LA", (50, 0), (255, 255, 255)),  # transparent: white
        ("LA", (50, 255), (50, 50, 50)),
        ("RGBA", (10, 20, 30, 255), (10, 20, 30)),
        ("RGBA", (10, 20, 30, 0), (255, 255, 255)),
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
        ("CMYK", (0, 0, 0, 255), (0, 0, 0)),
        ("I;16", 65535, (255, 255, 255)),
        ("I;16", 0, (0, 0, 0)),
        ("F", 0.5, (128, 128, 128)),
    ],
)
def test_to_rgb(mode, value, rgb):
    out = to_rgb(Image.new(mode, (4, 3), value))
    assert out.mode == "RGB" and out.size == (4, 3)
    assert np.array(out)[1, 2].tolist() == list(rgb)


def test_palette_with_transparency():
    image = Image.new("P", (2, 2), 1)
    image.putpalette([0, 0, 0, 9, 8, 7] + [0] * 762)
    image.info["transparency"] = 1
    assert np.array(to_rgb(image))[0, 0].tolist() == [255, 255, 255]


def test_load_and_resize(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (30, 10), (1, 2, 3)).save(path)
    image = load_image(path)
    pixels = resize_to_array(image, 8)
    assert pixels.shape == (8, 8, 3) and pixels.flags.writeable
    assert pixels[4, 4].tolist() == [1, 2, 3]


def test_bad_files(tmp_path):
    with pytest.raises(BadImageError, match=r"image file not found: .*missing.jpg"):
        load_image(tmp_path / "missing.jpg")
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8 not really")
    with pytest.raises(BadImageError, match=r"cannot read image .*junk.jpg"):
        load_image(tmp_path / "junk.jpg")
    good = tmp_path / "good.jpg"
    Image.new("RGB", (64, 64), (9, 9, 9)).save(good, quality=95)
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:200])
    with pytest.raises(BadImageError, match=r"cannot read image .*cut.jpg"):
        load_image(tmp_path / "cut.jpg")


def test_to_imagenet_tensor():
    white = to_imagenet_tensor(np.full((2, 3, 3), 255, dtype=np.uint8))
    assert white.shape == (3, 2, 3)
    expected = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(white[:, 0, 0], expected)
    with pytest.raises(ValueError, match="uint8"):
        to_imagenet_tensor(np.zeros((2, 2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="uint8"):
        to_imagenet_tensor(np.zeros((2, 2), dtype=np.uint8))


def test_a_fifo_as_an_image_is_refused_unopened(tmp_path):
    os.mkfifo(tmp_path / "000001.jpg")
    with pytest.raises(BadImageError, match=r"000001\.jpg is a FIFO"):
        load_image(tmp_path / "000001.jpg")
