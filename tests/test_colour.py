"""Colour preservation (Gatys et al. 2016): luminance-only transfer and colour matching."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nst import Settings, evaluate, transfer
from nst.colour import match_colour, matched_luminance, with_content_colour

from conftest import make_content, make_style


def chroma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("YCbCr"), np.int16)[..., 1:]  # (H, W, 2): Cb, Cr


def test_luminance_only_transfer_keeps_the_photos_colours(caffe_extractor, content_image, style_image) -> None:
    settings = Settings(output_size=64, iterations=8, preview_every=4, preserve_colour="luminance")
    records = list(transfer(content_image, style_image, settings, extractor=caffe_extractor))
    plain = list(
        transfer(content_image, style_image, settings.replace(preserve_colour="off"), extractor=caffe_extractor)
    )
    result, photo = records[-1].image, content_image.resize(records[-1].image.size, Image.Resampling.LANCZOS)
    difference = np.abs(chroma(result) - chroma(photo))
    # the photo's chroma to within rounding, except where a brightness and a colour together
    # leave the RGB gamut and are clipped
    assert difference.mean() < 0.8 and (difference <= 2).mean() > 0.97
    assert np.abs(chroma(plain[-1].image) - chroma(photo)).max() > 20  # an ordinary run changes colours
    brightness = np.asarray(result.convert("L"), float) - np.asarray(photo.convert("L"), float)
    assert np.abs(brightness).mean() > 3  # while the brightness was restyled
    assert all(r.image.size == result.size for r in records if r.image is not None)


def test_histogram_matching_gives_the_style_the_photos_colour_statistics() -> None:
    photo, painting = make_content(96, 72), make_style(80, 80)
    matched = match_colour(painting, photo)
    pixels = lambda image: np.asarray(image, float).reshape(-1, 3) / 255  # noqa: E731
    assert matched.size == painting.size and matched.mode == "RGB"
    np.testing.assert_allclose(pixels(matched).mean(0), pixels(photo).mean(0), atol=0.02)
    np.testing.assert_allclose(np.cov(pixels(matched), rowvar=False), np.cov(pixels(photo), rowvar=False), atol=0.01)


def test_the_style_luminance_takes_the_photos_mean_and_spread() -> None:
    photo, painting = make_content(96, 72), make_style(80, 80)
    grey = np.asarray(matched_luminance(painting, photo), float)
    photo_y = np.asarray(photo.convert("YCbCr").getchannel("Y"), float)
    assert np.array_equal(grey[..., 0], grey[..., 2])  # grey
    assert grey[..., 0].mean() == pytest.approx(photo_y.mean(), abs=1.0)
    assert grey[..., 0].std() == pytest.approx(photo_y.std(), abs=1.0)


def test_recombining_a_grey_picture_with_the_photo_keeps_its_brightness() -> None:
    photo = make_content(64, 48)
    grey = Image.new("RGB", (32, 24), (90, 90, 90))
    combined = with_content_colour(grey, photo)
    assert combined.size == (32, 24)
    assert np.median(np.asarray(combined.convert("YCbCr"))[..., 0]) == pytest.approx(90, abs=1)


@pytest.mark.parametrize("mode", ["luminance", "histogram"])
def test_evaluate_scores_colour_preserving_runs_the_way_they_ran(caffe_extractor, mode) -> None:
    content, style = make_content(), make_style()
    settings = Settings(output_size=64, iterations=1, preserve_colour=mode, precision="float32")
    first = next(iter(transfer(content, style, settings, extractor=caffe_extractor)))
    score = evaluate(content, content, style, settings, extractor=caffe_extractor)
    assert score["total"] == pytest.approx(first.loss, rel=1e-4)
