"""The web app: drop a photo and a painting, tune alpha and beta, watch the picture form.

    streamlit run streamlit_app.py

The page's outline only: the sidebar's settings, three columns (content photo, style
picture, result) and the teaching tabs. Each part is a view in the ``webapp`` package
that takes what it needs and returns what it made; everything a person made lives in the
session's record (``webapp.state``), so a rerun never loses it. The VGG19 network is
loaded once per server process and shared, read-only, by every session
(``webapp.resources``).
"""

from __future__ import annotations

import streamlit as st

from webapp.gallery import gallery_ui
from webapp.grid import grid_ui
from webapp.inputs import content_ui, style_ui
from webapp.inside import inside_ui
from webapp.instant import instant_ui
from webapp.layers import layers_ui
from webapp.printsize import print_size_ui
from webapp.race import race_ui
from webapp.regions import regions_ui
from webapp.sidebar import settings_ui
from webapp.state import session
from webapp.stylize import stylize_panel
from webapp.versus import versus_ui
from webapp.video import video_ui

TABS = ["One pass vs optimisation", "Optimiser race", "α/β grid", "What each layer sees", "Inside the network",
        "Gallery", "Video"]  # fmt: skip


def main() -> None:
    st.set_page_config(page_title="Neural style transfer", page_icon="🎨", layout="wide")
    record = session()
    st.title("Neural style transfer")
    st.caption(
        "A trained network paints the photo in one pass at once (Ghiasi et al. 2017); Stylize optimises a picture "
        "until its VGG19 features match the photo and its feature correlations (Gram matrices) match the painting "
        "(Gatys, Ecker and Bethge 2015). Tune α and β while it runs."
    )
    settings = settings_ui()
    content_column, style_column, result_column = st.columns([1, 1, 1.6], gap="medium")
    regions_area = st.container()  # below the three columns, but read before the run starts
    with content_column:
        content = content_ui()
    with style_column:
        style, blend = style_ui()
    if settings is not None and blend is not None:
        settings = settings.replace(style_blend=blend)
    with regions_area:
        regions = regions_ui(content, style)
    with result_column:
        one_pass = st.container()  # above the result, but painted after its buttons are drawn
        result = stylize_panel(settings, content, style, regions)
        print_size_ui(result)
    with one_pass:
        instant_ui(settings, content, style)
    versus_tab, race_tab, grid_tab, layers_tab, inside_tab, gallery_tab, video_tab = st.tabs(TABS)
    with versus_tab:
        versus_ui(settings, content, style, result)
    with race_tab:
        race_ui(settings, content, style)
    with grid_tab:
        grid_ui(settings, content, style)
    with layers_tab:
        layers_ui(settings, content, style)
    with inside_tab:
        inside_ui(settings, content, style, result)
    with gallery_tab:
        gallery_ui(record.gallery, content)
    with video_tab:
        video_ui(settings, style)


if __name__ == "__main__":
    main()
