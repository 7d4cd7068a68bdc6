"""Layer names: Gatys' and Keras' spellings, truncation, and clear errors."""

from __future__ import annotations

import pytest
import torch

from nst.errors import SettingsError
from nst.features import build_extractor
from nst.layers import LAYER_INDEX, VGG19_LAYERS, canonical_layer, canonical_layers, deepest_layer


def test_the_names_follow_torchvisions_module_order() -> None:
    from torchvision.models import vgg19

    with torch.device("meta"):
        modules = list(vgg19(weights=None).features)
    assert len(VGG19_LAYERS) == len(modules) == 37
    kinds = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": torch.nn.MaxPool2d}
    for name, module in zip(VGG19_LAYERS, modules, strict=True):
        assert isinstance(module, kinds[name[:4]]), name
    assert LAYER_INDEX["conv4_2"] == 21 and LAYER_INDEX["relu5_1"] == 29


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("conv4_2", "conv4_2"),
        ("block4_conv2", "conv4_2"),
        ("BLOCK1_CONV1", "conv1_1"),
        ("block3_relu1", "relu3_1"),
        ("block2_pool", "pool2"),
        (" relu5_1 ", "relu5_1"),
    ],
)
def test_gatys_and_keras_names_are_both_accepted(alias: str, name: str) -> None:
    assert canonical_layer(alias) == name


@pytest.mark.parametrize("bad", ["conv6_1", "relu1_3", "fc7", "", "block9_conv1"])
def test_an_unknown_layer_is_a_clear_error_listing_the_valid_names(bad: str) -> None:
    with pytest.raises(SettingsError) as caught:
        canonical_layer(bad)
    message = str(caught.value)
    assert repr(bad) in message and "conv1_1" in message and "relu5_4" in message and "block4_conv2" in message


def test_repeats_are_dropped_and_the_deepest_layer_is_found() -> None:
    assert canonical_layers(["relu1_1", "block1_relu1", "conv2_1"]) == ("relu1_1", "conv2_1")
    assert deepest_layer(["relu1_1", "block4_conv2", "relu3_1"]) == "conv4_2"


def test_keras_names_give_the_same_features(caffe_extractor) -> None:
    image = torch.rand(1, 3, 32, 32)
    keras = caffe_extractor(image, ["block4_conv2", "block1_pool"])
    gatys = caffe_extractor(image, ["conv4_2", "pool1"])
    assert set(keras) == {"conv4_2", "pool1"}
    torch.testing.assert_close(keras["conv4_2"], gatys["conv4_2"])


def test_the_extractor_is_truncated_after_the_deepest_needed_layer() -> None:
    extractor = build_extractor("caffe", last_layer="block2_conv1")
    assert len(extractor.layers) == LAYER_INDEX["conv2_1"] + 1
    assert extractor.last_layer == "conv2_1"
    with pytest.raises(Exception, match="ends at conv2_1"):
        extractor(torch.rand(1, 3, 16, 16), ["relu3_1"])


def test_a_forward_pass_stops_at_the_deepest_requested_layer() -> None:
    extractor = build_extractor("caffe", last_layer="relu3_1")  # a private copy: hooks are test-only
    ran: list[int] = []
    for index, module in enumerate(extractor.layers):
        module.register_forward_hook(lambda *_, index=index: ran.append(index))
    extractor(torch.rand(1, 3, 16, 16), ["relu1_1", "conv2_1"])
    assert ran == [0, 2, 5]  # conv1_1, conv1_2, conv2_1 (ReLUs and max pools run as functions); nothing deeper


def test_asking_for_a_conv_layer_gives_its_output_before_the_relu(caffe_extractor) -> None:
    image = torch.rand(1, 3, 32, 32)
    both = caffe_extractor(image, ["conv4_2", "relu4_2", "relu3_1"])
    assert (both["conv4_2"] < 0).any() and (both["relu4_2"] >= 0).all()
    torch.testing.assert_close(both["relu4_2"], both["conv4_2"].clamp_min(0))
    torch.testing.assert_close(both["relu3_1"], caffe_extractor(image, ["relu3_1"])["relu3_1"])


def test_gradients_through_the_in_place_relus_match_a_plain_forward(caffe_extractor) -> None:
    image = torch.rand(1, 3, 32, 32, requires_grad=True)
    caffe_extractor(image, ["relu3_1"])["relu3_1"].pow(2).sum().backward()
    plain = image.detach().clone().requires_grad_(True)
    x = caffe_extractor.preprocess(plain)
    for module in caffe_extractor.layers[:12]:  # up to relu3_1, out of place
        x = torch.relu(x) if isinstance(module, torch.nn.ReLU) else module(x)
    x.pow(2).sum().backward()
    torch.testing.assert_close(image.grad, plain.grad)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (2, 4, 7, 9)])  # odd sizes drop the last row/column
def test_the_index_free_max_pool_matches_torchs_values_and_gradients(shape, layout) -> None:
    from nst.features import _MaxPool2x2

    x = torch.randn(*shape, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_(True)  # no ties
    grad = torch.randn(shape[0], shape[1], shape[2] // 2, shape[3] // 2, dtype=torch.float64)
    saved: list[torch.Tensor] = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        ours = _MaxPool2x2.apply(x)
    torch.testing.assert_close(ours, torch.nn.functional.max_pool2d(x, 2), rtol=0, atol=0)
    assert all(t.is_floating_point() for t in saved)  # no int64 indices kept
    expected = torch.autograd.grad(torch.nn.functional.max_pool2d(x, 2), x, grad)[0]
    torch.testing.assert_close(torch.autograd.grad(ours, x, grad)[0], expected, rtol=0, atol=0)


def test_the_index_free_max_pool_gives_a_tie_to_one_maximum_as_torch_does() -> None:
    from nst.features import _MaxPool2x2

    x = torch.tensor([[[[1.0, 3.0], [3.0, 2.0]]]], requires_grad=True)
    (grad,) = torch.autograd.grad(_MaxPool2x2.apply(x), x, torch.ones(1, 1, 1, 1))
    expected = torch.autograd.grad(torch.nn.functional.max_pool2d(x, 2), x, torch.ones(1, 1, 1, 1))[0]
    torch.testing.assert_close(grad, expected, rtol=0, atol=0)
    assert grad.sum() == 1.0 and grad.count_nonzero() == 1


def test_the_local_vgg19_stack_is_torchvisions_and_the_caffe_path_never_imports_torchvision() -> None:
    import subprocess
    import sys

    from torchvision.models import vgg19

    from nst.features import vgg19_features

    with torch.device("meta"):
        theirs, ours = vgg19(weights=None).features, vgg19_features()
    assert repr(ours) == repr(theirs)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    code = "import sys; from nst import build_extractor; build_extractor('caffe'); print('torchvision' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
