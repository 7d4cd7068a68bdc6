"""What a run compares its picture with, computed once and reused.

Content features and style Gram matrices depend only on the pictures, their size, the
layers and the network, not on the weights alpha and beta. A :class:`TargetCache` keeps
them, so a run that continues with new weights (live tuning), or a second run on the
same pictures, computes none of them again. The cache belongs to one user (the app keeps
one per browser session); the shared network holds nothing of anyone's pictures.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from PIL import Image

from nst.features import FeatureExtractor
from nst.losses import style_statistics


def picture_digest(image: Image.Image) -> str:
    """A short fingerprint of a picture's pixels (same pixels, same digest)."""
    digest = hashlib.blake2b(image.tobytes(), digest_size=16)
    digest.update(f"{image.mode}{image.size}".encode())
    return digest.hexdigest()


def network_key(extractor: FeatureExtractor) -> tuple[str, str, str]:
    """What makes two extractors give the same features: weights, pooling, device."""
    return (extractor.source, extractor.pooling, str(extractor.device))


def content_features(
    extractor: FeatureExtractor, picture: torch.Tensor, layers: tuple[str, ...]
) -> dict[str, torch.Tensor]:
    """``{layer: (1, C, h, w)}`` for the content picture, without autograd."""
    with torch.inference_mode():
        features = extractor(picture, layers)
    return {name: value.clone() for name, value in features.items()}  # clone(): usable in autograd


def style_grams(
    extractor: FeatureExtractor,
    picture: torch.Tensor,
    layers: tuple[str, ...],
    loss: str = "gram",
    masks: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """``{layer: (1, C, C)}`` Gram matrices of the style picture, without autograd (with
    ``loss="wasserstein"``, ``(1, C, C + 1)``: the mean beside them; :func:`nst.losses.style_statistics`).
    With ``masks`` (``{layer: (1, 1, h, w)}``, a part of the picture: :func:`nst.regions.layer_masks`),
    the guided Gram matrices of that part, as a region's are computed on the result."""
    with torch.inference_mode():
        features = extractor(picture, layers)
        grams = {
            name: style_statistics(features[name], loss=loss)
            if masks is None
            else style_statistics(features[name], float(masks[name].pow(2).sum()), loss, masks[name])
            for name in layers
        }
    return {name: value.clone() for name, value in grams.items()}


@dataclass(frozen=True)
class Targets:
    """What the result is compared with at one scale."""

    content: dict[str, torch.Tensor]  # layer -> (1, C, h, w)
    style_grams: dict[str, torch.Tensor]  # layer -> (1, C, C), the styles blended
    per_style: tuple[dict[str, torch.Tensor], ...] = ()  # with regions: each style's own Gram matrices
    regions: tuple[dict[str, torch.Tensor], ...] = ()  # with regions: each style's mask, layer -> (1, 1, h, w)
    # video: the previous stylised frame carried onto this one (1, 3, H, W) and where it can be trusted (1, 1, H, W)
    temporal: tuple[torch.Tensor, torch.Tensor] | None = None


@dataclass(frozen=True)
class Temporal:
    """What a video frame is kept close to (:mod:`nst.video`): the previous stylised frame
    warped along the optical flow onto this frame, and a grey mask, 1 where that warp can be
    trusted and 0 where it cannot (disoccluded pixels, motion boundaries); both this frame's size."""

    previous: Image.Image
    certainty: Image.Image  # mode "L" or "F"


class TargetCache:
    """A small LRU cache of content features and style Gram matrices.

    ``computed`` counts the target sets actually computed (a content set or a style set
    each count one) and ``reused`` those found in the cache.
    """

    def __init__(self, max_entries: int = 24) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[object, ...], dict[str, torch.Tensor]] = OrderedDict()
        self.computed = 0
        self.reused = 0

    def get(self, key: tuple[object, ...], compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """The entry for ``key``, computed by ``compute()`` when it is missing."""
        if key in self._entries:
            self._entries.move_to_end(key)
            self.reused += 1
            return self._entries[key]
        value = compute()
        self.computed += 1
        self._entries[key] = value
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return value

    def hold(self, entries: int) -> None:
        """Keep at least ``entries`` from now on (a batch: every style's targets at every scale, and a photo's)."""
        self.max_entries = max(self.max_entries, entries)

    def clear(self) -> None:
        self._entries.clear()

    def keys(self) -> list[tuple[object, ...]]:
        """The entries' keys, the least recently used first."""
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
