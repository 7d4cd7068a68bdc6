"""Regions: a mask per style picture says where on the photo that style goes.

After Gatys, Ecker, Bethge, Hertzmann and Shechtman, "Controlling Perceptual Factors in
Neural Style Transfer" (CVPR 2017): each style's Gram matrix is computed over its region
only (the features multiplied by the region's mask, "guided Gram matrices"), normalised by
the region's area so that a small region is matched as strongly as a large one. Pixels that
no mask covers keep the photo: only the content loss acts there.

Masks are grey pictures, white where the style applies; soft edges are allowed. A mask of
another size or shape is resized to the photo (stretched: its corners stay the photo's
corners). Masks on the style pictures (``style_masks``) choose which part of a painting paints
each region, as in the paper's spatial control (its sky onto the photo's sky): that part's
guided Gram matrices are the region's target instead of the whole painting's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TypeVar

import torch
import torch.nn.functional as F
from PIL import Image

from nst.colour import match_colour
from nst.errors import SettingsError
from nst.images import ImageSource, load_image
from nst.layers import LAYER_INDEX, VGG19_LAYERS

log = logging.getLogger(__name__)

T = TypeVar("T")
EMPTY = 1e-3  # a mask whose mean is below this covers nothing: its style is not used


def load_masks(
    sources: Sequence[ImageSource], size: tuple[int, int], styles: int
) -> tuple[list[Image.Image], list[str]]:
    """The masks as grey pictures of ``size`` (the photo's), and notes for the person.

    Notes say when a mask's shape differs from the photo's (it is stretched), when a mask is
    empty (its style is not used) and when every mask is empty (the result is the photo).

    Raises:
        SettingsError: the number of masks is not the number of style pictures.
        ImageLoadError: a mask cannot be read as a picture.

    Examples:
        >>> masks, notes = load_masks(["sky.png", "houses.png"], photo.size, styles=2)  # doctest: +SKIP
    """
    if len(sources) != styles:
        raise SettingsError(f"give one mask per style picture: {len(sources)} masks for {styles} style pictures")
    masks, notes = [], []
    for number, source in enumerate(sources, start=1):
        picture = load_image(source, name=f"mask {number}")
        width, height = picture.size
        if abs(width / height - size[0] / size[1]) > 0.02 * size[0] / size[1]:
            notes.append(f"mask {number} is {width}x{height}, another shape than the photo's {size[0]}x{size[1]}: "
                         "it is stretched to fit")  # fmt: skip
        grey = picture.convert("L").resize(size, Image.Resampling.BILINEAR)
        if _mean(grey) < EMPTY:
            notes.append(f"mask {number} is empty (all black): style picture {number} is not used")
        masks.append(grey)
    if all(_mean(mask) < EMPTY for mask in masks):
        notes.append("every mask is empty: no style applies anywhere, and the result is the photo")
    return masks, notes


def one_per_region(styles: Sequence[T], regions: int, style_masks: bool) -> list[T]:
    """The style pictures, one per region: with style masks cutting several regions' styles out of
    one painting, that painting once per region; otherwise as given (one per mask already)."""
    return list(styles) * regions if style_masks and len(styles) == 1 else list(styles)


def load_style_masks(
    sources: Sequence[ImageSource], styles: Sequence[Image.Image], regions: int
) -> tuple[list[Image.Image], list[str]]:
    """Masks on the style pictures (the painting's own regions, Gatys et al. 2017): the i-th selects
    the part of the i-th style picture that paints the photo's region i. Each is a grey picture of its
    style picture's size (stretched to it), and notes for the person.

    Raises:
        SettingsError: not one style mask per region, or a style mask that selects nothing.
        ImageLoadError: a style mask cannot be read as a picture.
    """
    if len(sources) != regions:
        raise SettingsError(f"give one style mask per mask on the photo: {len(sources)} style masks for "
                            f"{regions} masks")  # fmt: skip
    masks, notes = [], []
    for number, (source, style) in enumerate(zip(sources, styles, strict=True), start=1):
        picture = load_image(source, name=f"style mask {number}")
        width, height = picture.size
        if abs(width / height - style.width / style.height) > 0.02 * style.width / style.height:
            notes.append(f"style mask {number} is {width}x{height}, another shape than its style picture's "
                         f"{style.width}x{style.height}: it is stretched to fit")  # fmt: skip
        grey = picture.convert("L").resize(style.size, Image.Resampling.BILINEAR)
        if _mean(grey) < EMPTY:
            raise SettingsError(f"style mask {number} is empty (all black): it selects nothing of its style picture")
        masks.append(grey)
    return masks, notes


def region_colours(
    choices: Sequence[str],
    styles: Sequence[Image.Image],
    masks: Sequence[Image.Image],
    style_masks: Sequence[Image.Image],
    photo: Image.Image,
) -> list[Image.Image]:
    """Each region's style picture in the colours chosen for it (``Settings.region_colours``): as it is
    (``painting``), or recoloured so that its part's colours have the mean and covariance of the photo's
    colours inside the region (``photo``: Gatys et al.'s histogram matching, done over a region).

    Raises:
        SettingsError: no regions, or not one choice per region.
    """
    if not masks:
        raise SettingsError("region_colours chooses colours region by region: give the regions too (masks)")
    if len(choices) != len(masks):
        raise SettingsError(f"give one colour choice per region: {len(choices)} for {len(masks)} regions")
    parts: list[Image.Image | None] = [*style_masks] or [None] * len(styles)
    return [
        match_colour(style, photo, style_part=part, content_part=mask.resize(photo.size, Image.Resampling.BILINEAR))
        if choice == "photo" and _mean(mask) >= EMPTY
        else style
        for choice, style, mask, part in zip(choices, styles, masks, parts, strict=True)
    ]


def _mean(grey: Image.Image) -> float:
    histogram = grey.histogram()
    return sum(value * count for value, count in enumerate(histogram)) / (255 * max(1, sum(histogram)))


def layer_masks(mask: torch.Tensor, layers: Sequence[str], *, inside: bool = False) -> dict[str, torch.Tensor]:
    """``(1, 1, H, W)`` mask at the picture's size -> ``{layer: (1, 1, h, w)}`` at each layer's size.

    Each layer's mask is the previous one averaged over the layer's own window: 3x3 for a
    convolution (and its ReLU), 2x2 for a pooling. A neuron's mask value is then the share of
    its window that lies in the region, so masks soften with depth as the receptive fields
    grow. Differs from Gatys et al. (2017), who either resize the mask to each layer's size
    or erode it so that only neurons entirely inside the region count: this is a soft
    middle between the two, and a white mask stays exactly white (the borders average only
    over the window inside the picture).

    ``inside``: their eroded masks, the least over each window instead of the mean, so a neuron
    counts only as much as the least-covered pixel its window reads. A layer where erosion leaves
    no neuron at least half inside (a thin region, deep down) keeps the soft mask, so the region
    is still matched there.

    Examples:
        >>> masks = layer_masks(torch.ones(1, 1, 64, 48), ["relu1_1", "relu3_1"])
        >>> masks["relu3_1"].shape, float(masks["relu3_1"].min())
        (torch.Size([1, 1, 16, 12]), 1.0)
        >>> half = torch.zeros(1, 1, 32, 32); half[..., 16:] = 1
        >>> soft = layer_masks(half, ["relu2_1"])["relu2_1"][0, 0, 0]
        >>> eroded = layer_masks(half, ["relu2_1"], inside=True)["relu2_1"][0, 0, 0]
        >>> [round(float(v), 2) for v in soft[6:12]], [float(v) for v in eroded[6:12]]
        ([0.07, 0.33, 0.67, 0.93, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0, 1.0, 1.0])
    """
    wanted = set(layers)
    deepest = max(LAYER_INDEX[name] for name in wanted)
    out: dict[str, torch.Tensor] = {}
    soft = eroded = mask
    for name in VGG19_LAYERS[: deepest + 1]:
        if name.startswith("conv"):
            soft = F.avg_pool2d(soft, 3, stride=1, padding=1, count_include_pad=False)
            eroded = -F.max_pool2d(-eroded, 3, stride=1, padding=1)  # the least over the window inside the picture
        elif name.startswith("pool"):
            soft = F.avg_pool2d(soft, 2, stride=2)
            eroded = -F.max_pool2d(-eroded, 2, stride=2)
        if name in wanted:
            out[name] = eroded if inside and float(eroded.max()) >= 0.5 else soft
    return out
