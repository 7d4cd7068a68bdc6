"""Coarse to fine: the plan of sizes and steps, and the run that follows it."""

from __future__ import annotations

import numpy as np
import pytest

from nst import Settings, TargetCache, stylize, transfer
from nst.schedule import MAX_SCALE_FACTOR, plan_scales


@pytest.mark.parametrize("output_size", [256, 512, 700, 1024])
@pytest.mark.parametrize("iterations", [20, 120, 301])
def test_the_plan_grows_geometrically_to_exactly_the_output_size(output_size, iterations) -> None:
    plan = plan_scales(Settings(output_size=output_size, iterations=iterations))
    sizes = [scale.size for scale in plan]
    assert sizes[0] == 192 and sizes[-1] == output_size and sizes == sorted(sizes)
    assert all(b / a <= MAX_SCALE_FACTOR + 0.01 for a, b in zip(sizes, sizes[1:], strict=False))
    ratios = [b / a for a, b in zip(sizes, sizes[1:], strict=False)]
    assert max(ratios) - min(ratios) < 0.02  # one factor throughout
    assert sum(scale.steps for scale in plan) == iterations
    assert all(scale.steps >= 1 for scale in plan)


def test_most_steps_are_spent_at_the_small_scales_about_equal_time_each() -> None:
    plan = plan_scales(Settings(output_size=512, iterations=300))
    steps = [scale.steps for scale in plan]
    assert steps == sorted(steps, reverse=True) and steps[0] > 3 * steps[-1]
    work = [scale.steps * scale.size**2 for scale in plan]  # time per step grows with the pixels
    assert max(work) / min(work) < 1.2


def test_single_scale_and_small_outputs_use_one_size() -> None:
    assert [(s.size, s.steps) for s in plan_scales(Settings(scales=1, iterations=50))] == [(512, 50)]
    assert [(s.size, s.steps) for s in plan_scales(Settings(output_size=160, iterations=50))] == [(160, 50)]


def test_the_split_and_the_number_of_scales_can_be_chosen() -> None:
    plan = plan_scales(Settings(output_size=400, start_size=100, scales=3, scale_split=(2, 1, 1), iterations=100))
    assert [(s.size, s.steps) for s in plan] == [(100, 50), (200, 25), (400, 25)]
    assert len(plan_scales(Settings(iterations=2))) == 2  # never more scales than steps


def test_previews_come_at_every_scale_and_the_last_is_the_output_size(caffe_extractor, content_image, style_image):
    settings = Settings(output_size=96, start_size=48, iterations=9, preview_every=1)
    records = list(transfer(content_image, style_image, settings, extractor=caffe_extractor))
    assert [r.step for r in records] == list(range(1, 10))
    assert {r.scales for r in records} == {3}
    by_scale = {r.scale: r.image.size for r in records}
    assert by_scale == {1: (48, 36), 2: (68, 51), 3: (96, 72)}
    assert all(r.image.size == r.size for r in records)
    assert records[-1].image.size == (96, 72)


def test_a_run_from_cached_targets_equals_one_that_computes_them(caffe_extractor, content_image, style_image):
    settings = Settings(output_size=96, start_size=48, iterations=6, preview_every=0)
    cache = TargetCache()
    first = stylize(content_image, style_image, settings, extractor=caffe_extractor, cache=cache)
    computed = cache.computed
    assert computed == 2 * 3  # content and style, at each of the three scales
    again = stylize(content_image, style_image, settings, extractor=caffe_extractor, cache=cache)
    assert cache.computed == computed and cache.reused == computed
    assert np.array_equal(np.asarray(first), np.asarray(again))


def test_new_weights_reuse_every_target_and_new_layers_do_not(caffe_extractor, content_image, style_image):
    settings = Settings(output_size=64, iterations=2, preview_every=0)
    cache = TargetCache()
    stylize(content_image, style_image, settings, extractor=caffe_extractor, cache=cache)
    assert cache.computed == 2
    for changes in ({"style_weight": 1000.0}, {"content_weight": 0.1}, {"tv_weight": 5.0}, {"optimizer": "adam"}):
        stylize(content_image, style_image, settings.replace(**changes), extractor=caffe_extractor, cache=cache)
    assert cache.computed == 2  # live tuning computes no target again
    stylize(
        content_image, style_image, settings.replace(style_layers=("relu1_1",)), extractor=caffe_extractor, cache=cache
    )
    assert cache.computed == 3  # only the style targets were new


def test_paced_previews_start_with_the_first_step(caffe_extractor, content_image, style_image) -> None:
    settings = Settings(output_size=64, iterations=4, preview_every=0)
    records = list(transfer(content_image, style_image, settings, extractor=caffe_extractor, preview_seconds=60))
    assert [r.step for r in records if r.image is not None] == [1, 4]  # the first at once, then the last
