"""The optimisation loop on small pictures with the real Caffe VGG19."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

import nst.engine
import nst.inputs
import nst.objective
import nst.optimiser
import nst.terms
from nst import DivergedError, Settings, evaluate, stylize, transfer
from nst.errors import ImageLoadError

from conftest import make_content, make_style

SMALL = dict(output_size=64, preview_every=0)


def run(content, style, extractor, **changes):
    return list(transfer(content, style, Settings(**{**SMALL, **changes}), extractor=extractor))


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_the_total_loss_falls_substantially_within_20_steps(
    optimizer, caffe_extractor, content_image, style_image
) -> None:
    records = run(content_image, style_image, caffe_extractor, optimizer=optimizer, iterations=20)
    first, last = records[0].loss, records[-1].loss
    factor = {"lbfgs": 0.3, "adam": 0.5}[optimizer]
    assert last < factor * first, (optimizer, first, last)
    assert records[-1].style_loss < factor * records[0].style_loss


def test_the_generator_yields_one_record_per_step(caffe_extractor, content_image, style_image) -> None:
    records = run(content_image, style_image, caffe_extractor, iterations=7)
    assert [r.step for r in records] == list(range(1, 8))
    assert all(r.total == 7 for r in records) and records[-1].done and not records[0].done
    assert all(r.size == (64, 48) for r in records)
    elapsed = [r.elapsed for r in records]
    assert elapsed == sorted(elapsed) and records[-1].eta == 0.0
    for r in records:
        assert r.loss == pytest.approx(r.content_loss + Settings().style_weight * r.style_loss, rel=1e-4)


def test_previews_arrive_at_the_requested_interval_and_always_at_the_end(
    caffe_extractor, content_image, style_image
) -> None:
    records = run(content_image, style_image, caffe_extractor, iterations=12, preview_every=5)
    assert [r.step for r in records if r.image is not None] == [5, 10, 12]
    final = records[-1].image
    assert final.mode == "RGB" and final.size == (64, 48)
    only_end = run(content_image, style_image, caffe_extractor, iterations=3, preview_every=0)
    assert [r.step for r in only_end if r.image is not None] == [3]


def test_lbfgs_evaluates_the_network_once_per_step(caffe_extractor, content_image, style_image) -> None:
    calls: list[int] = []

    class Counting:
        device, source, pooling = caffe_extractor.device, caffe_extractor.source, caffe_extractor.pooling

        def __call__(self, image, layers, visit=None):
            calls.append(image.shape[-1])
            return caffe_extractor(image, layers, visit=visit)

    list(transfer(content_image, style_image, Settings(**SMALL, iterations=6), extractor=Counting()))
    # content and style targets, one forward+backward per step, one forward to score the last step's picture
    assert len(calls) == 2 + 6 + 1


@pytest.mark.parametrize("init", ["noise", "style", "content"])
def test_the_same_seed_gives_the_same_picture(init, caffe_extractor, content_image, style_image) -> None:
    settings = Settings(**SMALL, iterations=4, init=init, seed=3)
    first = np.asarray(stylize(content_image, style_image, settings, extractor=caffe_extractor))
    second = np.asarray(stylize(content_image, style_image, settings, extractor=caffe_extractor))
    assert np.array_equal(first, second)
    if init == "noise":
        other = np.asarray(stylize(content_image, style_image, settings.replace(seed=4), extractor=caffe_extractor))
        assert not np.array_equal(first, other)


def test_a_style_picture_of_any_size_and_shape_works(caffe_extractor, content_image) -> None:
    for style in (make_style(300, 40), make_style(20, 90), make_style(500, 500), make_style(2000, 3)):
        result = stylize(content_image, style, extractor=caffe_extractor, **SMALL, iterations=2)
        assert result.size == (64, 48)


def test_adam_keeps_the_pixels_in_range(caffe_extractor, content_image, style_image, monkeypatch) -> None:
    seen: list[tuple[float, float]] = []
    original = nst.inputs.to_pil

    def recording(image):
        seen.append((float(image.detach().min()), float(image.detach().max())))
        return original(image)

    monkeypatch.setattr(nst.inputs, "to_pil", recording)
    run(content_image, style_image, caffe_extractor, optimizer="adam", learning_rate=0.5, iterations=5, preview_every=1)
    assert len(seen) == 5 and all(0.0 <= low and high <= 1.0 for low, high in seen)


def test_init_image_starts_the_run_from_that_picture(caffe_extractor, content_image, style_image) -> None:
    start = make_style(64, 48, seed=9)
    settings = Settings(**{**SMALL, "preview_every": 1}, iterations=1, content_weight=0.0, style_weight=1e-12)
    result = stylize(content_image, style_image, settings, extractor=caffe_extractor, init_image=start)
    assert np.abs(np.asarray(result, float) - np.asarray(start, float)).max() <= 1


def test_stopping_iteration_ends_the_run_and_releases_it(caffe_extractor, content_image, style_image) -> None:
    run_ = transfer(content_image, style_image, Settings(**SMALL, iterations=50), extractor=caffe_extractor)
    assert next(run_).step == 1
    run_.close()  # what a caller that stops iterating does
    with pytest.raises(StopIteration):
        next(run_)
    seen: list[int] = []
    result = stylize(
        content_image,
        style_image,
        Settings(**{**SMALL, "preview_every": 1}, iterations=50),
        extractor=caffe_extractor,
        callback=lambda p: seen.append(p.step) or p.step < 3,
    )
    assert seen == [1, 2, 3] and result.size == (64, 48)


class _Stopped(BaseException):
    """What Streamlit raises at a yield point when Stop was pressed (a BaseException, as its own)."""


def test_a_checkpoint_that_raises_ends_the_run_inside_a_step(caffe_extractor, content_image, style_image) -> None:
    calls: list[str] = []
    stop_at: list[int] = []

    def checkpoint() -> None:
        calls.append("x")
        if stop_at and len(calls) == stop_at[0]:
            raise _Stopped

    settings = Settings(**SMALL, iterations=20, scales=1, precision="float32")
    records = list(transfer(content_image, style_image, settings, extractor=caffe_extractor, checkpoint=checkpoint))
    per_step = len(calls) / len(records)
    assert per_step >= 6  # each layer read in the forward pass and each pool in the backward pass
    calls.clear()
    stop_at.append(int(3.5 * per_step))  # halfway through the fourth step
    seen = []
    with pytest.raises(_Stopped):
        for record in transfer(content_image, style_image, settings, extractor=caffe_extractor, checkpoint=checkpoint):
            seen.append(record.step)
    assert seen == [1, 2, 3]  # the fourth step never finished


def test_in_tiles_the_checkpoint_comes_after_each_tile_before_its_report() -> None:
    heard: list[object] = []
    report = nst.engine.Within(lambda done, count: heard.append((done, count)), lambda: heard.append("checked"))
    tile_report = report.tile_report()
    assert tile_report is not None
    tile_report(1, 4)
    assert heard == ["checked", (1, 4)]
    assert nst.engine.Within(None, None).tile_report() is None


def test_a_diverging_run_stops_with_a_message_and_the_last_finite_picture(
    caffe_extractor, content_image, style_image, monkeypatch
) -> None:
    calls = {"n": 0}
    real = nst.terms.style_loss_from_grams

    def breaks_at_step_4(*args, **kwargs):
        calls["n"] += 1
        value = real(*args, **kwargs)
        return value * float("nan") if calls["n"] >= 4 else value

    monkeypatch.setattr(nst.terms, "style_loss_from_grams", breaks_at_step_4)
    with pytest.raises(DivergedError) as caught:
        run(content_image, style_image, caffe_extractor, iterations=10)
    assert caught.value.step == 4 and "diverged at step 4" in str(caught.value)
    assert caught.value.last_image is not None and caught.value.last_image.size == (64, 48)


def test_a_last_step_that_leaps_uphill_is_undone(caffe_extractor, content_image, style_image) -> None:
    # Adam at a learning rate of 1000 turns the photo into pure primaries in one step.
    records = run(content_image, style_image, caffe_extractor, optimizer="adam", learning_rate=1000.0, iterations=3)
    assert records[1].loss > 2 * records[0].loss  # the leap, as measured at the next step
    final = np.asarray(records[-1].image, float)
    assert np.abs(final - np.asarray(content_image, float)).max() <= 1  # the best picture: the start
    assert records[-1].loss == records[0].loss


def leaping(monkeypatch, leaps, rates: list[float] | None = None) -> list[torch.optim.Optimizer]:
    """Make the engine's optimisers leap: after a step for which ``leaps(optimizer, own, all)`` is
    true (``own``: that optimiser's steps, ``every``: every optimiser's), the picture turns black,
    as after a step far too long. Returns the optimisers made, in order; ``rates`` gets the
    step length each step was taken with."""
    made: list[torch.optim.Optimizer] = []
    real, steps = nst.optimiser.make_optimizer, {"every": 0}

    def making(settings, image, layout=None, **changes):
        optimizer = real(settings, image, layout, **changes)
        made.append(optimizer)
        step, own = optimizer.step, {"n": 0}

        def step_then_leap(closure):
            if rates is not None:
                rates.append(optimizer.param_groups[0]["lr"])
            loss = step(closure)
            own["n"] += 1
            steps["every"] += 1
            if leaps(optimizer, own["n"], steps["every"]):
                with torch.no_grad():
                    image.zero_()
            return loss

        optimizer.step = step_then_leap  # type: ignore[method-assign]
        return optimizer

    monkeypatch.setattr(nst.optimiser, "make_optimizer", making)
    # Relative errors barely pass 1 for any picture, so early in a run (loss near its start) a
    # leap cannot double the loss; these tests' leaps count from 1.25 times the best.
    monkeypatch.setattr(nst.optimiser, "LEAP", 1.25)
    return made


def test_an_lbfgs_step_that_leaps_uphill_is_undone_and_only_its_curvature_pair_forgotten(
    caffe_extractor, content_image, style_image, monkeypatch
) -> None:
    made = leaping(monkeypatch, lambda optimizer, own, every: every == 3)
    records = run(content_image, style_image, caffe_extractor, iterations=8, scales=1)
    losses = [r.loss for r in records]
    assert losses[3] > 1.25 * min(losses[:3])  # measured at step 4: the leap
    assert len(made) == 1  # the same L-BFGS goes on
    assert losses[4] == pytest.approx(min(losses[:3]), rel=1e-4)  # step 5 starts from the best picture, exactly
    # Pairs come from evaluations 2 to 8; the leap's (4) is dropped and 5, at the restored
    # picture, forms none: 5 pairs kept. A fresh L-BFGS at step 5 would have 3.
    assert len(made[0].state[next(iter(made[0].state))]["old_dirs"]) == 5
    assert losses[-1] < min(losses[:3])


def test_after_a_leap_the_steps_are_shorter_then_lengthen_again_after_good_steps(
    caffe_extractor, content_image, style_image, monkeypatch
) -> None:
    # From the best picture the same L-BFGS at the same rate takes the very same step, so it
    # leapt again at the same step, for the rest of the scale (found in a layer view: the loss
    # went 10.5, 10.5, 51, 10.5, 10.5, 51, ... for 25 steps). Here the optimiser leaps after its
    # third step when it steps at the settings' rate, as that one did.
    rate, rates = Settings().lr, []
    leaping(monkeypatch, lambda optimizer, own, every: own == 3 and optimizer.param_groups[0]["lr"] == rate, rates)
    records = run(content_image, style_image, caffe_extractor, iterations=12, scales=1)
    losses = [r.loss for r in records]
    recover = nst.optimiser.RECOVER
    # Steps 1-4 at the rate (the leap is seen at step 4), then half of it until RECOVER good steps.
    assert rates == [rate] * 4 + [rate / 2] * recover + [rate] * (12 - 4 - recover)
    assert losses[-1] < min(losses[:3])


def test_a_style_reconstruction_from_noise_keeps_improving(caffe_extractor) -> None:
    # The layer view where the repeating leap was seen (96 px, one thread, as on a cluster worker).
    from nst.reconstruct import plans

    images = Path(__file__).resolve().parents[2] / "shared" / "images"
    if not (images / "starry_night.jpg").exists():
        pytest.skip("needs ../shared/images")
    _, settings = plans(size=96, steps=30)[6]  # style from conv1_1 and conv2_1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        records = list(transfer(images / "tubingen.jpg", images / "starry_night.jpg", settings,
                                extractor=caffe_extractor))  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert records[-1].loss < 0.2 * records[3].loss, [round(r.loss, 3) for r in records]


def test_a_picture_too_thin_for_the_layers_is_a_clear_error(caffe_extractor, style_image) -> None:
    with pytest.raises(ImageLoadError, match="too narrow.*at least 16 px"):
        run(make_content(640, 10), style_image, caffe_extractor, iterations=1)


def test_without_an_extractor_one_is_built_only_as_deep_as_needed(monkeypatch, content_image, style_image) -> None:
    built: list[str] = []
    real = nst.engine.build_extractor

    def spy(weights, **kwargs):
        built.append(kwargs["last_layer"])
        return real(weights, **kwargs)

    monkeypatch.setattr(nst.engine, "build_extractor", spy)
    stylize(
        content_image, style_image, output_size=32, iterations=1, content_layers=("relu2_1",), style_layers=("relu1_1",)
    )
    assert built == ["relu2_1"]


def test_evaluate_scores_a_picture_like_the_loop_does(caffe_extractor, content_image, style_image) -> None:
    from nst import evaluate

    settings = Settings(**SMALL, iterations=1, precision="float32")
    first = next(iter(transfer(content_image, style_image, settings, extractor=caffe_extractor)))
    score = evaluate(
        content_image, content_image, style_image, settings.replace(precision="bfloat16"), extractor=caffe_extractor
    )  # evaluate always scores in float32
    assert score["content"] == 0.0  # the content photo is its own content target
    assert score["total"] == pytest.approx(first.loss, rel=1e-5)  # step 1 measures the starting picture


def test_each_new_scale_starts_with_the_content_photos_fine_detail(content_image) -> None:
    from nst.images import resize_longest, to_tensor
    from nst.optimiser import upsample

    fine = to_tensor(resize_longest(content_image, 64))  # (1, 3, 48, 64)
    coarse = to_tensor(resize_longest(content_image, 32))
    started = upsample(coarse, fine.shape[-2:], fine)
    assert started.shape == fine.shape and 0 <= started.min() and started.max() <= 1
    # the coarse content photo, upsampled with the detail added back, is the fine photo again
    assert (started - fine).abs().mean() < 0.5 * (upsample(coarse, fine.shape[-2:], None) - fine).abs().mean()


def test_scale_up_adds_the_photos_fine_detail_or_none(caffe_extractor, content_image, style_image) -> None:
    """Two scales and a step so small it changes nothing: the result is the start picture's way through
    the scale up, so ``plain`` gives a blurred start, ``photo`` that with the photo's edges, and ``auto``
    from a picture of one's own what ``plain`` gives."""
    start = make_style(96, 72, seed=9)  # a picture of one's own, with fine stripes and noise
    settings = Settings(output_size=96, start_size=48, scales=2, iterations=2, init="image", content_weight=0.0,
                        style_weight=1e-12, tv_weight=0.0, preview_every=0)  # fmt: skip
    results = {
        way: np.asarray(
            stylize(
                content_image, style_image, settings.replace(scale_up=way), extractor=caffe_extractor, init_image=start
            ),
            float,
        )  # fmt: skip
        for way in ("photo", "plain", "auto")
    }
    assert np.abs(results["auto"] - results["plain"]).max() == 0
    # what "photo" adds over "plain" is the photo's fine detail: its edges, not the start's stripes
    added = (results["photo"] - results["plain"]).mean(axis=2).ravel()
    photo = np.asarray(content_image.resize((96, 72)), float).mean(axis=2)
    photo_detail = (photo - np.asarray(Image.fromarray(photo.astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.5)),
                                       float)).ravel()  # fmt: skip
    assert np.corrcoef(added, photo_detail)[0, 1] > 0.5
    blurred = np.asarray(start.filter(ImageFilter.GaussianBlur(1.5)), float)
    own = np.asarray(start, float)
    assert np.abs(results["plain"] - blurred).mean() < np.abs(results["plain"] - own).mean()  # enlarged: blurred


