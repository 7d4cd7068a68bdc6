"""A scale's targets: the content features and style statistics a run compares its picture with.

Computed once per picture, size, layer choice and network, and kept in the run's
:class:`~nst.targets.TargetCache` (live tuning reuses them when only the weights change).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from PIL import Image

from nst.features import FeatureExtractor
from nst.images import resize_longest, to_tensor
from nst.inputs import Inputs, min_side
from nst.regions import layer_masks
from nst.schedule import Scale
from nst.settings import Settings
from nst.targets import TargetCache, Targets, Temporal, network_key
from nst.tiles import tiled_grams


def targets_at(
    extractor: FeatureExtractor,
    cache: TargetCache,
    settings: Settings,
    content_t: torch.Tensor,
    inputs: Inputs,
    scale: Scale,
    budget: int | None = None,
    *,
    keep: bool = True,
) -> Targets:
    """Content features and style Gram matrices at this scale, from the cache if there.

    Several style pictures blend into one target per layer: ``sum_k w_k G_k`` with the
    blend weights normalised to sum to 1 (as jcjohnson's neural-style blends them). With a
    memory ``budget``, pictures too large for it are read in tiles (:func:`nst.tiles.tiled_grams`).
    ``keep=False`` leaves the content features out of the cache (a print-size scale's are
    hundreds of MB, and no later scale reads them).
    """
    network = network_key(extractor)
    key = ("content", inputs.digests[0], scale.size, settings.content_layers, network)
    read = functools.partial(tiled_grams, extractor, content_t, settings.content_layers, budget, features=True)
    content = cache.get(key, read) if keep else read()
    per_style = _per_style(extractor, cache, settings, inputs, scale, budget)
    height, width = content_t.shape[-2:]
    size = (int(width), int(height))
    temporal = _temporal(inputs.temporal, size, content_t.device) if inputs.temporal else None
    if inputs.masks:  # regions: each style keeps its own Gram matrices, matched over its own mask
        regions = cache.get(
            ("regions", inputs.mask_digest, (width, height), settings.style_layers, settings.mask_edges),
            functools.partial(
                _region_masks,
                inputs.masks,
                size,
                settings.style_layers,
                content_t.device,
                inside=settings.mask_edges == "inside",
            ),  # fmt: skip
        )
        return Targets(content=content, style_grams=per_style[0], per_style=tuple(per_style),
                       regions=tuple({layer: regions[f"{k}/{layer}"] for layer in settings.style_layers}
                                     for k in range(len(inputs.masks))), temporal=temporal)  # fmt: skip
    return Targets(content=content, style_grams=_blend(settings, per_style), temporal=temporal)


def _per_style(
    extractor: FeatureExtractor, cache: TargetCache, settings: Settings, inputs: Inputs, scale: Scale,
    budget: int | None,
) -> list[dict[str, torch.Tensor]]:  # fmt: skip
    """Each style picture's statistics at the scale's style size."""
    network = network_key(extractor)
    style_size = round(scale.size * settings.style_scale)
    shortest = min_side(settings.content_layers + settings.style_layers)
    return [
        cache.get(
            (
                "style",
                digest,
                style_size,
                shortest,
                settings.style_layers,
                settings.style_loss,
                network,
                settings.mask_edges if part is not None else "",
            ),  # fmt: skip
            functools.partial(
                _style_targets,
                extractor,
                picture,
                style_size,
                shortest,
                settings.style_layers,
                budget,
                settings.style_loss,
                part,
                settings.mask_edges == "inside",
            ),
        )  # fmt: skip
        for picture, digest, part in zip(
            inputs.styles, inputs.digests[1], inputs.style_masks or (None,) * len(inputs.styles), strict=True
        )
    ]


def _blend(settings: Settings, per_style: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    if len(per_style) == 1:
        return per_style[0]
    weights = settings.normalised_style_blend(len(per_style))
    return {
        layer: torch.stack([weight * grams[layer] for weight, grams in zip(weights, per_style, strict=True)]).sum(0)
        for layer in settings.style_layers
    }


def _temporal(temporal: Temporal, size: tuple[int, int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The warped previous frame and its certainty at this scale's ``size`` (width, height)."""
    previous = to_tensor(temporal.previous.convert("RGB").resize(size, Image.Resampling.LANCZOS), device)
    trust = temporal.certainty.resize(size, Image.Resampling.BILINEAR)
    pixels = np.asarray(trust, dtype=np.float32) / (255.0 if trust.mode == "L" else 1.0)
    return previous, torch.from_numpy(pixels.copy()).to(device)[None, None]


def _region_masks(
    masks: tuple[Image.Image, ...], size: tuple[int, int], layers: tuple[str, ...], device: torch.device,
    *, inside: bool = False,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """Every mask at every style layer's size, as ``{"k/layer": (1, 1, h, w)}`` (a cache entry)."""
    out = {}
    for k, mask in enumerate(masks):
        grey = to_tensor(mask.resize(size, Image.Resampling.BILINEAR).convert("RGB"), device)[:, :1]  # (1, 1, H, W)
        for layer, resampled in layer_masks(grey, layers, inside=inside).items():
            out[f"{k}/{layer}"] = resampled
    return out


def _style_targets(
    extractor: FeatureExtractor,
    picture: Image.Image,
    size: int,
    shortest: int,
    layers: tuple[str, ...],
    budget: int | None = None,
    loss: str = "gram",
    part: Image.Image | None = None,
    inside: bool = False,
) -> dict[str, torch.Tensor]:
    """The style picture's statistics at ``size``; with ``part`` (a grey mask of the picture's size),
    those of that part only (guided Gram matrices, the mask fitted as the picture is; ``inside``:
    eroded at deeper layers, :func:`nst.regions.layer_masks`)."""
    picture_t = to_tensor(fit_style(picture, size, shortest), extractor.device)
    masks = None
    if part is not None:
        mask_t = to_tensor(fit_style(part.convert("RGB"), size, shortest), extractor.device)[:, :1]
        masks = layer_masks(mask_t, layers, inside=inside)
    return tiled_grams(extractor, picture_t, layers, budget, loss=loss, masks=masks)


def fit_style(image: Image.Image, longest: int, shortest: int) -> Image.Image:
    """Resize the style picture to ``longest`` px, but never thinner than ``shortest`` px.

    Only the Gram matrices of the style picture are used, not its layout, so a very thin
    picture is enlarged until the network can read it and its long side is then cropped
    (to at most four times ``longest``) to bound the cost.
    """
    image = resize_longest(image, longest)
    width, height = image.size
    if min(width, height) >= shortest:
        return image
    scale = shortest / min(width, height)
    size = (max(shortest, round(width * scale)), max(shortest, round(height * scale)))
    image = image.resize(size, Image.Resampling.LANCZOS)
    limit = 4 * max(longest, shortest)
    width, height = image.size
    left, top = max(0, (width - limit) // 2), max(0, (height - limit) // 2)
    return image.crop((left, top, left + min(width, limit), top + min(height, limit)))
