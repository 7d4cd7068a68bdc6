"""VGG19's convolutions by Winograd (NNPACK) against oneDNN's, on the real weights."""

from __future__ import annotations

import pytest
import torch

from nst import build_extractor, winograd

pytestmark = pytest.mark.skipif(not winograd.nnpack_ready(), reason="this PyTorch has no NNPACK")

LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_2", "relu5_1"]


@pytest.fixture(scope="module")
def extractor():
    return build_extractor("caffe", last_layer="relu5_1")


def _features_and_gradient(extractor, image: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    image = image.clone().requires_grad_(True)
    features = extractor(image, LAYERS)
    sum(feature.square().mean() for feature in features.values()).backward()
    return {name: feature.detach() for name, feature in features.items()}, image.grad


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_winograd_features_and_gradient_match_onednn(extractor, monkeypatch) -> None:
    image = torch.rand(1, 3, 160, 224, generator=torch.Generator().manual_seed(1))
    monkeypatch.setenv("NST_WINOGRAD", "0")
    expected, expected_grad = _features_and_gradient(extractor, image)
    calls = []
    convolve = winograd.convolve
    monkeypatch.setattr(winograd, "convolve", lambda *args: calls.append(args[0].shape) or convolve(*args))
    monkeypatch.setenv("NST_WINOGRAD", "1")
    features, grad = _features_and_gradient(extractor, image)
    # Blocks 1 to 3 are large enough (at least MIN_PIXELS positions), forward and backward.
    assert len(calls) == 2 * 8 and all(shape[-2] * shape[-1] >= winograd.MIN_PIXELS for shape in calls)
    for name in LAYERS:
        assert _relative(features[name], expected[name]) < 1e-5, name
    assert _relative(grad, expected_grad) < 5e-3  # ReLU and pool decisions flip where values tie within round-off


def test_strips_give_the_same_convolution(monkeypatch) -> None:
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(1, 16, 37, 50, generator=generator)
    conv = torch.nn.Conv2d(16, 8, 3, padding=1)
    whole = torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=1).detach()
    monkeypatch.setattr(winograd, "STRIP_ELEMENTS", 16 * 50 * 6)  # strips of 6 rows, the last one of 1
    with torch.no_grad():
        stripped = winograd.convolve(x, conv.weight, conv.bias)
    torch.testing.assert_close(stripped, whole, rtol=1e-4, atol=1e-4)


def test_winograd_is_left_out_where_it_does_not_apply(monkeypatch) -> None:
    conv = torch.nn.Conv2d(8, 8, 3, padding=1)
    big, small = torch.rand(1, 8, 64, 64), torch.rand(1, 8, 16, 16)
    monkeypatch.setenv("NST_WINOGRAD", "1")
    assert winograd.applies(big, conv)
    assert not winograd.applies(small, conv)  # under MIN_PIXELS: oneDNN is faster there
    assert not winograd.applies(big.bfloat16(), conv)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not winograd.applies(big, conv)
    monkeypatch.setenv("NST_WINOGRAD", "0")
    assert not winograd.applies(big, conv)
