"""The optimiser race: runs interleaved step by step, each timed on its own."""

from __future__ import annotations

from nst import DivergedError, Settings, transfer
from nst.race import race


def test_two_optimisers_take_turns_and_each_reaches_its_end(caffe_extractor, content_image, style_image) -> None:
    settings = Settings(output_size=64, iterations=5, preview_every=0)
    runners = {
        "L-BFGS": transfer(content_image, style_image, settings, extractor=caffe_extractor),
        "Adam": transfer(content_image, style_image, settings.replace(optimizer="adam"), extractor=caffe_extractor),
    }
    laps = list(race(runners))
    assert [(lap.name, lap.progress.step) for lap in laps[:4]] == [
        ("L-BFGS", 1),
        ("Adam", 1),
        ("L-BFGS", 2),
        ("Adam", 2),
    ]
    for name in runners:
        mine = [lap for lap in laps if lap.name == name]
        assert [lap.progress.step for lap in mine] == [1, 2, 3, 4, 5]
        assert mine[-1].progress.image is not None  # the final picture
        seconds = [lap.seconds for lap in mine]
        assert seconds == sorted(seconds) and seconds[-1] < laps[-1].progress.elapsed + 5
        assert mine[-1].progress.loss < mine[0].progress.loss  # each one really optimised


def test_a_runner_that_diverges_drops_out_and_the_race_goes_on() -> None:
    def diverging():
        raise DivergedError("diverged at step 1", step=1, last_image=None)
        yield  # pragma: no cover

    def steady():
        from nst.progress import Progress

        for step in (1, 2):
            yield Progress(step, 2, {"content": 1.0, "style": 1.0, "tv": 0.0}, 2.0, 0.1, 0.0, (8, 8), 1, 1, None)

    laps = list(race({"wild": diverging(), "steady": steady()}))
    assert laps[0].name == "wild" and isinstance(laps[0].error, DivergedError) and laps[0].progress is None
    assert [lap.progress.step for lap in laps[1:]] == [1, 2]


def test_closing_the_race_closes_every_runner(caffe_extractor, content_image, style_image) -> None:
    closed = []

    def runner(name):
        try:
            yield from transfer(
                content_image, style_image, Settings(output_size=64, iterations=50), extractor=caffe_extractor
            )
        finally:
            closed.append(name)

    laps = race({"a": runner("a"), "b": runner("b")})
    next(laps), next(laps)
    laps.close()
    assert sorted(closed) == ["a", "b"]
