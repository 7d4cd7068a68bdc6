"""The one-pass picture, shown as soon as a photo and a painting are there (:mod:`nst.instant`).

A feed-forward network (Ghiasi et al. 2017) paints the photo in about a third of a second on
a laptop CPU, so it is painted again at every change of the style strength, the output size,
the colour choice or the blend, with no button. It runs in the session's own thread, outside
the device's queue of optimisation runs: a few tenths of a second do not need a turn. The
pictures are kept per inputs and settings (``st.cache_data``), so a rerun for anything else
draws the same picture at once.
"""

from __future__ import annotations

import time

import streamlit as st
from PIL import Image

from nst import NSTError, Settings
from nst.instant import painted
from webapp.display import DISPLAY_SIDE, fit
from webapp.resources import shared_instant_model
from webapp.state import Picture

CAPTION = (
    "One pass of a feed-forward network (Ghiasi et al. 2017) in {seconds:.2f} s at {width}x{height}, "
    "style strength {strength:g}. It has learned to guess what the optimisation would paint; "
    "Stylize optimises a picture against VGG19 itself (start from this one with Start from: the one-pass picture)."
)


@st.cache_data(show_spinner=False, max_entries=24)
def _paint(key: tuple[object, ...], _content: Image.Image, _styles: list[Image.Image], _settings: Settings
           ) -> tuple[Image.Image, float] | str:  # fmt: skip
    """The picture and the seconds it took, or why it could not be made; ``key`` names the inputs."""
    model = shared_instant_model(_settings.device)
    if isinstance(model, str):
        return model
    started = time.perf_counter()
    try:
        picture = painted(model, _content, _styles if len(_styles) > 1 else _styles[0], _settings)
    except NSTError as error:
        return str(error)
    return picture, time.perf_counter() - started


def instant_ui(settings: Settings | None, content: Picture | None, style: Picture | None) -> None:
    """The one-pass picture of the photo in the painting's style, with the settings it uses."""
    if settings is None or content is None or style is None:
        return
    styles = [style.image, *style.blended]
    inputs = (content.digest, style.digest)  # a blend's digest covers all its pictures
    key = (inputs, settings.output_size, settings.style_strength, settings.preserve_colour, settings.style_blend,
           settings.device)  # fmt: skip
    made = _paint(key, content.image, styles, settings)
    if isinstance(made, str):
        st.warning(f"The one-pass picture cannot be made: {made}", icon=":material/bolt:")
        return
    picture, seconds = made
    caption = CAPTION.format(seconds=seconds, width=picture.width, height=picture.height,
                             strength=settings.style_strength)  # fmt: skip
    st.image(fit(picture, DISPLAY_SIDE), caption=caption)