def test_bfloat16_follows_the_float32_loss_curve(caffe_extractor, content_image, style_image) -> None:
    curves = {
        p: [r.loss for r in run(content_image, style_image, caffe_extractor, iterations=15, precision=p)]
        for p in ("float32", "bfloat16")
    }
    assert curves["bfloat16"] != curves["float32"]  # it really ran in the other precision
    assert curves["bfloat16"][0] == pytest.approx(curves["float32"][0], rel=0.02)
    assert curves["bfloat16"][-1] == pytest.approx(curves["float32"][-1], rel=0.15)
    assert curves["bfloat16"][-1] < 0.5 * curves["bfloat16"][0]


@pytest.mark.parametrize(("fast", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_auto_precision_uses_bfloat16_only_where_the_processor_is_fast_at_it(monkeypatch, fast, expected) -> None:
    import torch

    from nst import device

    monkeypatch.setattr(device, "cpu_has_fast_bfloat16", lambda: fast)
    assert device.resolve_precision("auto", torch.device("cpu")) == getattr(torch, expected)
    assert device.resolve_precision("float32", torch.device("cpu")) == torch.float32
    assert device.resolve_precision("auto", torch.device("mps")) == torch.float32


@pytest.mark.parametrize(("isa", "allowed"), [("AVX2", False), ("avx512_core", False), ("AVX512_CORE_BF16", None)])
def test_onednn_capped_below_bfloat16_counts_as_no_fast_bfloat16(monkeypatch, isa, allowed) -> None:
    from nst import device

    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    native = device.cpu_has_fast_bfloat16()
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
    assert device.cpu_has_fast_bfloat16() == (native if allowed is None else allowed)


def test_lbfgs_keeps_fewer_curvature_pairs_only_for_large_pictures() -> None:
    from nst.optimiser import LBFGS_HISTORY, LBFGS_HISTORY_BYTES, LBFGS_MIN_HISTORY, lbfgs_history

    assert lbfgs_history(torch.zeros(1, 3, 384, 512)) == LBFGS_HISTORY
    large = torch.zeros(1, 3, 768, 1024)
    pairs = lbfgs_history(large)
    assert LBFGS_MIN_HISTORY <= pairs < LBFGS_HISTORY
    assert pairs * 2 * large.numel() * 4 <= LBFGS_HISTORY_BYTES
    assert lbfgs_history(torch.zeros(1, 3, 3000, 4000)) == LBFGS_MIN_HISTORY


@pytest.mark.parametrize("trim", [False, True])
def test_one_step_gives_the_plain_loss_and_gradient(
    trim, caffe_extractor, content_image, style_image, monkeypatch
) -> None:
    """The loop builds Gram matrices during the forward pass and, for large pictures, hands memory
    back from gradient hooks; neither may change the loss or the gradient."""
    from nst.images import resize_longest, to_tensor
    from nst.inputs import prepare_inputs
    from nst.losses import content_loss, style_loss
    from nst.objective import closure_for
    from nst.scale_targets import targets_at
    from nst.schedule import Scale
    from nst.targets import TargetCache

    released = []
    monkeypatch.setattr(nst.objective, "TRIM_PIXELS", 0 if trim else 10**9)
    monkeypatch.setattr(nst.objective, "release_free_memory", lambda: released.append(1))
    settings = Settings(**SMALL, precision="float32", style_layer_weights=(1, 2, 3, 4, 5))
    inputs = prepare_inputs(settings, content_image, style_image, None)
    content = to_tensor(resize_longest(inputs.content, 64))
    targets = targets_at(caffe_extractor, TargetCache(), settings, content, inputs, Scale(64, 1))
    picture = torch.rand(content.shape)

    image = picture.clone().requires_grad_(True)
    closure, terms = closure_for(caffe_extractor, settings, targets, image)
    loss = closure()

    plain = picture.clone().requires_grad_(True)
    features = caffe_extractor(plain, settings.content_layers + settings.style_layers)
    c = content_loss(features, targets.content, settings.content_layers)
    s = style_loss(features, targets.style_grams, settings.style_layers, settings.normalised_style_layer_weights)
    (c + settings.style_weight * s).backward()

    assert terms["content"] == pytest.approx(c.item(), rel=1e-6)
    assert terms["style"] == pytest.approx(s.item(), rel=1e-6)
    assert loss.item() == pytest.approx(c.item() + settings.style_weight * s.item(), rel=1e-6)
    torch.testing.assert_close(image.grad, plain.grad, rtol=1e-5, atol=1e-9)
    assert bool(released) == trim  # once before the backward pass, then at pool3, pool2 and pool1
    assert len(released) == (4 if trim else 0)


def test_the_wasserstein_style_loss_runs_has_its_own_targets_and_wins_on_its_own_measure(
    caffe_extractor, content_image, style_image
) -> None:
    from nst.targets import TargetCache

    cache = TargetCache()
    base = Settings(output_size=96, iterations=15, precision="float32", preview_every=0)
    records = {}
    for loss in ("gram", "wasserstein"):
        records[loss] = list(transfer(content_image, style_image, base.replace(style_loss=loss),
                                      extractor=caffe_extractor, cache=cache))  # fmt: skip
    assert cache.computed == 3  # the content's features once, the style's targets once per loss
    curve = [r.style_loss for r in records["wasserstein"]]
    assert all(map(math.isfinite, curve)) and curve[-1] < 0.5 * curve[0]
    # Each run is better than the other on the measure it optimised: the choice changes the target.
    judged = {}
    for made in ("gram", "wasserstein"):
        png = io.BytesIO()
        records[made][-1].image.save(png, format="PNG")
        for measure in ("gram", "wasserstein"):
            settings = base.replace(style_loss=measure)
            judged[made, measure] = evaluate(png.getvalue(), content_image, style_image, settings,
                                             extractor=caffe_extractor)["style"]  # fmt: skip
    assert judged["wasserstein", "wasserstein"] < judged["gram", "wasserstein"]
    assert judged["gram", "gram"] < judged["wasserstein", "gram"]
