"""What each layer sees: content and style reconstructions from noise."""

from __future__ import annotations

import numpy as np

from nst import Settings
from nst.reconstruct import plans, what_each_layer_sees

from conftest import make_content, make_style


def test_the_figure_has_five_content_layers_and_five_growing_style_sets() -> None:
    runs = plans(Settings(weights="caffe", pooling="avg"), size=96, steps=7)
    assert [kind for kind, _ in runs] == ["content"] * 5 + ["style"] * 5
    assert [s.content_layers for _, s in runs[:5]] == [(f"conv{n}_2",) for n in range(1, 6)]
    assert [len(s.style_layers) for _, s in runs[5:]] == [1, 2, 3, 4, 5]
    assert all(s.init == "noise" and s.scales == 1 and s.iterations == 7 and s.pooling == "avg" for _, s in runs)
    assert all(s.style_weight == 0 for _, s in runs[:5]) and all(s.content_weight == 0 for _, s in runs[5:])


def test_low_layers_give_the_photo_back_and_high_layers_lose_its_pixels(local_executor) -> None:
    photo = make_content(64, 48)
    finished = [r for r in what_each_layer_sees(local_executor, photo, make_style(), size=64, steps=25)
                if r.image is not None]  # fmt: skip
    assert [r.label for r in finished][:2] == ["content from conv1_2", "content from conv2_2"]
    assert finished[-1].label == "style from conv1_1…conv5_1" and len(finished) == 10
    target = np.asarray(photo, float)
    error = [np.abs(np.asarray(r.image, float) - target).mean() for r in finished[:5]]
    assert error[0] < error[4]  # conv1_2 is closer to the photo than conv5_2
    assert error[0] < 40  # and clearly the photo, from noise in 25 steps
