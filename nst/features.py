"""VGG19 as a frozen, read-only feature extractor with named layers.

The extractor is built once and may be shared by many runs at once (the app keeps one
per process for every browser session), so nothing about a run is ever stored on it:
it holds the network and the preprocessing, and :meth:`FeatureExtractor.forward`
returns the requested layers' activations without touching any state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from nst import winograd
from nst.errors import WeightsError
from nst.layers import LAYER_INDEX, VGG19_LAYERS, canonical_layer, canonical_layers
from nst.weights import Preprocessing, load_weights

log = logging.getLogger(__name__)

DEEPEST_USEFUL_LAYER = "relu5_4"  # pool5 feeds only the classifier


class FeatureExtractor(nn.Module):
    """Maps a ``(B, 3, H, W)`` RGB picture in [0, 1] to named VGG19 activations.

    Args:
        layers: the first modules of ``torchvision.models.vgg19().features``, weights loaded.
        preprocessing: how the weights expect their input (see :mod:`nst.weights`).
        source: a label for the weights, for logs and cache keys.
        pooling: ``"max"`` or ``"avg"``, as built (a label, for cache keys).
    """

    def __init__(self, layers: nn.Sequential, preprocessing: Preprocessing, source: str, pooling: str = "max") -> None:
        super().__init__()
        self.layers = layers
        self.preprocessing = preprocessing
        self.source = source
        self.pooling = pooling
        self._order: torch.Tensor
        self._mean: torch.Tensor
        self._std: torch.Tensor
        order = torch.tensor(preprocessing.channel_order)
        self.register_buffer("_order", order, persistent=False)
        self.register_buffer("_mean", torch.tensor(preprocessing.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(preprocessing.std).view(1, 3, 1, 1), persistent=False)
        self._turned_kernels: dict[int, torch.Tensor] = {}  # a constant of the weights, not a run's state
        self.requires_grad_(False)  # the pixels are optimised, never the network
        self.eval()

    @property
    def last_layer(self) -> str:
        """The deepest layer this extractor can compute."""
        return VGG19_LAYERS[len(self.layers) - 1]

    @property
    def device(self) -> torch.device:
        return self._mean.device

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] -> the network's input space."""
        x = image.index_select(1, self._order) * self.preprocessing.scale
        return (x - self._mean) / self._std

    def forward(
        self,
        image: torch.Tensor,
        layers: Iterable[str],
        visit: Callable[[str, torch.Tensor], None] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Activations ``{name: (B, C, h, w)}`` of ``layers``; stops after the deepest one.

        ``visit(name, activation)``, when given, is called as soon as each wanted layer is
        computed, before the deeper layers run. A loss term built there enters autograd's
        graph at that point, so the backward pass makes its gradient just before the
        layer's own backward needs it, instead of first thing: at 1024 px relu1_1's Gram
        gradient (100 MB in bfloat16) then no longer waits through the whole backward pass.
        """
        wanted = canonical_layers(layers)
        if not wanted:
            return {}
        stop = max(LAYER_INDEX[name] for name in wanted)
        if stop >= len(self.layers):
            raise WeightsError(
                f"this extractor ends at {self.last_layer}; layer {VGG19_LAYERS[stop]} needs a deeper one"
            )
        indices = {LAYER_INDEX[name]: name for name in wanted}
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(image)
        for index in range(stop + 1):
            module = self.layers[index]
            if isinstance(module, nn.ReLU) and index - 1 not in indices:
                # In place, unless the conv output is wanted: autograd needs a conv's input,
                # not its output, so this halves the activations kept for the backward pass.
                x = torch.relu_(x)
            elif isinstance(module, nn.MaxPool2d) and torch.is_grad_enabled():
                x = _MaxPool2x2.apply(x)  # VGG19's pools are all 2x2, stride 2
            elif isinstance(module, nn.Conv2d) and winograd.applies(x, module):
                x = winograd.conv3x3(x, module, self._turned(index, module))
            else:
                x = module(x)
            if index in indices:
                out[indices[index]] = x
                if visit is not None:
                    visit(indices[index], x)
        return out

    def _turned(self, index: int, conv: nn.Conv2d) -> torch.Tensor:
        """The conv's kernel for its backward pass by Winograd (:mod:`nst.winograd`), made once."""
        if index not in self._turned_kernels:
            self._turned_kernels[index] = winograd.turned(conv.weight)
        return self._turned_kernels[index]

    def train(self, mode: bool = True) -> FeatureExtractor:
        """Always stays in eval mode: the extractor is read-only."""
        return super().train(False)


class _MaxPool2x2(torch.autograd.Function):
    """2x2 max pooling, stride 2, that keeps no int64 indices for the backward pass.

    torch's max_pool2d keeps the index of every maximum: 8 bytes per output value, about
    180 MB over the four pools at 1024x768, four times the pooled bfloat16 activations. This
    keeps only the input (which the ReLU before it keeps anyway) and finds the maxima again in
    the backward pass, one pool at a time.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.nn.functional.max_pool2d(x, 2, 2)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        x: torch.Tensor
        (x,) = ctx.saved_tensors
        # The maxima found again (their indices live only here), then torch's own scatter: a
        # fifth of the time of comparing every window with its maximum (0.08 s against 0.37 s
        # per step at 512 px in float32). Ties go to the first maximum, as in torch's pool.
        _, indices = torch.nn.functional.max_pool2d(x, 2, 2, return_indices=True)
        grad_in: torch.Tensor = torch.ops.aten.max_pool2d_with_indices_backward(
            grad, x, [2, 2], [2, 2], [0, 0], [1, 1], False, indices
        )
        return grad_in


VGG19_CONFIG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")


def vgg19_features(count: int = len(VGG19_LAYERS)) -> nn.Sequential:
    """The first ``count`` modules of ``torchvision.models.vgg19().features``, untrained.

    The same module classes, order and parameter names (tests/test_layers.py compares them),
    built here because importing torchvision costs about 160 MB of resident memory in every
    process, a twelfth of the peak of a 1024 px run; only the ``torchvision`` weight source
    imports it, to download its weights.
    """
    modules: list[nn.Module] = []
    channels = 3
    for item in VGG19_CONFIG:
        if item == "M":
            modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            modules += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = int(item)
    return nn.Sequential(*modules[:count])


def build_extractor(
    weights: str = "caffe",
    *,
    pooling: str = "max",
    device: str | torch.device = "cpu",
    last_layer: str = DEEPEST_USEFUL_LAYER,
) -> FeatureExtractor:
    """Load VGG19 from a weight source, truncated after ``last_layer``.

    Args:
        weights: ``"caffe"``, ``"torchvision"`` or the path of a state-dict file.
        pooling: ``"max"`` as trained, or ``"avg"`` (differs from the trained network;
            Gatys et al. report that average pooling gives slightly nicer results).
        device: where the network lives.
        last_layer: the deepest layer any run will ask for; later modules are not built.

    Examples:
        >>> extractor = build_extractor("caffe", last_layer="relu5_1")  # doctest: +SKIP
        >>> extractor(picture, ["relu1_1", "relu4_2"])["relu4_2"].shape  # (1, 512, H/8, W/8)  # doctest: +SKIP
    """
    started = time.perf_counter()
    last_layer = canonical_layer(last_layer)
    state, preprocessing = load_weights(weights, last_layer)
    with torch.device("meta"):  # the architecture without allocating or initialising weights
        features = vgg19_features(LAYER_INDEX[last_layer] + 1)
    try:
        features.load_state_dict(state, assign=True)
    except RuntimeError as error:  # wrong shapes in a user's file
        raise WeightsError(
            f"the weights from {weights!r} do not fit VGG19: {str(error).splitlines()[-1].strip()}"
        ) from None
    if pooling == "avg":
        for index, module in enumerate(features):
            if isinstance(module, nn.MaxPool2d):
                features[index] = nn.AvgPool2d(kernel_size=2, stride=2)
    elif pooling != "max":
        raise ValueError(f"pooling must be 'max' or 'avg', not {pooling!r}")
    for module in features:  # ReLU(inplace=True) would overwrite the activations we return
        if isinstance(module, nn.ReLU):
            module.inplace = False
    extractor = FeatureExtractor(features, preprocessing, source=weights, pooling=pooling).to(device)
    log.info(
        "VGG19 (%s, %s pooling, up to %s) ready on %s in %.2f s",
        weights,
        pooling,
        last_layer,
        device,
        time.perf_counter() - started,
    )
    return extractor
