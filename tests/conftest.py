"""Shared fixtures: the real Caffe VGG19 (loaded once) and small pictures made in code."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from nst.execution import LocalExecutor, Place
from nst.features import FeatureExtractor, build_extractor
from nst.targets import TargetCache

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # streamlit_app.py, for tests that import it


@pytest.fixture(scope="session")
def caffe_extractor() -> FeatureExtractor:
    """The real offline weights, shared by the tests that only read them."""
    return build_extractor("caffe", device="cpu")


@pytest.fixture
def local_executor(caffe_extractor) -> LocalExecutor:
    """Runs in this process on the shared Caffe VGG19, with a fresh target cache."""
    return LocalExecutor(place=Place(lambda _settings: caffe_extractor, TargetCache()))


def make_content(width: int = 64, height: int = 48) -> Image.Image:
    """A small 'photo': sky gradient, a house and a sun."""
    y = np.linspace(0, 1, height)[:, None]
    sky = np.stack([60 + 80 * y, 120 + 80 * y, 220 - 40 * y], axis=-1) * np.ones((1, width, 1))
    image = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.rectangle([width * 0.2, height * 0.45, width * 0.6, height], fill=(200, 60, 40))
    draw.polygon(
        [(width * 0.15, height * 0.45), (width * 0.4, height * 0.2), (width * 0.65, height * 0.45)], fill=(90, 40, 30)
    )
    draw.ellipse([width * 0.7, height * 0.1, width * 0.9, height * 0.35], fill=(250, 220, 80))
    return image


def make_style(width: int = 64, height: int = 64, seed: int = 1) -> Image.Image:
    """A small 'painting': coloured diagonal stripes with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    phase = (xx + yy) / 6.0
    red = 128 + 110 * np.sin(phase)
    green = 128 + 110 * np.sin(phase + 2.1)
    blue = 128 + 110 * np.cos(0.5 * phase)
    pixels = np.stack([red, green, blue], axis=-1) + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


@pytest.fixture
def content_image() -> Image.Image:
    return make_content()


@pytest.fixture
def style_image() -> Image.Image:
    return make_style()
