"""A run's pictures: decoded, checked, prepared for ``settings.preserve_colour``; its starting picture."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import torch
from PIL import Image

from nst import colour
from nst.errors import ImageLoadError, SettingsError
from nst.images import ImageSource, load_image, to_pil, to_tensor
from nst.layers import deepest_layer, pools_before
from nst.regions import load_masks, load_style_masks, one_per_region, region_colours
from nst.settings import Settings
from nst.targets import Temporal, picture_digest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inputs:
    """A run's pictures, decoded and prepared for ``settings.preserve_colour``."""

    content: Image.Image
    styles: tuple[Image.Image, ...]
    start: Image.Image | None
    present: Callable[[torch.Tensor], Image.Image]  # the optimised tensor -> the picture a user sees
    digests: tuple[str, tuple[str, ...]]  # content, each style: the target cache's keys
    masks: tuple[Image.Image, ...] = ()  # one grey picture per style, the content's size (regions)
    mask_digest: str = ""
    temporal: Temporal | None = None  # video: the previous frame, warped (in the optimised colours)
    style_masks: tuple[Image.Image, ...] = ()  # regions: the part of each style picture its region takes


def prepare_inputs(
    settings: Settings,
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    start: ImageSource | None,
    mask_sources: Sequence[ImageSource] | None = None,
    temporal: Temporal | None = None,
    colour_reference: ImageSource | None = None,
    *,
    style_mask_sources: Sequence[ImageSource] | None = None,
) -> Inputs:
    """Decode every picture of a run and prepare it for the settings' colour handling.

    The style takes the colours (``histogram``) or the brightness (``luminance``) of
    ``colour_reference``, by default the content photo; a video passes its first frame, so
    the style, and its targets, are the same for every frame.

    Raises:
        ImageLoadError: a picture cannot be read.
        SettingsError: no style picture, or blend weights that do not match them.
    """
    content_image = load_image(content, name="the content picture")
    styles = style_pictures(settings, style)
    start_image = load_image(start, name="the starting picture") if start is not None else None
    present: Callable[[torch.Tensor], Image.Image] = to_pil
    reference = content_image
    if colour_reference is not None and (settings.preserve_colour != "off" or settings.region_colours):
        reference = load_image(colour_reference, name="the colour reference")
    if settings.preserve_colour == "histogram":
        styles = [colour.match_colour(picture, reference) for picture in styles]
    elif settings.preserve_colour == "luminance":
        present = _with_colours_of(content_image)
        styles = [colour.matched_luminance(picture, reference) for picture in styles]
        start_image = colour.luminance(start_image) if start_image is not None else None
        content_image = colour.luminance(content_image)
        if temporal is not None:
            temporal = Temporal(colour.luminance(temporal.previous), temporal.certainty)
    masks, styles, style_masks = _regions(mask_sources, style_mask_sources, content_image.size, styles)
    if settings.region_colours:
        styles = region_colours(settings.region_colours, styles, masks, style_masks, reference)
    digests = (picture_digest(content_image), tuple(picture_digest(picture) for picture in styles))
    if style_masks:  # a part of a painting has targets of its own
        digests = (digests[0], tuple(f"{d}/{picture_digest(m)}" for d, m in zip(digests[1], style_masks, strict=True)))
    mask_digest = "+".join(picture_digest(mask) for mask in masks)
    return Inputs(content_image, tuple(styles), start_image, present, digests, tuple(masks), mask_digest, temporal,
                  tuple(style_masks))  # fmt: skip


def _regions(
    mask_sources: Sequence[ImageSource] | None,
    style_mask_sources: Sequence[ImageSource] | None,
    size: tuple[int, int],
    styles: list[Image.Image],
) -> tuple[list[Image.Image], list[Image.Image], list[Image.Image]]:
    """The masks on the photo, the style pictures (one per region: the only one, repeated, where
    style masks cut several regions' styles out of it) and the masks on them."""
    if style_mask_sources and not mask_sources:
        raise SettingsError("style masks say which part of a painting paints which region: give the regions "
                            "on the photo too, one mask each (--masks)")  # fmt: skip
    if not mask_sources:
        return [], styles, []
    styles = one_per_region(styles, len(mask_sources), bool(style_mask_sources))
    masks, notes = load_masks(mask_sources, size, len(styles))
    style_masks: list[Image.Image] = []
    if style_mask_sources:
        style_masks, more = load_style_masks(style_mask_sources, styles, len(masks))
        notes += more
    for note in notes:
        log.warning("%s", note)
    return masks, styles, style_masks


def style_pictures(settings: Settings, style: ImageSource | Sequence[ImageSource]) -> list[Image.Image]:
    """The style pictures, decoded, named in messages by their place ("style picture 2"), checked
    against ``settings.style_blend``."""
    sources: list[ImageSource] = list(style) if isinstance(style, (list, tuple)) else [cast(ImageSource, style)]
    if not sources:
        raise SettingsError("give at least one style picture")
    names = ["the style picture"] if len(sources) == 1 else [f"style picture {n}" for n in range(1, len(sources) + 1)]
    styles = [load_image(source, name=name) for source, name in zip(sources, names, strict=True)]
    if settings.style_blend is not None and len(settings.style_blend) != len(styles):
        raise SettingsError(f"style_blend has {len(settings.style_blend)} weights for {len(styles)} style pictures")
    return styles


def _with_colours_of(photo: Image.Image) -> Callable[[torch.Tensor], Image.Image]:
    """Luminance-only transfer: the optimised grey picture shown with the photo's colours."""
    chroma_at: dict[tuple[int, int], Image.Image] = {}

    def present(picture: torch.Tensor) -> Image.Image:
        grey = to_pil(picture)
        if grey.size not in chroma_at:  # the photo's colours at this scale, resized once
            chroma_at.clear()
            chroma_at[grey.size] = photo.resize(grey.size, Image.Resampling.LANCZOS)
        return colour.with_content_colour(grey, chroma_at[grey.size])

    return present


def min_side(layers: tuple[str, ...]) -> int:
    """Smallest picture side that still leaves at least one position at the deepest layer."""
    return int(2 ** pools_before(deepest_layer(layers)))


def check_size(size: tuple[int, int], role: str, layers: tuple[str, ...]) -> None:
    """Refuse a picture that, at ``size``, is too narrow for the deepest layer read."""
    width, height = size
    needed = min_side(layers)
    if min(height, width) < needed:
        raise ImageLoadError(
            f"the {role} picture is too narrow: resized it is {width}x{height} px, and layers down to "
            f"{deepest_layer(layers)} need at least {needed} px on each side; crop it to a less extreme "
            "shape or raise the output size"
        )


def initial_image(
    settings: Settings, content: torch.Tensor, style_image: Image.Image, start: Image.Image | None
) -> torch.Tensor:
    """The picture the optimisation starts from, ``(1, 3, H, W)`` in [0, 1], a fresh tensor."""
    height, width = content.shape[-2:]
    if start is not None:
        return to_tensor(start.resize((width, height), Image.Resampling.LANCZOS), content.device)
    if settings.init == "content":
        return content.clone()
    if settings.init == "style":
        return to_tensor(style_image.resize((width, height), Image.Resampling.LANCZOS), content.device)
    generator = torch.Generator(device="cpu").manual_seed(settings.seed)  # the same noise on every device
    return torch.rand(content.shape, generator=generator).to(content.device)  # white noise, as in the paper
