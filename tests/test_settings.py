"""Settings: defaults, canonical names, and clear rejections."""

from __future__ import annotations

import dataclasses

import pytest

from nst.errors import SettingsError
from nst.settings import Settings, help_text


def test_the_defaults_are_valid_and_follow_the_paper() -> None:
    settings = Settings()
    assert settings.content_layers == ("relu4_2",)
    assert settings.style_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert settings.normalised_style_layer_weights == pytest.approx((0.2,) * 5)
    assert settings.optimizer == "lbfgs" and settings.lr == 1.0
    assert Settings(optimizer="adam").lr == 0.02


def test_every_field_has_help_text() -> None:
    for field in dataclasses.fields(Settings):
        assert len(help_text(field.name)) > 10, field.name


def test_settings_are_frozen_and_replace_revalidates() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.iterations = 5  # type: ignore[misc]
    assert settings.replace(iterations=5).iterations == 5
    with pytest.raises(SettingsError, match="iterations"):
        settings.replace(iterations=0)
    with pytest.raises(SettingsError, match="unknown setting"):
        settings.replace(colour=True)


def test_layer_names_are_canonicalised_and_strings_are_split() -> None:
    settings = Settings(content_layers="block4_conv2", style_layers="relu1_1, block2_relu1")
    assert settings.content_layers == ("conv4_2",)
    assert settings.style_layers == ("relu1_1", "relu2_1")


def test_style_layer_weights_are_normalised() -> None:
    settings = Settings(style_layers=("relu1_1", "relu2_1"), style_layer_weights=(1, 3))
    assert settings.normalised_style_layer_weights == pytest.approx((0.25, 0.75))
    assert Settings(style_layer_weights=()).style_layer_weights is None


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"content_weight": -1}, "content_weight must be zero or more"),
        ({"style_weight": float("nan")}, "style_weight must be a finite number"),
        ({"style_weight": "lots"}, "style_weight must be a number"),
        ({"optimizer": "sgd"}, "optimizer must be one of lbfgs, adam"),
        ({"init": "zeros"}, "init must be one of content, noise, style"),
        ({"pooling": "min"}, "pooling must be one of max, avg"),
        ({"iterations": 0}, "iterations must be at least 1"),
        ({"iterations": 2.5}, "iterations must be a whole number"),
        ({"output_size": 8}, "output_size must be at least 32"),
        ({"style_scale": 0}, "style_scale must be between"),
        ({"learning_rate": 0}, "learning_rate must be more than zero"),
        ({"preview_every": -1}, "preview_every must be at least 0"),
        ({"style_layer_weights": (1.0, 2.0)}, "style_layer_weights has 2 values but there are 5 style layers"),
        ({"style_layer_weights": (0, 0, 0, 0, 0)}, "not all zero"),
        ({"content_layers": (), "style_layers": ()}, "at least one content layer or one style layer"),
        ({"style_layers": ("conv6_1",)}, "unknown VGG19 layer 'conv6_1'"),
        ({"device": "tpu"}, "device must be auto, cpu, cuda"),
        ({"weights": " "}, "weights must be"),
    ],
)
def test_invalid_values_are_rejected_with_a_clear_message(changes: dict, words: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings(**changes)
    assert words in str(caught.value)
