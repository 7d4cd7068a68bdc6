"""Regions: paint on the photo where each style picture goes, or upload one mask per style;
and, with one painting, paint on it which part of it paints each region.

The drawing surface is ``streamlit-drawable-canvas`` (a maintained Streamlit component on
Fabric.js): free drawing over the photo, with its own toolbar for undo, redo and clearing.
Each style picture has its own colour, and an eraser colour marks "no style here"; the
canvas's strokes come back as an RGBA picture, and every painted pixel belongs to the
colour nearest to it (strokes are drawn at 70% opacity, so the latest stroke wins where
strokes overlap). The masks then go to the engine (``nst.regions``), which matches each
style over its own region; what no region covers keeps the photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

from nst import NSTError
from nst.regions import EMPTY, load_masks, load_style_masks
from nst.settings import Settings, help_text
from webapp.display import UPLOAD_TYPES, fit
from webapp.state import Picture

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207)]
COLOUR_NAMES = ["blue", "red", "green", "purple", "orange", "cyan"]
ERASER = (128, 128, 128)
OPACITY = 0.7
CANVAS_SIDE = 512  # the canvas's longest side on the page, px
PAINTED = 0.3  # a canvas pixel at least this opaque is painted


@dataclass(frozen=True)
class Regions:
    """One grey mask per region, the photo's size, white where that region is; with ``style_masks``,
    one per region on the painting too, white on the part of it that paints the region."""

    masks: tuple[Image.Image, ...]
    style_masks: tuple[Image.Image, ...] = ()
    inside: bool = False  # the masks eroded at deeper layers (Settings.mask_edges "inside")
    photo_colours: tuple[bool, ...] = ()  # per region: in the photo's colours (Settings.region_colours "photo")

    def applied(self, settings: Settings) -> Settings:
        """The run's settings with these regions' choices: eroded masks, and colours region by region
        (which take the place of the sidebar's colour choice for the whole picture)."""
        if self.inside:
            settings = settings.replace(mask_edges="inside")
        if any(self.photo_colours):
            choices = tuple("photo" if photo else "painting" for photo in self.photo_colours)
            settings = settings.replace(preserve_colour="off", region_colours=choices)
        return settings


def regions_ui(content: Picture | None, style: Picture | None) -> Regions | None:
    """The region editor; returns the masks when any region is painted or uploaded, else None.

    The editor is drawn only while its toggle is on: the canvas carries the photo to the
    browser on every rerun of the page, and a new canvas (a new photo) reruns the page once
    more as it mounts, which under load could cost an upload dropped at that moment.
    With one style picture, a second toggle splits the painting itself into regions (Gatys et
    al.'s spatial control): a second canvas over the painting, in the same colours.
    """
    on = st.toggle(
        "Regions: paint where each style goes",
        key="regions_on",
        help="Paint over the photo where each style picture should go; the rest keeps the photo.",
    )
    if not on:
        return None
    with st.container(border=True):
        if content is None or style is None:
            st.caption("Choose a photo and a style picture first.")
            return None
        split = (
            not style.blended
            and st.toggle(
                "Paint on the painting too: which part of it paints each region",
                key="style_regions_on",
                disabled=bool(style.coarse),
                help="For example its sky onto the photo's sky and its ground onto the houses (one painting, "
                "several regions). A region left unpainted on the painting takes the whole painting. Not with "
                "another painting's large shapes: the painting is then repainted, and its parts would not fit.",
            )
            and not style.coarse
        )
        names = _region_names(style, split)
        st.caption(
            "Paint over the photo with a style's colour where that style should go; what no colour covers "
            "keeps the photo. The toolbar under the picture undoes, redoes and clears. With several style "
            "pictures (blend them in above), each has its own colour. A shared link cannot carry painted "
            "regions: the link opens without them."
        )
        colour, size = _brush(names)
        masks = _photo_masks(content, colour, size, names)
        parts = _style_masks(style, colour, size, len(names)) if split else ()  # drawn either way: paint in any order
        inside = st.toggle("Keep each style inside its region's edge", key="regions_inside",
                           help=help_text("mask_edges"))  # fmt: skip
        kept = st.multiselect(
            "Keep the photo's colours in", range(len(names)), key="regions_photo_colours",
            format_func=lambda k: names[k], placeholder="no region: every region in its painting's colours",
            help="The chosen regions take their painting's strokes in the colours of the photo there (the "
            "painting recoloured to that region of the photo); the others take the painting's colours. "
            "It replaces the sidebar's choice of colours for the whole picture.",
        )  # fmt: skip
        photo_colours = tuple(k in kept for k in range(len(names)))
        return Regions(masks, parts, inside, photo_colours) if masks is not None else None


def _region_names(style: Picture, split: bool) -> list[str]:
    if split:
        count = st.slider("Regions", 2, len(PALETTE), 2, key="regions_count")
        return [f"region {n}" for n in range(1, count + 1)]
    first = style.name.split(" + ")[0] if style.blended else style.name  # the blend's own name lists them all
    return [first] + [f"style picture {n}" for n in range(2, len(style.blended) + 2)]


def _brush(names: list[str]) -> tuple[tuple[int, int, int], int]:
    """The brush's colour (a region's, or the eraser's) and size, shared by both canvases."""
    tools = [*range(len(names)), -1]  # style indices, then the eraser
    left, right = st.columns([2, 1])
    tool = left.radio(
        "Brush", tools, horizontal=True, key="regions_tool",
        format_func=lambda k: "eraser (grey)" if k < 0 else f"{names[k]} ({COLOUR_NAMES[k % len(COLOUR_NAMES)]})",
    )  # fmt: skip
    size = right.slider("Brush size (px)", 4, 80, 30, 2, key="regions_brush")
    return (ERASER if tool < 0 else PALETTE[tool % len(PALETTE)]), size


def _photo_masks(
    content: Picture, colour: tuple[int, int, int], size: int, names: list[str]
) -> tuple[Image.Image, ...] | None:
    painted = _canvas(content, colour, size, "regions_canvas")
    uploads = st.file_uploader(
        "…or upload one mask per region, in their order (white = that style)",
        type=UPLOAD_TYPES, accept_multiple_files=True, key="mask_uploads",
    )  # fmt: skip
    if uploads:
        return _uploaded(uploads, content, len(names))
    if painted is None:
        return None
    masks = _masks_from_strokes(painted, content.image.size, len(names))
    if not any(_covered(mask) for mask in masks):
        st.caption("Only the eraser has been used: no region yet.")
        return None
    for number, (name, mask) in enumerate(zip(names, masks, strict=True), start=1):
        if not _covered(mask):
            what = name if name.startswith("region") else f"Style picture {number}"
            st.info(f"{what[0].upper() + what[1:]} has no region yet and is not used.", icon=":material/info:")
    return tuple(masks)


def _style_masks(style: Picture, colour: tuple[int, int, int], size: int, regions: int) -> tuple[Image.Image, ...]:
    """The painting's part for each region: painted on a canvas over it, or uploaded; a region with
    none takes the whole painting."""
    st.caption("Now paint on the painting, in the same colours, the part that paints each region.")
    painted = _canvas(style, colour, size, "style_regions_canvas")
    uploads = st.file_uploader(
        "…or upload one mask on the painting per region, in their order (white = the part it takes)",
        type=UPLOAD_TYPES, accept_multiple_files=True, key="style_mask_uploads",
    )  # fmt: skip
    whole = Image.new("L", style.image.size, 255)
    if uploads:
        try:
            masks, notes = load_style_masks([upload.getvalue() for upload in uploads], [style.image] * regions,
                                            regions)  # fmt: skip
        except NSTError as error:
            st.error(str(error))
            return ()
        for note in notes:
            st.info(note[0].upper() + note[1:] + ".", icon=":material/info:")
        return tuple(masks)
    if painted is None:
        return ()
    masks = _masks_from_strokes(painted, style.image.size, regions)
    parts = tuple(mask if _covered(mask) else whole for mask in masks)
    shares = [f"region {n}: {'the whole painting' if part is whole else f'{_share(part):.0%} of it'}"
              for n, part in enumerate(parts, start=1)]  # fmt: skip
    st.caption(f"On the painting: {'; '.join(shares)}.")
    return parts


def _canvas(content: Picture, colour: tuple[int, int, int], size: int, key: str) -> np.ndarray | None:
    """The drawing surface over a picture; returns its strokes as (H, W, 4) RGBA, or None if blank."""
    from streamlit_drawable_canvas import st_canvas  # noqa: PLC0415  # it registers a component at import

    width, height = content.image.size
    scale = CANVAS_SIDE / max(width, height)
    shown = fit(content.image, CANVAS_SIDE).convert("RGB")
    red, green, blue = colour
    result = st_canvas(
        stroke_width=size,
        stroke_color=f"rgba({red}, {green}, {blue}, {OPACITY})",
        background_image=shown,
        update_streamlit=True,
        width=round(width * scale),
        height=round(height * scale),
        drawing_mode="freedraw",
        return_image_data=True,
        key=f"{key}_{content.digest[:12]}",  # a new picture starts a clean canvas
    )
    strokes: np.ndarray | None = result.image_data
    if strokes is None or strokes.ndim != 3 or not (strokes[..., 3] > PAINTED * 255).any():
        return None
    return strokes


def _masks_from_strokes(strokes: np.ndarray, size: tuple[int, int], styles: int) -> list[Image.Image]:
    """Each painted pixel goes to the nearest colour: a style's, or the eraser's (no style)."""
    colours = np.array([*(PALETTE[k % len(PALETTE)] for k in range(styles)), ERASER], float)  # (K+1, 3)
    rgb = strokes[..., :3].astype(float)  # (H, W, 3), not premultiplied
    nearest = np.argmin(((rgb[..., None, :] - colours) ** 2).sum(-1), axis=-1)  # (H, W)
    painted = strokes[..., 3] > PAINTED * 255
    masks = []
    for k in range(styles):
        grey = Image.fromarray(((painted & (nearest == k)) * 255).astype(np.uint8))
        masks.append(grey.resize(size, Image.Resampling.BILINEAR))
    return masks


def _uploaded(uploads: list[Any], content: Picture, styles: int) -> tuple[Image.Image, ...] | None:
    try:
        masks, notes = load_masks([upload.getvalue() for upload in uploads], content.image.size, styles)
    except NSTError as error:
        st.error(str(error))
        return None
    for note in notes:
        st.info(note[0].upper() + note[1:] + ".", icon=":material/info:")
    return tuple(masks)


def _covered(mask: Image.Image) -> bool:
    return _share(mask) >= EMPTY


def _share(mask: Image.Image) -> float:
    """The share of the picture a mask covers, 0 to 1."""
    return float(np.asarray(mask, float).mean() / 255)
