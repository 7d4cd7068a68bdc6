"""Inside the network: feature maps and Gram matrices as pictures, for teaching.

A layer's feature maps show where each filter responds; a Gram matrix (channels x
channels) shows which filters respond together, which is all that the style loss
compares. Seeing the style's Gram matrix beside the result's, and their difference,
shows what the optimisation is doing.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from nst.features import FeatureExtractor
from nst.images import ImageSource, load_image, resize_longest, to_tensor
from nst.layers import canonical_layer
from nst.losses import gram_matrix


def features_at(extractor: FeatureExtractor, picture: ImageSource, layer: str, size: int) -> torch.Tensor:
    """``(C, h, w)`` activations of ``layer`` for ``picture`` resized to ``size`` px."""
    layer = canonical_layer(layer)
    image = to_tensor(resize_longest(load_image(picture), size), extractor.device)
    with torch.inference_mode():
        features: torch.Tensor = extractor(image, (layer,))[layer][0].float().cpu()
    return features


def strongest_channels(features: torch.Tensor, count: int) -> list[int]:
    """The ``count`` channels with the largest mean activation, strongest first."""
    return features.mean(dim=(1, 2)).argsort(descending=True)[:count].tolist()


def feature_map_pictures(features: torch.Tensor, channels: list[int], side: int = 160) -> list[Image.Image]:
    """Each chosen channel as a grey picture (white = strong response), scaled up to ``side`` px."""
    pictures = []
    for channel in channels:
        values = features[channel].numpy()
        peak = float(values.max())
        grey = (values / peak * 255 if peak > 0 else np.zeros_like(values)).clip(0, 255).astype(np.uint8)
        picture = Image.fromarray(grey)
        scale = side / max(picture.size)
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        pictures.append(picture.resize(size, Image.Resampling.NEAREST).convert("RGB"))
    return pictures


def gram(features: torch.Tensor) -> np.ndarray:
    """``(C, C)`` Gram matrix of ``(C, h, w)`` features, normalised as in the style loss."""
    return gram_matrix(features.unsqueeze(0))[0].numpy()


def heatmap(matrix: np.ndarray, *, limit: float | None = None, diverging: bool = False, side: int = 256) -> Image.Image:
    """A matrix as a colour picture: dark blue to yellow, or blue-white-red around 0 when diverging."""
    limit = limit if limit is not None else float(np.abs(matrix).max()) or 1.0
    if diverging:
        t = (matrix / limit).clip(-1, 1)  # -1 .. 1
        red = np.where(t > 0, 1.0, 1.0 + t)
        blue = np.where(t < 0, 1.0, 1.0 - t)
        green = 1.0 - np.abs(t)
        rgb = np.stack([red, green, blue], -1)
    else:
        t = (matrix / limit).clip(0, 1) ** 0.5  # square root: small correlations stay visible
        anchors = np.array([[0.05, 0.03, 0.25], [0.13, 0.45, 0.55], [0.45, 0.75, 0.35], [0.99, 0.9, 0.15]])
        position = t * (len(anchors) - 1)
        low = np.floor(position).astype(int).clip(0, len(anchors) - 2)
        fraction = (position - low)[..., None]
        rgb = anchors[low] * (1 - fraction) + anchors[low + 1] * fraction
    picture = Image.fromarray((rgb * 255).round().astype(np.uint8))
    return picture.resize((side, side), Image.Resampling.NEAREST)
