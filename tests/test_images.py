"""Loading pictures: every source kind, every common mode, EXIF, and clear errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from nst.errors import ImageLoadError
from nst.images import load_image, resize_longest, to_pil, to_tensor


def encode(image: Image.Image, format: str = "PNG", **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def test_a_path_bytes_a_file_object_and_a_pil_image_all_load(tmp_path, content_image) -> None:
    data = encode(content_image)
    path = tmp_path / "photo.png"
    path.write_bytes(data)
    for source in (path, str(path), data, bytearray(data), io.BytesIO(data), content_image):
        loaded = load_image(source)
        assert loaded.mode == "RGB" and loaded.size == content_image.size
        assert np.array_equal(np.asarray(loaded), np.asarray(content_image))


@pytest.mark.parametrize(
    ("make", "format", "pixel"),
    [
        (lambda: Image.new("L", (8, 6), 77), "PNG", (77, 77, 77)),
        (lambda: Image.new("1", (8, 6), 1), "PNG", (255, 255, 255)),
        (lambda: Image.new("LA", (8, 6), (50, 0)), "PNG", (255, 255, 255)),  # fully transparent -> white
        (lambda: Image.new("RGBA", (8, 6), (200, 0, 0, 255)), "PNG", (200, 0, 0)),
        (lambda: Image.new("RGBA", (8, 6), (0, 0, 0, 0)), "PNG", (255, 255, 255)),
        (lambda: Image.new("RGB", (8, 6), (10, 200, 30)).quantize(4), "PNG", (10, 200, 30)),  # palette
        (lambda: Image.new("CMYK", (8, 6), (0, 255, 255, 0)), "TIFF", (255, 0, 0)),
        (lambda: Image.new("CMYK", (8, 6), (0, 0, 0, 0)), "JPEG", (255, 255, 255)),
        (lambda: Image.fromarray(np.full((6, 8), 65535, np.uint16)), "PNG", (255, 255, 255)),  # 16-bit
        (lambda: Image.fromarray(np.full((6, 8), 32896, np.uint16)), "TIFF", (128, 128, 128)),
        (lambda: Image.fromarray(np.full((6, 8), 0.5, np.float32)), "TIFF", (128, 128, 128)),
        (lambda: Image.new("RGB", (8, 6), (1, 2, 3)), "BMP", (1, 2, 3)),
        (lambda: Image.new("RGB", (8, 6), (90, 90, 90)), "WEBP", None),
    ],
    ids=[
        "gray",
        "1-bit",
        "gray+alpha",
        "rgba-opaque",
        "rgba-clear",
        "palette",
        "cmyk-tiff",
        "cmyk-jpeg",
        "16-bit-png",
        "16-bit-tiff",
        "float-tiff",
        "bmp",
        "webp",
    ],
)
def test_every_common_mode_becomes_8_bit_rgb(make, format, pixel) -> None:
    loaded = load_image(encode(make(), format))
    assert loaded.mode == "RGB" and loaded.size == (8, 6)
    if pixel is not None:
        assert loaded.getpixel((3, 3)) == pytest.approx(pixel, abs=2)


def test_a_palette_image_with_a_transparent_colour_is_flattened_onto_white() -> None:
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((0, 0), 1)
    loaded = load_image(encode(image, "PNG", transparency=0))
    assert loaded.getpixel((2, 2)) == (255, 255, 255) and loaded.getpixel((0, 0)) == (0, 0, 255)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 10, 20))  # a red band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    loaded = load_image(encode(image, "JPEG", exif=exif.tobytes(), quality=95))
    assert loaded.size == (20, 40)
    red, green, blue = loaded.getpixel((10, 3))
    assert red > 200 and blue < 60  # the red band is now on top


def test_an_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    assert load_image(buffer.getvalue()).getpixel((4, 4)) == pytest.approx((255, 0, 0), abs=3)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "is empty"),
        (b"Hello, this is a text file.\n", "is not a picture that can be read"),
        (b"<html><body>not a picture</body></html>", "is not a picture that can be read"),
    ],
)
def test_a_file_that_is_not_a_picture_is_a_clear_error(data, words) -> None:
    with pytest.raises(ImageLoadError, match=words):
        load_image(data, name="upload.png")


def test_a_truncated_file_is_a_clear_error(content_image) -> None:
    data = encode(content_image.resize((200, 150)), "PNG")
    with pytest.raises(ImageLoadError, match="could not be"):
        load_image(data[: len(data) // 2])


def test_a_missing_path_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_image(tmp_path / "nothing.jpg")


def test_a_picture_over_the_pixel_limit_is_refused_or_decoded_smaller() -> None:
    big = Image.new("RGB", (400, 300), (120, 30, 30))
    with pytest.raises(ImageLoadError, match=r"too large: 400x300 .* the limit"):
        load_image(encode(big, "PNG"), max_pixels=10_000)
    reduced = load_image(encode(big, "JPEG"), max_pixels=10_000)  # JPEG can decode at 1/2, 1/4, 1/8
    assert reduced.width * reduced.height <= 10_000 and reduced.width / reduced.height == pytest.approx(4 / 3, rel=0.05)


def test_tensors_round_trip_exactly_and_the_output_is_8_bit_rgb(content_image) -> None:
    tensor = to_tensor(content_image)
    assert tensor.shape == (1, 3, 48, 64) and tensor.dtype == torch.float32
    assert 0.0 <= tensor.min() and tensor.max() <= 1.0
    back = to_pil(tensor)
    assert back.mode == "RGB" and np.array_equal(np.asarray(back), np.asarray(content_image))
    assert to_pil(torch.full((3, 2, 2), 7.0)).getpixel((0, 0)) == (255, 255, 255)  # clamped


def test_resize_keeps_the_aspect_ratio() -> None:
    assert resize_longest(Image.new("RGB", (1024, 768)), 512).size == (512, 384)
    assert resize_longest(Image.new("RGB", (300, 900)), 90).size == (30, 90)
