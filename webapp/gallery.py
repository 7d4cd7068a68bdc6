"""The gallery: every finished picture of this session, a download each, and a before/after view."""

from __future__ import annotations

import functools

import streamlit as st

from webapp.display import DISPLAY_SIDE, file_name, fit, number, png, settings_table
from webapp.state import GalleryEntry, Picture, Result, session

GALLERY_SIZE = 12  # finished pictures kept per session


def remember(result: Result) -> None:
    """Put a finished (or stopped, or diverged) result in the session's gallery, once."""
    gallery = session().gallery
    if result.step == 0 or any(entry.image is result.image for entry in gallery):
        return
    words = {"done": "", "stopped": ", stopped", "diverged": ", diverged"}.get(result.status, "")
    words += f", {len(result.regions)} regions" if result.regions else ""
    title = (
        f"{len(gallery) + 1}. {result.content.name} × {result.style.name}: "
        f"α {number(result.settings.content_weight)}, β {number(result.settings.style_weight)}, "
        f"{result.step} steps{words}"
    )
    gallery.append(GalleryEntry(title, result.image, result.settings, file_name(result)))
    del gallery[:-GALLERY_SIZE]


def gallery_ui(gallery: list[GalleryEntry], content: Picture | None) -> None:
    """Every finished picture of this session, with a download each, and a before/after view."""
    if not gallery:
        st.caption("Finished pictures collect here, with their settings, for this browser session.")
        return
    for row in range(0, len(gallery), 4):
        for column, (index, entry) in zip(st.columns(4), enumerate(gallery[row : row + 4], start=row), strict=False):
            with column:
                st.image(fit(entry.image, 320), caption=entry.title, width="stretch")
                st.download_button(
                    "PNG",
                    functools.partial(png, entry.image),
                    file_name=entry.file_name,
                    mime="image/png",
                    icon=":material/download:",
                    on_click="ignore",
                    key=f"gallery_download_{index}",
                )
                with st.popover("Settings"):
                    st.dataframe(settings_table(entry.settings), hide_index=True)
    st.subheader("Before and after")
    choices = {"the content photo": content.image if content is not None else None}
    choices.update({entry.title: entry.image for entry in gallery})
    names = list(choices)
    left, right = st.columns(2)
    before = left.selectbox("Before", names, index=0, key="compare_before")
    # the key follows the gallery's length, so "after" moves to each new picture
    after = right.selectbox("After", names, index=len(names) - 1, key=f"compare_after_{len(names)}")
    for column, name in ((left, before), (right, after)):
        picture = choices[name]
        if picture is not None:
            column.image(fit(picture, DISPLAY_SIDE), caption=name, width="stretch")
