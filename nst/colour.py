"""Colour preservation, after Gatys, Bethge, Hertzmann and Shechtman (2016),
"Preserving Color in Neural Artistic Style Transfer" (arXiv:1606.05897).

Two ways to keep the photo's colours while taking the painting's style:

- ``luminance``: the optimisation sees only brightness. The content photo and the style
  picture become grey (their luminance Y, with the style's Y shifted and scaled to the
  photo's mean and spread), the picture is optimised in grey, and each picture handed
  back combines its Y with the photo's own colour channels (Cb, Cr).
- ``histogram``: before the run, the style picture's colours are mapped linearly so that
  their mean and covariance equal the photo's (the paper's "colour histogram matching",
  its Cholesky variant), then the run is an ordinary one.

Differs from the paper in one detail: it uses YIQ, this uses Pillow's YCbCr (JPEG's), a
very similar luminance/chroma split that round-trips through 8-bit pictures exactly.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def luminance(image: Image.Image) -> Image.Image:
    """The picture's brightness (Y of YCbCr) as a grey RGB picture."""
    return image.convert("YCbCr").getchannel("Y").convert("RGB")


def matched_luminance(style: Image.Image, content: Image.Image) -> Image.Image:
    """The style's luminance with the content's mean and standard deviation, as grey RGB."""
    style_y = np.asarray(style.convert("YCbCr").getchannel("Y"), np.float64)
    content_y = np.asarray(content.convert("YCbCr").getchannel("Y"), np.float64)
    spread = content_y.std() / max(style_y.std(), 1e-6)
    matched = (style_y - style_y.mean()) * spread + content_y.mean()
    return Image.fromarray(matched.clip(0, 255).round().astype(np.uint8)).convert("RGB")


def with_content_colour(picture: Image.Image, content: Image.Image) -> Image.Image:
    """``picture``'s luminance with the content photo's chroma (Cb, Cr), at ``picture``'s size."""
    if content.size != picture.size:
        content = content.resize(picture.size, Image.Resampling.LANCZOS)
    _, blue, red = content.convert("YCbCr").split()
    return Image.merge("YCbCr", (picture.convert("YCbCr").getchannel("Y"), blue, red)).convert("RGB")


def match_colour(
    style: Image.Image,
    content: Image.Image,
    *,
    style_part: Image.Image | None = None,
    content_part: Image.Image | None = None,
) -> Image.Image:
    """The style picture with its colours' mean and covariance mapped onto the content's.

    ``x' = A (x - mean_s) + mean_c`` with ``A = L_c L_s^-1`` from the Cholesky factors of
    the two 3x3 colour covariance matrices, so that ``cov(x') = cov_c``.

    ``style_part`` and ``content_part`` (grey pictures of each one's size, white where it counts):
    the statistics are those of these parts only, each pixel weighted by its mask (a region's
    colours, :func:`nst.regions.region_colours`); every pixel of the style picture is mapped.
    """
    source = np.asarray(style.convert("RGB"), np.float64).reshape(-1, 3) / 255.0  # (N, 3)
    target = np.asarray(content.convert("RGB"), np.float64).reshape(-1, 3) / 255.0
    source_mean, source_cov = colour_statistics(source, style_part)
    target_mean, target_cov = colour_statistics(target, content_part)
    eps = 1e-5 * np.eye(3)  # a flat picture has a singular covariance
    source_factor = np.linalg.cholesky(source_cov + eps)
    target_factor = np.linalg.cholesky(target_cov + eps)
    transform = target_factor @ np.linalg.inv(source_factor)  # (3, 3)
    mapped = (source - source_mean) @ transform.T + target_mean
    pixels = (mapped.clip(0, 1) * 255).round().astype(np.uint8).reshape(style.height, style.width, 3)
    return Image.fromarray(pixels)


def colour_statistics(pixels: np.ndarray, part: Image.Image | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The mean ``(3,)`` and covariance ``(3, 3)`` of ``(N, 3)`` colours, in their own units, each pixel
    weighted by ``part`` when given (a grey picture of as many pixels, white where it counts)."""
    if part is None:
        return pixels.mean(0), np.cov(pixels, rowvar=False)
    weights = np.asarray(part.convert("L"), np.float64).reshape(-1) / 255.0
    return np.average(pixels, axis=0, weights=weights), np.cov(pixels, rowvar=False, aweights=weights)
