"""Each loss term against a plain computation written out here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nst.losses import (
    content_loss,
    gram_matrix,
    relative_squared_error,
    style_loss,
    style_loss_from_grams,
    style_statistics,
    total_variation,
    wasserstein_error,
)


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


def _gaussian_w2(features: np.ndarray, target: np.ndarray) -> float:
    """Squared 2-Wasserstein distance between the Gaussians fitted to two (1, C, H, W) arrays."""
    from scipy.linalg import sqrtm

    def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat = x[0].reshape(x.shape[1], -1)
        mean = flat.mean(axis=1)
        return mean, (flat - mean[:, None]) @ (flat - mean[:, None]).T / flat.shape[1]

    (m, s), (mt, st) = moments(features), moments(target)
    root = np.real(sqrtm(st))
    cross = np.real(sqrtm(root @ s @ root))
    return float(((m - mt) ** 2).sum() + np.trace(s) + np.trace(st) - 2 * np.trace(cross))


def test_wasserstein_style_error_is_the_gaussians_w2_distance_relative_to_the_targets_second_moment() -> None:
    rng = np.random.default_rng(3)
    features = np.maximum(rng.normal(0.3, 1.0, size=(1, 6, 5, 7)), 0)  # like ReLU activations
    target = np.maximum(rng.normal(0.8, 1.5, size=(1, 6, 4, 4)), 0)
    value = style_statistics(torch.tensor(features), loss="wasserstein")
    goal = style_statistics(torch.tensor(target), loss="wasserstein")
    assert value.shape == (1, 6, 7)  # the Gram matrix and the mean beside it
    second_moment = np.trace(plain_gram(target))  # |mean|^2 + tr(covariance)
    expected = _gaussian_w2(features, target) / second_moment
    assert wasserstein_error(value, goal).item() == pytest.approx(expected, rel=1e-4)
    assert wasserstein_error(goal, goal).item() == pytest.approx(0.0, abs=1e-5)


def test_wasserstein_with_one_channel_is_the_difference_of_means_and_deviations() -> None:
    x = torch.tensor([1.0, 2.0, 3.0, 6.0]).reshape(1, 1, 2, 2)
    t = torch.tensor([0.0, 4.0, 4.0, 8.0]).reshape(1, 1, 2, 2)
    w2 = (x.mean() - t.mean()) ** 2 + (x.std(unbiased=False) - t.std(unbiased=False)) ** 2
    expected = float(w2 / t.pow(2).mean())
    got = wasserstein_error(style_statistics(x, loss="wasserstein"), style_statistics(t, loss="wasserstein"))
    assert got.item() == pytest.approx(expected, rel=1e-4)


def test_wasserstein_gradients_are_finite_where_the_covariance_is_singular() -> None:
    # three positions, eight channels: the covariance has rank two at most, most eigenvalues are zero
    features = torch.rand(1, 8, 1, 3, dtype=torch.float32, generator=torch.Generator().manual_seed(4))
    target = style_statistics(torch.rand(1, 8, 3, 3, generator=torch.Generator().manual_seed(5)), loss="wasserstein")
    features.requires_grad_(True)
    style_loss_from_grams({"a": style_statistics(features, loss="wasserstein")}, {"a": target}, ["a"], [1.0],
                          "wasserstein").backward()  # fmt: skip
    assert torch.isfinite(features.grad).all() and features.grad.abs().sum() > 0


def test_style_statistics_of_tiles_add_up_to_the_whole_pictures() -> None:
    features = torch.rand(1, 5, 6, 8, generator=torch.Generator().manual_seed(6))
    for loss in ("gram", "wasserstein"):
        whole = style_statistics(features, loss=loss)
        halves = style_statistics(features[..., :3, :], 48, loss) + style_statistics(features[..., 3:, :], 48, loss)
        torch.testing.assert_close(halves, whole)


def test_wasserstein_gradients_in_float32_match_float64_on_rank_deficient_covariances() -> None:
    """relu5_1 at a coarse scale: 512 channels at 24 or 108 positions, the picture's and the painting's.

    Round-off eigenvalues of a singular covariance enter the gradient through directions the
    features do not span, so they scale with their square root and stay small: float32 follows
    float64 closely with the floor as it is (measured: 0.02-0.09% apart).
    """
    generator = torch.Generator().manual_seed(0)
    for picture, painting in (((12, 9), (6, 4)), ((6, 4), (12, 9)), ((6, 4), (6, 4))):
        scale = torch.rand(1, 512, 1, 1, dtype=torch.float64, generator=generator) * 3
        features = torch.relu(torch.randn(1, 512, *picture, dtype=torch.float64, generator=generator)) * scale
        target = torch.relu(torch.randn(1, 512, *painting, dtype=torch.float64, generator=generator)) * scale
        gradients = []
        for precision in (torch.float64, torch.float32):
            these = features.to(precision).clone().requires_grad_(True)
            aim = style_statistics(target.to(precision), loss="wasserstein")
            wasserstein_error(style_statistics(these, loss="wasserstein"), aim).backward()
            gradients.append(these.grad.double())
        exact, rounded = gradients
        assert (rounded - exact).norm() < 0.01 * exact.norm()


def test_a_regions_mean_takes_the_same_weights_as_its_gram_matrix() -> None:
    """A mask weighs both moments by m²: a uniform half mask gives the plain moments (it gave twice the
    mean), and a soft mask gives a covariance with no negative eigenvalue."""
    features = torch.rand(1, 6, 5, 7, generator=torch.Generator().manual_seed(8)) * 4
    half = torch.full((1, 1, 5, 7), 0.5)
    plain = style_statistics(features, loss="wasserstein")
    torch.testing.assert_close(style_statistics(features, float(half.pow(2).sum()), "wasserstein", half), plain)
    soft = torch.rand(1, 1, 5, 7, generator=torch.Generator().manual_seed(9))
    statistics = style_statistics(features, float(soft.pow(2).sum()), "wasserstein", soft)[0].double()
    gram, mean = statistics[:, :-1], statistics[:, -1]
    assert torch.linalg.eigvalsh(gram - torch.outer(mean, mean)).min() > -1e-6
