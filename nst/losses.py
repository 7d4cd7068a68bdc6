"""The terms of Gatys et al.'s objective, as small functions on tensors.

Shapes: features are ``(B, C, H, W)``; Gram matrices ``(B, C, C)``; pictures
``(B, 3, H, W)`` in [0, 1].

Normalisation (differs from Gatys et al.). The paper uses
``E_l = 1/(4 N_l^2 M_l^2) * sum (G - A)^2`` for the style and ``1/2 * sum (F - P)^2`` for
the content. Those raw sums differ by orders of magnitude between layers, between
image sizes, and between weight sources (Caffe's 0..255 inputs against torchvision's
normalised ones), so the paper's alpha/beta ratios do not carry over from one setup to
another. Here every term is a *relative* squared error, divided by the energy of its
target:

* content:  ``sum (F - P)^2 / sum P^2``  per content layer, averaged over layers;
* style:    ``sum (G - A)^2 / sum A^2``  per style layer, with ``G = F F^T / (H W)``
  (a spatial average, so pictures of different sizes are comparable), combined with
  per-layer weights that sum to 1 (the paper's ``w_l = 1/5``);
* total variation: the mean squared difference of neighbouring pixels.

So each term is about 1 when the picture is unrelated to its target and 0 when it
matches, and the same content_weight/style_weight give the same balance at any size
and with any weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

EPS = 1e-8  # keeps a relative error finite when a target is all zeros


def gram_matrix(features: torch.Tensor, positions: float | None = None) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, C, C)``: channel correlations averaged over positions.

    ``positions`` divides the sum instead of ``H * W``: a tile of a picture passes the whole
    picture's count, so the tiles' matrices add up to the picture's (:mod:`nst.tiles`).

    At least float32, whatever the features' precision (bfloat16 under autocast), and it keeps
    only the features themselves for the backward pass, not a float32 copy of them: at
    1024 px that copy would hold about 350 MB over the style layers through every step.
    """
    b, c, h, w = features.shape
    if features.is_contiguous():
        flat = features.reshape(b, c, h * w)
    else:  # channels-last features: (B, C, H*W) as a view of their (B, H*W, C) memory, no copy
        flat = features.permute(0, 2, 3, 1).reshape(b, h * w, c).transpose(1, 2)
    gram: torch.Tensor = _FloatGram.apply(flat)  # (B, C, C)
    return gram / (h * w if positions is None else positions)


class _FloatGram(torch.autograd.Function):
    """``F -> F F^T`` in at least float32 for ``(B, C, N)`` features of any floating precision."""

    @staticmethod
    def forward(ctx: Any, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        as_float = flat.to(torch.promote_types(flat.dtype, torch.float32))  # a temporary copy for bfloat16
        with torch.autocast(flat.device.type, enabled=False):  # float32 even inside the network's autocast
            return as_float @ as_float.transpose(1, 2)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        flat: torch.Tensor = ctx.saved_tensors[0]
        # d(F F^T) = (G' + G'^T) F, in the features' own precision, as the layers below use,
        # and in the features' own memory layout
        symmetric = (grad + grad.transpose(1, 2)).to(flat.dtype)
        if flat.stride(-1) == 1:
            return symmetric @ flat
        return (flat.transpose(1, 2) @ symmetric).transpose(1, 2)


def relative_squared_error(value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``sum (value - target)^2 / sum target^2`` as a scalar tensor."""
    return (value - target).pow(2).sum() / (target.pow(2).sum() + EPS)


def content_loss(
    features: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Tensor], layers: Sequence[str]
) -> torch.Tensor:
    """Mean over ``layers`` of the relative squared feature error (0 if no layers)."""
    if not layers:
        return _zero(features)
    return torch.stack([relative_squared_error(features[n], targets[n]) for n in layers]).mean()


def style_loss(
    features: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    layers: Sequence[str],
    layer_weights: Sequence[float],
) -> torch.Tensor:
    """Weighted sum over ``layers`` of the relative squared Gram error (0 if no layers)."""
    if not layers:
        return _zero(features)
    grams = {name: gram_matrix(features[name]) for name in layers}
    return style_loss_from_grams(grams, target_grams, layers, layer_weights)


def style_loss_from_grams(
    grams: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    layers: Sequence[str],
    layer_weights: Sequence[float],
) -> torch.Tensor:
    """:func:`style_loss` from the picture's Gram matrices, already computed (0 if no layers)."""
    if not layers:
        return _zero(grams)
    pairs = zip(layers, layer_weights, strict=True)
    return torch.stack([w * relative_squared_error(grams[n], target_grams[n]) for n, w in pairs]).sum()


def _zero(tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """A float32 zero on the tensors' device."""
    device = next(iter(tensors.values())).device if tensors else None
    return torch.zeros((), dtype=torch.float32, device=device)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between vertically and horizontally adjacent pixels."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).pow(2).mean()
    dx = (image[..., :, 1:] - image[..., :, :-1]).pow(2).mean()
    return dx + dy
