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
STYLE_LOSSES = ("gram", "wasserstein")  # style_statistics(), style_loss_from_grams()


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


def style_statistics(
    features: torch.Tensor, positions: float | None = None, loss: str = "gram", mask: torch.Tensor | None = None
) -> torch.Tensor:
    """What a style loss compares at one layer, summed over positions (so tiles add up).

    ``gram``: the Gram matrix ``(B, C, C)`` (:func:`gram_matrix`). ``wasserstein``: the Gram
    matrix with the mean activation beside it as one more column, ``(B, C, C + 1)``: the first
    and second moments, from which :func:`wasserstein_error` takes the mean and covariance.
    Both are averages over positions, so several styles blend by a weighted sum (a mixture's
    moments) and a tiled picture's shares add up to the whole picture's.

    ``mask`` ``(1, 1, H, W)`` (a region's, Gatys et al. 2017): the guided Gram matrix
    ``(F m)(F m)^T`` and the mean ``sum(m^2 F)``, both to be divided by ``sum(m^2)`` as
    ``positions``: the same weights ``m^2`` for both moments, so the covariance they give is a
    weighted covariance (positive semi-definite) and a uniform soft mask gives the plain mean.
    """
    masked = features if mask is None else features * mask
    gram = gram_matrix(masked, positions)
    if loss == "gram":
        return gram
    b, c, h, w = features.shape
    weighted = masked if mask is None else masked * mask
    mean = weighted.sum(dim=(2, 3), dtype=torch.float32) / (h * w if positions is None else positions)
    return torch.cat([gram, mean.unsqueeze(-1)], dim=-1)


def wasserstein_error(
    value: torch.Tensor, target: torch.Tensor, target_root: torch.Tensor | None = None
) -> torch.Tensor:
    """Squared 2-Wasserstein distance between the Gaussians of two :func:`style_statistics`,
    relative to the target's second moment (so about 1 for an unrelated picture, 0 at a match).

    ``W2^2 = |m - m_t|^2 + tr(S) + tr(S_t) - 2 tr((S_t^1/2 S S_t^1/2)^1/2)`` for means ``m`` and
    covariances ``S``; divided by ``tr(G_t) = |m_t|^2 + tr(S_t)``, the distance from the target
    to a picture whose activations are all zero. ``target_root``: ``S_t^1/2``, when already
    known (:func:`covariance_root`). The trace of the matrix square root is the sum of the square
    roots of the eigenvalues, whose gradients are stable where eigenvectors' are not.
    """
    mean, covariance = _moments(value)
    target_gram, target_mean = target[..., :-1], target[..., -1]
    root = (covariance_root(target) if target_root is None else target_root).to(covariance.dtype)
    product = root @ covariance @ root
    product = (product + product.transpose(-1, -2)) / 2
    eigenvalues = torch.linalg.eigvalsh(product)
    floor = eigenvalues.detach().amax(dim=-1, keepdim=True).clamp_min(EPS) * 1e-10
    cross = eigenvalues.clamp_min(floor).sqrt().sum(dim=-1)
    target_covariance_trace = _trace(target_gram) - target_mean.pow(2).sum(dim=-1)
    distance = (mean - target_mean).pow(2).sum(dim=-1) + _trace(covariance) + target_covariance_trace - 2 * cross
    relative: torch.Tensor = distance.clamp_min(0.0) / (_trace(target_gram) + EPS)
    return relative.sum()


def covariance_root(statistics: torch.Tensor) -> torch.Tensor:
    """The symmetric square root ``S^1/2`` of the covariance in :func:`style_statistics` ``(B, C, C+1)``."""
    covariance = _moments(statistics)[1].double()
    eigenvalues, vectors = torch.linalg.eigh((covariance + covariance.transpose(-1, -2)) / 2)
    root: torch.Tensor = vectors @ torch.diag_embed(eigenvalues.clamp_min(0.0).sqrt()) @ vectors.transpose(-1, -2)
    return root.to(statistics.dtype)


def _moments(statistics: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean ``(B, C)`` and covariance ``(B, C, C)`` in :func:`style_statistics` ``(B, C, C+1)``."""
    gram, mean = statistics[..., :-1], statistics[..., -1]
    return mean, gram - mean.unsqueeze(-1) * mean.unsqueeze(-2)


def _trace(matrices: torch.Tensor) -> torch.Tensor:
    return matrices.diagonal(dim1=-2, dim2=-1).sum(dim=-1)


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
    loss: str = "gram",
    roots: dict[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """:func:`style_loss` from the picture's :func:`style_statistics`, already computed (0 if no layers).

    ``loss``: ``gram``, the relative squared Gram error; ``wasserstein``, :func:`wasserstein_error`.
    ``roots``: a dict that keeps each layer's target covariance root between calls.
    """
    if not layers:
        return _zero(grams)
    pairs = zip(layers, layer_weights, strict=True)
    if loss == "gram":
        return torch.stack([w * relative_squared_error(grams[n], target_grams[n]) for n, w in pairs]).sum()
    roots = {} if roots is None else roots
    for n in layers:
        if n not in roots:
            roots[n] = covariance_root(target_grams[n])
    return torch.stack([w * wasserstein_error(grams[n], target_grams[n], roots[n]) for n, w in pairs]).sum()


def _zero(tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """A float32 zero on the tensors' device."""
    device = next(iter(tensors.values())).device if tensors else None
    return torch.zeros((), dtype=torch.float32, device=device)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between vertically and horizontally adjacent pixels."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).pow(2).mean()
    dx = (image[..., :, 1:] - image[..., :, :-1]).pow(2).mean()
    return dx + dy
