"""Each loss term against a plain computation written out here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nst.losses import content_loss, gram_matrix, relative_squared_error, style_loss, total_variation


def plain_gram(features: np.ndarray) -> np.ndarray:
    """Sum over positions of products of channel pairs, divided by the number of positions."""
    _, channels, height, width = features.shape
    gram = np.zeros((channels, channels))
    for i in range(channels):
        for j in range(channels):
            gram[i, j] = sum(
                features[0, i, y, x] * features[0, j, y, x] for y in range(height) for x in range(width)
            ) / (height * width)
    return gram


def test_gram_matrix_matches_a_plain_double_loop() -> None:
    features = torch.randn(1, 4, 3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    np.testing.assert_allclose(gram_matrix(features)[0].numpy(), plain_gram(features.numpy()), rtol=1e-12)


def test_gram_matrix_is_symmetric_and_batched() -> None:
    features = torch.randn(2, 6, 4, 4, dtype=torch.float64)
    grams = gram_matrix(features)
    assert grams.shape == (2, 6, 6)
    torch.testing.assert_close(grams, grams.transpose(1, 2))
    torch.testing.assert_close(grams[1], gram_matrix(features[1:])[0])


def test_content_loss_is_the_mean_relative_squared_error_over_layers() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(1, 3, 4, 4)), rng.normal(size=(1, 5, 2, 2))
    ta, tb = rng.normal(size=a.shape), rng.normal(size=b.shape)
    expected = ((a - ta) ** 2).sum() / (ta**2).sum() / 2 + ((b - tb) ** 2).sum() / (tb**2).sum() / 2
    features = {"x": torch.tensor(a), "y": torch.tensor(b)}
    targets = {"x": torch.tensor(ta), "y": torch.tensor(tb)}
    assert content_loss(features, targets, ["x", "y"]).item() == pytest.approx(expected, rel=1e-7)  # EPS


def test_style_loss_weights_each_layers_relative_gram_error() -> None:
    rng = np.random.default_rng(2)
    f1, f2 = rng.normal(size=(1, 3, 4, 4)), rng.normal(size=(1, 2, 3, 3))
    s1, s2 = rng.normal(size=(1, 3, 6, 2)), rng.normal(size=(1, 2, 5, 5))  # targets may have other sizes
    g = lambda f: plain_gram(f)  # noqa: E731
    err = lambda x, t: ((g(x) - g(t)) ** 2).sum() / (g(t) ** 2).sum()  # noqa: E731
    expected = 0.25 * err(f1, s1) + 0.75 * err(f2, s2)
    features = {"a": torch.tensor(f1), "b": torch.tensor(f2)}
    targets = {"a": gram_matrix(torch.tensor(s1)), "b": gram_matrix(torch.tensor(s2))}
    assert style_loss(features, targets, ["a", "b"], [0.25, 0.75]).item() == pytest.approx(expected, rel=1e-7)  # EPS


def test_identical_inputs_give_zero_loss() -> None:
    features = {"a": torch.rand(1, 8, 5, 5), "b": torch.rand(1, 4, 3, 3)}
    grams = {name: gram_matrix(value) for name, value in features.items()}
    assert content_loss(features, features, ["a", "b"]).item() == 0.0
    assert style_loss(features, grams, ["a", "b"], [0.5, 0.5]).item() == 0.0
    assert total_variation(torch.full((1, 3, 8, 8), 0.3)).item() == 0.0


def test_total_variation_matches_a_plain_computation() -> None:
    image = np.random.default_rng(3).random((1, 3, 5, 7))
    dy = sum((image[0, c, y + 1, x] - image[0, c, y, x]) ** 2 for c in range(3) for y in range(4) for x in range(7)) / (
        3 * 4 * 7
    )
    dx = sum((image[0, c, y, x + 1] - image[0, c, y, x]) ** 2 for c in range(3) for y in range(5) for x in range(6)) / (
        3 * 5 * 6
    )
    assert total_variation(torch.tensor(image)).item() == pytest.approx(dx + dy, rel=1e-12)


def test_relative_error_is_scale_free_and_finite_for_zero_targets() -> None:
    value, target = torch.rand(10), torch.rand(10)
    assert relative_squared_error(value * 57, target * 57).item() == pytest.approx(
        relative_squared_error(value, target).item(), rel=1e-5
    )
    assert torch.isfinite(relative_squared_error(value, torch.zeros(10)))


def test_empty_layer_lists_give_zero() -> None:
    features = {"a": torch.rand(1, 2, 2, 2)}
    assert content_loss(features, {}, []).item() == 0.0
    assert style_loss(features, {}, [], []).item() == 0.0


def test_gram_matrix_gradient_is_exact() -> None:
    features = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gram_matrix, (features,))


def test_gram_matrix_of_bfloat16_features_is_float32_and_keeps_no_float32_copy() -> None:
    features = torch.randn(1, 16, 32, 32, requires_grad=True)
    low = features.bfloat16()
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        gram = gram_matrix(low)
    assert gram.dtype == torch.float32
    torch.testing.assert_close(gram, gram_matrix(low.float()), rtol=1e-5, atol=1e-6)  # float32 sums
    assert [t.dtype for t in saved] == [torch.bfloat16]  # only the features, kept anyway by the network
    gram.sum().backward()
    expected = 2 * (torch.ones(16, 16) @ low.float().reshape(16, -1)).reshape(1, 16, 32, 32) / 1024
    torch.testing.assert_close(features.grad, expected, rtol=2e-2, atol=1e-3)


def test_gram_matrix_of_channels_last_features_copies_nothing_and_matches() -> None:
    features = torch.randn(2, 5, 6, 7, dtype=torch.float64)
    channels_last = features.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        gram = gram_matrix(channels_last)
    assert [t.untyped_storage().data_ptr() for t in saved] == [channels_last.untyped_storage().data_ptr()]
    torch.testing.assert_close(gram, gram_matrix(features), rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(gram_matrix, (channels_last,))
    (grad,) = torch.autograd.grad(gram.sum(), channels_last)
    assert grad.is_contiguous(memory_format=torch.channels_last)  # stays in the network's layout
