"""Weight sources: the real Caffe VGG19, torchvision's cache (offline), users' files."""

from __future__ import annotations

import pickle
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nst import stylize
from nst.errors import WeightsError
from nst.features import build_extractor
from nst.weights import (
    CAFFE_MEAN_BGR,
    IMAGENET_MEAN,
    IMAGENET_STD,
    caffe_state_dict,
    caffe_weights_path,
    torchvision_cache_file,
)


def test_caffe_weights_match_an_independent_dequantisation() -> None:
    raw = torch.load(caffe_weights_path(), map_location="cpu", weights_only=True)
    ours = caffe_state_dict()
    convs = [(b, c) for b, n in zip(range(1, 6), (2, 2, 4, 4, 4), strict=True) for c in range(1, n + 1)]
    assert len(ours) == 2 * len(convs) == 32
    index = 0
    for block, conv in convs:
        prefix = f"block{block}_conv{conv}"
        table = raw[f"{prefix}_W_table"].numpy()
        codes = raw[f"{prefix}_W_q"].numpy()
        assert codes.dtype == np.uint8 and table.shape == (256,)
        np.testing.assert_array_equal(ours[f"{index}.weight"].numpy(), np.take(table, codes.astype(np.int64)))
        np.testing.assert_array_equal(ours[f"{index}.bias"].numpy(), raw[f"{prefix}_b"].numpy())
        index += 2 if not (block <= 2 and conv == 2 or conv == 4) else 3  # a pool follows each block's last conv
    assert ours["34.weight"].shape == (512, 512, 3, 3)


def test_the_network_maps_a_known_input_to_features_of_the_expected_shapes(caffe_extractor) -> None:
    image = torch.linspace(0, 1, 3 * 64 * 48).reshape(1, 3, 48, 64)
    features = caffe_extractor(image, ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1", "pool4"])
    expected = {
        "relu1_1": (64, 48, 64),
        "relu2_1": (128, 24, 32),
        "relu3_1": (256, 12, 16),
        "relu4_1": (512, 6, 8),
        "relu4_2": (512, 6, 8),
        "pool4": (512, 3, 4),
        "relu5_1": (512, 3, 4),
    }
    assert {name: tuple(value.shape[1:]) for name, value in features.items()} == expected
    assert all(bool((value >= 0).all()) for name, value in features.items() if name.startswith("relu"))


def test_caffe_preprocessing_is_bgr_0_to_255_minus_the_mean(caffe_extractor) -> None:
    mean_rgb = torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1) / 255
    torch.testing.assert_close(
        caffe_extractor.preprocess(mean_rgb.expand(1, 3, 2, 2)), torch.zeros(1, 3, 2, 2), atol=1e-4, rtol=0
    )
    red = torch.zeros(1, 3, 1, 1)
    red[:, 0] = 1.0
    assert caffe_extractor.preprocess(red).flatten().tolist() == pytest.approx(
        [-103.939, -116.779, 255 - 123.68], abs=1e-3
    )
    conv = caffe_extractor.layers[0]
    image = torch.rand(1, 3, 8, 8)
    bgr = image.flip(1) * 255 - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    torch.testing.assert_close(
        caffe_extractor(image, ["conv1_1"])["conv1_1"], F.conv2d(bgr, conv.weight, conv.bias, padding=1)
    )


def test_a_run_does_not_modify_the_extractor(caffe_extractor, content_image, style_image) -> None:
    before = {name: value.clone() for name, value in caffe_extractor.state_dict().items()}
    structure = repr(caffe_extractor)
    stylize(content_image, style_image, extractor=caffe_extractor, output_size=48, iterations=3)
    after = caffe_extractor.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert repr(caffe_extractor) == structure and not caffe_extractor.training
    assert not any(p.requires_grad or p.grad is not None for p in caffe_extractor.parameters())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in caffe_extractor.modules())
    caffe_extractor.train()
    assert not caffe_extractor.training  # it refuses to leave eval mode


@pytest.fixture
def offline_torch_home(tmp_path, monkeypatch) -> list[str]:
    """An empty torch hub cache, and a download that fails as it does with no network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    attempts: list[str] = []

    def no_network(url: str, *args, **kwargs) -> None:
        attempts.append(url)
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return attempts


def test_torchvision_weights_offline_say_what_is_missing_where_and_what_works(offline_torch_home, tmp_path) -> None:
    with pytest.raises(WeightsError) as caught:
        build_extractor("torchvision")
    message = str(caught.value)
    expected = tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    assert torchvision_cache_file() == expected
    assert "vgg19-dcbb9e9d.pth" in message and str(expected) in message and "'caffe'" in message
    assert offline_torch_home == ["https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"]


def test_torchvision_weights_load_from_the_cache_without_the_network(offline_torch_home) -> None:
    conv = torch.nn.Conv2d(3, 64, 3, padding=1)
    cached = torchvision_cache_file()
    cached.parent.mkdir(parents=True)
    torch.save(
        {
            "features.0.weight": conv.weight.detach(),
            "features.0.bias": conv.bias.detach(),
            "classifier.0.weight": torch.zeros(2, 2),
        },
        cached,
    )
    extractor = build_extractor("torchvision", last_layer="relu1_1")
    image = torch.rand(1, 3, 8, 8)
    normalised = (image - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(extractor(image, ["relu1_1"])["relu1_1"], F.relu(conv(normalised)))
    assert offline_torch_home == []  # nothing was downloaded


def test_a_users_state_dict_file_loads_with_imagenet_preprocessing(tmp_path) -> None:
    from torchvision.models import vgg19

    features = vgg19(weights=None).features[:4]  # up to relu1_2
    path = tmp_path / "mine.pth"
    torch.save(features.state_dict(), path)
    extractor = build_extractor(str(path), last_layer="relu1_2")
    image = torch.rand(1, 3, 8, 8)
    normalised = (image - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(extractor(image, ["relu1_2"])["relu1_2"], features(normalised))


class _Exploit:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/nst-weights-exploit-ran"),))


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"this is not a weights file", "not a weights file that loads safely"),
        (None, "missing 0.weight"),  # a real state dict of something else
        ("exploit", "not a weights file that loads safely"),
        ("wrong-shape", "do not fit VGG19"),
    ],
)
def test_a_wrong_weights_file_is_a_clear_error_and_runs_no_code(tmp_path, content, words) -> None:
    path = tmp_path / "weights.pth"
    marker = Path("/tmp/nst-weights-exploit-ran")
    marker.unlink(missing_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is None:
        torch.save({"linear.weight": torch.zeros(2, 2)}, path)
    elif content == "exploit":
        path.write_bytes(pickle.dumps(_Exploit()))
    else:
        torch.save({"0.weight": torch.zeros(64, 1, 3, 3), "0.bias": torch.zeros(64)}, path)
    with pytest.raises(WeightsError, match=words):
        build_extractor(str(path), last_layer="relu1_1")
    assert not marker.exists()


def test_a_missing_weights_file_names_the_choices(tmp_path) -> None:
    with pytest.raises(WeightsError, match="'caffe', 'torchvision' or an existing state-dict file"):
        build_extractor(str(tmp_path / "nope.pth"))
