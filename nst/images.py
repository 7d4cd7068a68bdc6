"""Pictures in and out: decode, validate, orient, convert, resize.

Everything the engine reads goes through :func:`load_image`, which turns a path, bytes,
a file object or a PIL image of any mode into an 8-bit RGB PIL image (EXIF orientation
applied, transparency flattened onto white) or raises one
:class:`~nst.errors.ImageLoadError` whose message a person understands.
"""

from __future__ import annotations

import io
import logging
import math
import os
import warnings
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from nst.errors import ImageLoadError
from nst.limits import Limits

log = logging.getLogger(__name__)

ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | Image.Image

READABLE = "PNG, JPEG, WebP, BMP, GIF or TIFF"


def load_image(source: ImageSource, *, max_pixels: int | None = None, name: str | None = None) -> Image.Image:
    """Decode ``source`` into an RGB PIL image.

    Args:
        source: a path, the file's bytes, a binary file object, or a PIL image.
        max_pixels: pictures with more pixels are decoded at a reduced size where the
            format allows it (JPEG), and refused otherwise. Default: ``Limits.from_env()``,
            40 megapixels (120 MB of RGB) unless ``NST_MAX_INPUT_MEGAPIXELS`` says otherwise.
        name: what to call the picture in error messages (defaults to the path).

    Raises:
        ImageLoadError: empty, truncated, not a picture, too large, or an unusable mode.

    Examples:
        >>> load_image(open("photo.jpg", "rb").read(), name="photo.jpg").mode  # doctest: +SKIP
        'RGB'
    """
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "the picture")
    if max_pixels is None:
        max_pixels = Limits.from_env().max_input_pixels
    if isinstance(source, Image.Image):
        image = source
    else:
        image = _open(source, label)
    try:
        image = _reduce_if_huge(image, max_pixels, label)
        if getattr(image, "is_animated", False):
            image.seek(0)  # the first frame of an animated GIF or WebP
        image.load()
        try:
            image = ImageOps.exif_transpose(image)
        except Exception as error:  # a damaged EXIF block must not cost the picture
            log.warning("ignoring unreadable EXIF orientation in %s: %s", label, error)
        return to_rgb(image)
    except ImageLoadError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, MemoryError) as error:
        raise ImageLoadError(f"{label} could not be decoded ({_describe(error)}); is the file complete?") from None


def _open(source: ImageSource, label: str) -> Image.Image:
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageLoadError(f"{label} is empty (0 bytes)")
        stream: BinaryIO = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageLoadError(f"{label} does not exist or is not a file")
        if path.stat().st_size == 0:
            raise ImageLoadError(f"{label} is empty (0 bytes)")
        stream = io.BytesIO(path.read_bytes())
    else:
        stream = cast(BinaryIO, source)  # load_image hands PIL images over before this
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check sizes ourselves
            return Image.open(stream)
    except UnidentifiedImageError:
        raise ImageLoadError(f"{label} is not a picture that can be read (use {READABLE})") from None
    except Image.DecompressionBombError as error:
        raise ImageLoadError(f"{label} is far too large to decode safely ({_describe(error)})") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageLoadError(f"{label} could not be opened ({_describe(error)})") from None


def _reduce_if_huge(image: Image.Image, max_pixels: int, label: str) -> Image.Image:
    """Ask the decoder for a smaller picture (JPEG's draft mode), or refuse a huge one."""
    width, height = image.size
    if width * height <= max_pixels:
        return image
    if image.format == "JPEG":
        # JPEG decodes at 1/2, 1/4 or 1/8 scale cheaply; draft() picks the largest reduction
        # that still covers the requested size, so ask for exactly the reduced size.
        for reduction in (2, 4, 8):
            reduced = (math.ceil(width / reduction), math.ceil(height / reduction))
            if reduced[0] * reduced[1] <= max_pixels:
                image.draft("RGB", reduced)
                if image.size[0] * image.size[1] <= max_pixels:
                    log.info("decoding %s (%dx%d) at %dx%d", label, width, height, *image.size)
                    return image
                break
    raise ImageLoadError(
        f"{label} is too large: {width}x{height} is {_megapixels(width * height)}, "
        f"the limit is {_megapixels(max_pixels)}; shrink it first"
    )


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB; transparency is composited onto white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if mode == "F" and values.size and np.nanmax(values) <= 1.0:
            values = values * 255.0  # float pictures usually hold 0..1
        elif mode != "F" and (mode.startswith("I;16") or (values.size and values.max() > 255)):
            values = values / 257.0  # 0..65535 -> 0..255
        gray = np.nan_to_num(values, nan=0.0).clip(0, 255).round().astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")  # (H, W) uint8 is mode L
    if (
        mode in ("RGBA", "LA", "PA", "RGBa", "La")
        or (mode == "P" and "transparency" in image.info)
        or (mode in ("L", "RGB") and "transparency" in image.info)
    ):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return image.convert("RGB")  # L, 1, P, CMYK, YCbCr, HSV, ...
    except (ValueError, OSError) as error:
        raise ImageLoadError(f"pictures in colour mode {mode} are not supported ({_describe(error)})") from None


def scaled_size(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """``(width, height)`` scaled so that the longer side is ``longest``, aspect kept.

    Examples:
        >>> scaled_size((1024, 768), 512)
        (512, 384)
    """
    width, height = size
    scale = longest / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def shrunk(picture: Image.Image, longest: int | None) -> Image.Image:
    """The picture at most ``longest`` px on its longest side (the same picture when it is smaller or
    ``longest`` is None): a display-sized preview."""
    if longest is None or max(picture.size) <= longest:
        return picture
    return resize_longest(picture, longest)


def resize_longest(image: Image.Image, longest: int) -> Image.Image:
    """Scale so that the longer side is ``longest`` pixels, keeping the aspect ratio."""
    size = scaled_size(image.size, longest)
    if size == image.size:
        return image
    shrinking = size[0] < image.size[0]
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0 if shrinking else None)


def to_tensor(image: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    """RGB PIL image -> ``(1, 3, H, W)`` float32 in [0, 1]."""
    array = np.asarray(to_rgb(image), dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def to_pil(image: torch.Tensor) -> Image.Image:
    """``(1, 3, H, W)`` or ``(3, H, W)`` tensor in [0, 1] -> 8-bit RGB PIL image."""
    pixels = image.detach()
    if pixels.dim() == 4:
        pixels = pixels[0]
    array = pixels.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()  # (H, W, 3)
    return Image.fromarray(np.ascontiguousarray(array))  # (H, W, 3) uint8 is RGB


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.3g} megapixels"


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return text or type(error).__name__


def save_picture(
    image: Image.Image, target: str | Path | BinaryIO, *, dpi: int = 300, format: str | None = None
) -> None:
    """Save with ``dpi`` written into the file (PNG's pHYs, JPEG's JFIF density), so a print
    comes out at ``pixels / dpi`` inches; ``format`` when ``target`` is a file object."""
    image.save(target, format=format, dpi=(dpi, dpi))
