"""The objective as a list of terms: each term against a plain computation, and a new term plugs in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

import nst.terms
from nst import Resume, Settings, transfer
from nst.engine import objective
from nst.losses import content_loss, gram_matrix, relative_squared_error, total_variation
from nst.targets import Targets
from nst.terms import ContentTerm, StyleTerm, TotalVariationTerm, build_terms


def test_the_default_settings_give_content_and_style_and_tv_only_when_weighted() -> None:
    targets = Targets(content={}, style_grams={})
    assert [t.name for t in build_terms(Settings(), targets)] == ["content", "style"]
    assert [t.name for t in build_terms(Settings(tv_weight=2.0), targets)] == ["content", "style", "tv"]
    assert [t.name for t in build_terms(Settings(content_layers=()), targets)] == ["style"]


def test_an_objective_of_three_terms_equals_the_weighted_plain_sum(caffe_extractor) -> None:
    torch.manual_seed(0)
    picture, photo = torch.rand(1, 3, 40, 56), torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        photo_features = caffe_extractor(photo, ("relu4_2", "relu1_1", "relu3_1"))
    content = {"relu4_2": photo_features["relu4_2"]}
    grams = {name: gram_matrix(photo_features[name]) for name in ("relu1_1", "relu3_1")}
    terms = [
        ContentTerm(2.0, content, ("relu4_2",)),
        StyleTerm(30.0, grams, ("relu1_1", "relu3_1"), (0.25, 0.75)),
        TotalVariationTerm(5.0),
    ]
    image = picture.clone().requires_grad_(True)
    closure, values = objective(caffe_extractor, terms, image)
    loss = closure()

    plain = picture.clone().requires_grad_(True)
    features = caffe_extractor(plain, ("relu4_2", "relu1_1", "relu3_1"))
    c = content_loss(features, content, ("relu4_2",))
    s = 0.25 * relative_squared_error(gram_matrix(features["relu1_1"]), grams["relu1_1"]) + 0.75 * (
        relative_squared_error(gram_matrix(features["relu3_1"]), grams["relu3_1"])
    )
    tv = total_variation(plain)
    (2.0 * c + 30.0 * s + 5.0 * tv).backward()
    assert values["content"] == pytest.approx(c.item(), rel=1e-6)
    assert values["style"] == pytest.approx(s.item(), rel=1e-6)
    assert values["tv"] == pytest.approx(tv.item(), rel=1e-6)
    assert loss.item() == pytest.approx(values["total"], rel=1e-6)
    torch.testing.assert_close(image.grad, plain.grad, rtol=1e-5, atol=1e-9)
    closure()  # a second evaluation starts afresh: the terms keep nothing from the first
    assert values["total"] == pytest.approx(loss.item(), rel=1e-6)


@dataclass(eq=False)
class Brightness:
    """A new kind of term: the picture's mean brightness, pulled towards a target."""

    weight: float
    target: float
    name: str = "brightness"
    layers: tuple[str, ...] = ()

    def see(self, layer: str, activation: torch.Tensor) -> None:
        pass

    def value(self, image: torch.Tensor) -> torch.Tensor:
        return (image.mean() - self.target) ** 2


def test_a_new_term_plugs_in_with_one_line_and_the_loop_reports_and_minimises_it(
    caffe_extractor, content_image, style_image, monkeypatch
) -> None:
    monkeypatch.setattr(nst.terms, "TERMS", (*nst.terms.TERMS, lambda settings, targets: Brightness(1000.0, 0.9)))
    settings = Settings(output_size=64, iterations=15, preview_every=0, optimizer="adam", learning_rate=0.05)
    records = list(transfer(content_image, style_image, settings, extractor=caffe_extractor))
    assert set(records[0].losses) == {"content", "style", "tv", "brightness"}
    assert records[-1].losses["brightness"] < 0.2 * records[0].losses["brightness"]
    final = records[-1].image
    monkeypatch.undo()
    plain = list(transfer(content_image, style_image, settings, extractor=caffe_extractor))
    assert np.asarray(final.convert("L")).mean() > np.asarray(plain[-1].image.convert("L")).mean() + 0.05 * 255


def test_a_resumed_run_numbers_its_steps_on_and_never_shrinks_the_picture(
    caffe_extractor, content_image, style_image
) -> None:
    settings = Settings(output_size=96, start_size=48, iterations=12, preview_every=0)
    first = list(transfer(content_image, style_image, settings, extractor=caffe_extractor))
    assert first[0].size[0] < 96  # coarse to fine
    middle = first[5]
    picture = first[-1].image.resize((72, 54))  # as if stopped at the second scale
    resumed = list(
        transfer(content_image, style_image, settings, extractor=caffe_extractor,
                 resume=Resume(picture, step=middle.step, total=12))
    )  # fmt: skip
    assert [r.step for r in resumed] == list(range(7, 13)) and all(r.total == 12 for r in resumed)
    assert min(r.size[0] for r in resumed) >= 72 and resumed[-1].size == (96, 72)
    more = list(transfer(content_image, style_image, settings, extractor=caffe_extractor,
                         resume=Resume(resumed[-1].image, step=12)))  # fmt: skip
    assert [r.step for r in more] == list(range(13, 25)) and all(r.size == (96, 72) for r in more)
    with pytest.raises(nst.SettingsError, match="no steps are left"):
        next(transfer(content_image, style_image, settings, resume=Resume(picture, step=12, total=12)))
