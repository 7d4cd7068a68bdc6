"""Built-in example pictures, so the method can be shown without uploading anything.

Style pictures are generated here, deterministically, from a seed (the project ships no
paintings it did not make):

* ``swirls``: noise smeared along a swirling flow field (line-integral convolution),
  coloured night blue and gold;
* ``mosaic``: a stained-glass Voronoi mosaic with dark lead lines;
* ``strokes``: thousands of short, thick brush strokes that follow a flow field.

Example photos are the public-domain and CC0 photographs that scikit-image installs in
``skimage/data`` (read as files; scikit-image itself is not imported).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from nst.errors import ImageLoadError

# name -> (file in skimage/data, credit)
PHOTOS: dict[str, tuple[str, str]] = {
    "chelsea the cat": ("chelsea.png", "Chelsea the cat, photo by Stefan van der Walt, CC0 (scikit-image)"),
    "coffee": ("coffee.png", "Coffee cup, photo by Rachel Michetti, CC0 (scikit-image)"),
    "astronaut": ("astronaut.png", "Eileen Collins, NASA, public domain (scikit-image)"),
    "rocket": ("rocket.jpg", "DSCOVR on Falcon 9, SpaceX, public domain (scikit-image)"),
}


def photo(name: str) -> Image.Image:
    """One of :data:`PHOTOS`, as an RGB image."""
    if name not in PHOTOS:
        raise KeyError(f"unknown example photo {name!r}; choose from {', '.join(PHOTOS)}")
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise ImageLoadError("the example photos come with scikit-image; run: pip install scikit-image")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / PHOTOS[name][0]
    with Image.open(path) as image:
        return image.convert("RGB")


def style(name: str, size: int = 512, seed: int = 0) -> Image.Image:
    """One of :data:`STYLES`, ``size`` pixels square, the same for the same seed."""
    if name not in STYLES:
        raise KeyError(f"unknown example style {name!r}; choose from {', '.join(STYLES)}")
    return STYLES[name][0](size, np.random.default_rng(seed))


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid, enlarged with bicubic interpolation."""
    coarse = (rng.random((cells, cells)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), np.float32) / 255


def _flow_angle(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth field of directions with a few vortices (radians, (size, size))."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = 2 * np.pi * _smooth_noise(rng, size, 4)
    for _ in range(5):  # vortices: flow circles around random centres
        cx, cy, radius = rng.random(), rng.random() * 0.8, 0.08 + 0.12 * rng.random()
        dx, dy = xx - cx, yy - cy
        weight = np.exp(-(dx**2 + dy**2) / (2 * radius**2))
        angle = angle * (1 - weight) + (np.arctan2(dy, dx) + np.pi / 2) * weight
    return angle


def _palette(values: np.ndarray, stops: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    """Map values in [0, 1] to colours by linear interpolation between ``stops``."""
    positions = [p for p, _ in stops]
    channels = [np.interp(values, positions, [c[i] for _, c in stops]) for i in range(3)]
    return np.stack(channels, axis=-1)


def _swirls(size: int, rng: np.random.Generator) -> Image.Image:
    angle = _flow_angle(rng, size)
    vx, vy = np.cos(angle), np.sin(angle)
    noise = rng.random((size, size)).astype(np.float32)
    total = np.zeros((size, size), np.float32)
    for direction in (1.0, -1.0):  # line-integral convolution: average noise along the flow
        x, y = np.mgrid[0:size, 0:size][::-1].astype(np.float32)
        for _ in range(14):
            ix, iy = np.clip(x, 0, size - 1).astype(int), np.clip(y, 0, size - 1).astype(int)
            total += noise[iy, ix]
            x, y = x + direction * vx[iy, ix], y + direction * vy[iy, ix]
    streaks = (total / 28 - 0.5) * 3 + 0.5  # stretch the contrast of the smeared noise
    tone = 0.55 * _smooth_noise(rng, size, 5) + 0.45 * np.clip(streaks, 0, 1)
    colours = _palette(
        tone,
        [
            (0.0, (10, 25, 70)),
            (0.35, (30, 70, 150)),
            (0.6, (90, 140, 200)),
            (0.78, (230, 200, 90)),
            (1.0, (250, 240, 170)),
        ],
    )
    return Image.fromarray(colours.clip(0, 255).astype(np.uint8))


def _mosaic(size: int, rng: np.random.Generator) -> Image.Image:
    count = 180
    points = rng.random((count, 2)).astype(np.float32) * size
    colours = _palette(
        rng.random(count),
        [
            (0.0, (160, 20, 40)),
            (0.25, (230, 150, 20)),
            (0.5, (30, 120, 60)),
            (0.75, (20, 60, 160)),
            (1.0, (120, 40, 140)),
        ],
    )
    pixels = np.stack(list(np.mgrid[0:size, 0:size][::-1]), -1).reshape(-1, 2).astype(np.float32)
    nearest = np.empty(len(pixels), np.int64)
    second = np.empty(len(pixels), np.float32)
    gap = np.empty(len(pixels), np.float32)
    for start in range(0, len(pixels), 65536):  # in chunks: (chunk, count) distances at a time
        d = ((pixels[start : start + 65536, None, :] - points[None]) ** 2).sum(-1)
        two = np.partition(d, 1, axis=1)[:, :2]
        nearest[start : start + 65536] = d.argmin(1)
        second[start : start + 65536] = np.sqrt(two[:, 1])
        gap[start : start + 65536] = np.sqrt(two[:, 1]) - np.sqrt(two[:, 0])
    glass = colours[nearest] * (0.8 + 0.4 * rng.random((len(pixels), 1)) ** 4)
    lead = (gap < size / 170).astype(np.float32)[:, None]
    image = glass * (1 - lead) + np.array([25, 20, 18]) * lead
    return Image.fromarray(image.reshape(size, size, 3).clip(0, 255).astype(np.uint8)).filter(ImageFilter.SMOOTH)


def _strokes(size: int, rng: np.random.Generator) -> Image.Image:
    angle = _flow_angle(rng, size)
    tone = _smooth_noise(rng, size, 6)
    canvas = Image.new("RGB", (size, size), (235, 225, 200))
    draw = ImageDraw.Draw(canvas)
    stops = [
        (0.0, (120, 30, 20)),
        (0.3, (220, 90, 30)),
        (0.55, (245, 190, 60)),
        (0.8, (60, 120, 140)),
        (1.0, (20, 50, 90)),
    ]
    length, width = size / 16, max(2, size // 70)
    for _ in range(int(9 * (size / length) ** 2)):
        x, y = rng.random(2) * size
        a = angle[int(y), int(x)] + rng.normal(0, 0.15)
        colour = _palette(np.array([tone[int(y), int(x)] + rng.normal(0, 0.08)]), stops)[0]
        colour = tuple(int(c) for c in (colour * (0.85 + 0.3 * rng.random())).clip(0, 255))
        dx, dy = np.cos(a) * length / 2, np.sin(a) * length / 2
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=colour, width=width)
    return canvas.filter(ImageFilter.GaussianBlur(0.6))


STYLES: dict[str, tuple[Callable[[int, np.random.Generator], Image.Image], str]] = {
    "swirls": (_swirls, "generated by this project: noise smeared along a swirling flow field"),
    "mosaic": (_mosaic, "generated by this project: a stained-glass Voronoi mosaic"),
    "strokes": (_strokes, "generated by this project: brush strokes that follow a flow field"),
}
