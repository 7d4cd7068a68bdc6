"""Inside the network: feature maps and Gram matrices as pictures."""

from __future__ import annotations

import numpy as np

from nst.insight import feature_map_pictures, features_at, gram, heatmap, strongest_channels

from conftest import make_content


def test_feature_maps_and_grams_of_a_layer(caffe_extractor) -> None:
    features = features_at(caffe_extractor, make_content(64, 48), "relu2_1", 64)
    assert features.shape == (128, 24, 32)  # relu2_1: 128 channels at half size
    channels = strongest_channels(features, 4)
    means = features.mean(dim=(1, 2))
    assert means[channels[0]] == means.max() and len(set(channels)) == 4
    pictures = feature_map_pictures(features, channels, side=96)
    assert [p.size for p in pictures] == [(96, 72)] * 4 and pictures[0].mode == "RGB"
    matrix = gram(features)
    flat = features.reshape(128, -1)
    np.testing.assert_allclose(matrix, (flat @ flat.T / flat.shape[1]).numpy(), rtol=1e-4, atol=1e-4)


def test_heatmaps_show_size_and_sign() -> None:
    matrix = np.array([[0.0, 1.0], [-1.0, 0.5]])
    plain = np.asarray(heatmap(np.abs(matrix), side=4))
    assert plain.shape == (4, 4, 3) and plain[0, 0].sum() < plain[0, 3].sum()  # larger is brighter
    signed = np.asarray(heatmap(matrix, diverging=True, side=2))
    assert tuple(signed[0, 0]) == (255, 255, 255)  # zero is white
    assert signed[0, 1][0] == 255 and signed[0, 1][2] == 0  # positive is red
    assert signed[1, 0][2] == 255 and signed[1, 0][0] == 0  # negative is blue
