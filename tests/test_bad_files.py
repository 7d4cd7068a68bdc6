"""What people upload: a corpus of damaged, hostile and odd files, and a fuzz test.

Every file either becomes a correct 8-bit RGB picture or raises one ImageLoadError whose
message says what is wrong. Nothing else may escape the loader.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nst import Settings, stylize
from nst.errors import ImageLoadError
from nst.images import load_image

from conftest import make_content


def encode(image: Image.Image, format: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A valid PNG header that claims ``width x height`` RGB, followed by one row of data.

    A few hundred bytes that would decode to width*height*3 bytes: a decompression bomb.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    rows = zlib.compress(b"\x00" * (1 + 3 * width))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


PHOTO = make_content(96, 72)
JPEG, PNG = encode(PHOTO, "JPEG", quality=90), encode(PHOTO, "PNG")

BAD_FILES = {
    "empty": (b"", "is empty"),
    "text-named-jpg": (b"just some notes, not a picture\n" * 20, "is not a picture that can be read"),
    "html-named-png": (b"<!doctype html><html><body><img src=x></body></html>", "is not a picture that can be read"),
    "pdf": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n", "is not a picture that can be read"),
    "truncated-jpeg": (JPEG[: len(JPEG) // 2], "could not be decoded"),
    "truncated-png": (PNG[: len(PNG) // 2], "could not be decoded"),
    "png-signature-only": (PNG[:8], "not a picture|could not be"),
    "jpeg-header-only": (JPEG[:200], "could not be"),
    "bomb-900-megapixels": (png_claiming(30_000, 30_000), "far too large"),
    "bomb-64-megapixels": (png_claiming(8_000, 8_000), r"too large: 8000x8000 is 64 megapixels, the limit is 40"),
}


@pytest.mark.parametrize(("data", "words"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_each_bad_file_is_one_clear_error(data: bytes, words: str) -> None:
    with pytest.raises(ImageLoadError, match=words) as caught:
        load_image(data, name="upload.jpg")
    assert str(caught.value).startswith("upload.jpg")  # says which file


def odd_but_good_files() -> dict[str, tuple[bytes, tuple[int, int]]]:
    frames = [Image.new("RGB", (20, 10), colour) for colour in ((250, 0, 0), (0, 250, 0), (0, 0, 250))]
    palette = Image.new("P", (12, 12), 0)
    palette.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette.paste(1, (0, 0, 6, 12))
    return {
        "1x1": (encode(Image.new("RGB", (1, 1), (9, 99, 199)), "PNG"), (1, 1)),
        "10000x10": (encode(Image.new("RGB", (10_000, 10), (40, 80, 120)), "PNG"), (10_000, 10)),
        "10x10000": (encode(Image.new("L", (10, 10_000), 200), "JPEG"), (10, 10_000)),
        "animated-gif": (encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50), (20, 10)),
        "animated-webp": (encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True), (20, 10)),
        "palette-transparent": (encode(palette, "PNG", transparency=0), (12, 12)),
        "cmyk-jpeg": (encode(Image.new("CMYK", (16, 8), (0, 255, 255, 0)), "JPEG"), (16, 8)),
        "16-bit-gray": (encode(Image.fromarray(np.full((8, 16), 40000, np.uint16)), "PNG"), (16, 8)),
    }


GOOD = odd_but_good_files()


@pytest.mark.parametrize(("data", "size"), GOOD.values(), ids=GOOD.keys())
def test_odd_but_valid_files_become_rgb_pictures(data: bytes, size: tuple[int, int]) -> None:
    picture = load_image(data)
    assert picture.mode == "RGB" and picture.size == size


def test_animated_files_give_their_first_frame() -> None:
    for name in ("animated-gif", "animated-webp"):
        assert load_image(GOOD[name][0]).getpixel((5, 5)) == pytest.approx((250, 0, 0), abs=6)


def test_a_palette_picture_with_a_transparent_colour_is_flattened_onto_white() -> None:
    picture = load_image(GOOD["palette-transparent"][0])
    assert picture.getpixel((9, 2)) == (255, 255, 255) and picture.getpixel((2, 2)) == (200, 100, 50)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_gives_an_upright_picture(orientation: int) -> None:
    upright = Image.new("RGB", (30, 20), (0, 0, 255))
    upright.paste((255, 0, 0), (0, 0, 10, 10))  # a red corner at the top left
    # What a camera stores for each orientation tag, i.e. the inverse of what the tag says to do.
    stored = {
        1: upright,
        2: upright.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        3: upright.transpose(Image.Transpose.ROTATE_180),
        4: upright.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
        5: upright.transpose(Image.Transpose.TRANSPOSE),
        6: upright.transpose(Image.Transpose.ROTATE_90),
        7: upright.transpose(Image.Transpose.TRANSVERSE),
        8: upright.transpose(Image.Transpose.ROTATE_270),
    }[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    picture = load_image(encode(stored, "JPEG", exif=exif.tobytes(), quality=95))
    assert picture.size == (30, 20)
    assert picture.getpixel((3, 3)) == pytest.approx((255, 0, 0), abs=40)
    assert picture.getpixel((26, 16)) == pytest.approx((0, 0, 255), abs=40)


def test_a_sliver_of_a_picture_is_refused_by_the_run_with_the_reason() -> None:
    sliver = GOOD["10000x10"][0]
    with pytest.raises(ImageLoadError, match="too narrow"):
        stylize(sliver, make_content(), Settings(output_size=64, iterations=1))


# --- fuzzing: mutated real files -------------------------------------------------------------

SEEDS = [
    encode(PHOTO, "JPEG", quality=80),
    encode(PHOTO, "JPEG", quality=80, progressive=True),
    encode(PHOTO, "PNG"),
    encode(PHOTO.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
    encode(PHOTO, "WEBP", quality=70),
    encode(PHOTO, "BMP"),
    encode(PHOTO, "TIFF", compression="tiff_lzw"),
    encode(PHOTO.convert("RGBA"), "PNG"),
    encode(PHOTO.convert("CMYK"), "JPEG"),
    encode(Image.fromarray(np.full((24, 32), 30000, np.uint16)), "TIFF"),
]


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """A real picture file with a few bytes changed, inserted, removed, or its end cut off."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["set", "set", "set", "insert", "delete", "cut", "header"]))
        if action == "set":
            data[where] = draw(st.integers(0, 255))
        elif action == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[where : where + draw(st.integers(1, 16))]
        elif action == "cut":
            del data[max(where, 1) :]
        else:  # the header, where sizes and formats live
            data[min(where, 40) % len(data)] = draw(st.integers(0, 255))
        if not data:
            break
    return bytes(data)


FUZZ_EXAMPLES = 10_000


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same files on every run: CI is repeatable
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_files())
def test_ten_thousand_mutated_files_give_a_picture_or_a_clear_error(data: bytes) -> None:
    try:
        picture = load_image(data, max_pixels=4_000_000, name="upload")
    except ImageLoadError as error:
        assert str(error).startswith("upload ") or "not supported" in str(error)
    else:
        assert picture.mode == "RGB" and picture.width * picture.height <= 4_000_000
