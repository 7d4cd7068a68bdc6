"""Several style pictures blended with weights."""

from __future__ import annotations

import numpy as np
import pytest

from nst import Settings, SettingsError, TargetCache, evaluate, transfer

from conftest import make_content, make_style


def final(content, style, settings, extractor, cache=None):
    *_, last = transfer(content, style, settings, extractor=extractor, cache=cache)
    return last


def test_blend_weights_of_one_and_zero_equal_a_single_style_run(caffe_extractor) -> None:
    content, first, second = make_content(), make_style(seed=1), make_style(70, 50, seed=9).rotate(90, expand=True)
    settings = Settings(output_size=64, iterations=6, preview_every=0, precision="float32")
    alone = final(content, first, settings, caffe_extractor)
    blended = final(content, [first, second], settings.replace(style_blend=(1.0, 0.0)), caffe_extractor)
    assert blended.loss == alone.loss
    assert np.array_equal(np.asarray(blended.image), np.asarray(alone.image))
    other = final(content, [first, second], settings.replace(style_blend=(0.0, 1.0)), caffe_extractor)
    assert other.loss != alone.loss


def test_an_even_blend_scores_between_its_two_styles(caffe_extractor) -> None:
    content, first, second = make_content(), make_style(seed=1), make_style(seed=5).transpose(0)
    settings = Settings(output_size=64, iterations=10, preview_every=0)
    cache = TargetCache()
    picture = final(content, [first, second], settings, caffe_extractor, cache).image
    score = {
        name: evaluate(picture, content, style, settings, extractor=caffe_extractor, cache=cache)["style"]
        for name, style in (("first", first), ("second", second), ("both", [first, second]))
    }
    assert score["both"] < max(score["first"], score["second"])
    assert cache.computed == 1 + 2  # the content and each style once; the blend and the scores reuse them


def test_the_blend_must_match_the_pictures(caffe_extractor) -> None:
    settings = Settings(output_size=64, iterations=1, style_blend=(1, 2, 3))
    with pytest.raises(SettingsError, match="3 weights for 2 style pictures"):
        final(make_content(), [make_style(), make_style(seed=2)], settings, caffe_extractor)
    with pytest.raises(SettingsError, match="not all zero"):
        Settings(style_blend=(0, 0))
