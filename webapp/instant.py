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
from nst.instant import learned_styles, painted, painted_learned
from nst.settings import INSTANT_STEPS
from webapp.display import DISPLAY_SIDE, fit
from webapp.resources import shared_instant_model
from webapp.sidebar import write_settings
from webapp.state import Picture, session

REFINE_HELP = (
    f"Sets Start from: the one-pass picture and Steps: {INSTANT_STEPS}, then stylizes: the optimisation corrects "
    "the picture at half size and keeps its strokes."
)
SHEET_SIDE, SHEET_COLUMNS = 256, 7  # the contact sheet's pictures: small, 26 of them in a few seconds
LEARNED_SIDE = 512  # a learned style chosen as the style picture: the photo painted at this size

CAPTION = (
    "One pass of a feed-forward network (Ghiasi et al. 2017) in {seconds:.2f} s at {width}x{height}, "
    "style strength {strength:g}. It has learned to guess what the optimisation would paint; "
    "Stylize optimises a picture against VGG19 itself, from this one when Start from says so."
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


def instant_picture(settings: Settings, content: Picture, style: Picture) -> tuple[Image.Image, float] | str:
    """The one-pass picture for these inputs and settings (made once, then kept), and the seconds it
    took; or why it cannot be made."""
    inputs = (content.digest, style.digest)  # a blend's digest covers all its pictures
    key = (inputs, settings.output_size, settings.style_strength, settings.preserve_colour, settings.style_blend,
           settings.device)  # fmt: skip
    return _paint(key, content.image, [style.image, *style.blended], settings)


def instant_ui(settings: Settings | None, content: Picture | None, style: Picture | None) -> None:
    """The one-pass picture of the photo in the painting's style, with the settings it uses."""
    if settings is None or content is None or style is None:
        return
    made = instant_picture(settings, content, style)
    if isinstance(made, str):
        st.warning(f"The one-pass picture cannot be made: {made}", icon=":material/bolt:")
        return
    picture, seconds = made
    caption = CAPTION.format(seconds=seconds, width=picture.width, height=picture.height,
                             strength=settings.style_strength)  # fmt: skip
    st.image(fit(picture, DISPLAY_SIDE), caption=caption)
    if settings.init != "instant":  # else Stylize does just that
        st.button(f"Refine it: {INSTANT_STEPS} steps from this picture", key="instant_refine", icon=":material/brush:",
                  on_click=_refine, args=(settings,), help=REFINE_HELP)  # fmt: skip


def learned_sheet_ui(settings: Settings, content: Picture) -> None:
    """The photo in each of the 26 styles Dumoulin et al.'s network learned; "Use" makes one the style picture."""
    record = session()
    with st.expander("26 learned styles: your photo in each, in a few seconds", expanded=True):
        if st.button("Paint the photo in all 26", key="learned_sheet_paint", icon=":material/grid_view:"):
            try:
                record.learned_sheet = content.digest, learned_styles(content.image, settings.replace(
                    output_size=SHEET_SIDE, style_strength=1.0))  # fmt: skip
            except NSTError as error:
                st.warning(f"The learned styles cannot be painted: {error}")
                return
        if record.learned_sheet is None or record.learned_sheet[0] != content.digest:
            st.caption("A second network of the same family learned 26 paintings by heart (Dumoulin et al. 2017); "
                       "it paints one, or a blend, with no style picture at all.")  # fmt: skip
            return
        columns = st.columns(SHEET_COLUMNS)
        for index, picture in enumerate(record.learned_sheet[1]):
            column = columns[index % SHEET_COLUMNS]
            column.image(picture, caption=f"style {index}", width="stretch")
            column.button("Use", key=f"learned_use_{index}", on_click=_use_learned, args=(index, content, settings),
                          help=f"Make the photo in learned style {index} the style picture")  # fmt: skip


def _refine(settings: Settings) -> None:
    """Stylize from the one-pass picture with the steps that suit it (the sidebar shows both)."""
    write_settings(settings.replace(init="instant", iterations=INSTANT_STEPS), ("init", "iterations"))
    session().pending = "start"


def _use_learned(index: int, content: Picture, settings: Settings) -> None:
    picture = painted_learned(content.image, index, settings.replace(output_size=LEARNED_SIDE, style_strength=1.0))
    credit = f"learned style {index} (Dumoulin et al. 2017), painted on your photo"
    session().learned_style = Picture.of(f"learned style {index}", picture, credit)
