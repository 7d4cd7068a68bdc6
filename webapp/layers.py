"""Gatys et al.'s Figure 1: content reconstructions from single layers, style from growing sets."""

from __future__ import annotations

import streamlit as st
from PIL import Image

from nst import Settings
from nst.reconstruct import what_each_layer_sees
from webapp.display import fit
from webapp.state import Picture, session
from webapp.turns import figure_controls, small_runs_ui


def layers_ui(settings: Settings | None, content: Picture | None, style: Picture | None) -> dict[str, Image.Image]:
    """The view's controls, its ten small runs when started, and their pictures by label."""
    record = session()
    st.caption(
        "Start from white noise and match only one layer of the photo (top row) or the painting's Gram "
        "matrices on more and more layers (bottom row). Low layers keep the pixels; high layers keep the "
        "arrangement of things. The style rows never show the painting's layout: only its textures."
    )
    ready = settings is not None and content is not None and style is not None
    asked = figure_controls("layers", [96, 128, 192, 256], 128, (200, 60, 10), "picture", "Show what each layer sees",
                            ":material/layers:", ready)  # fmt: skip
    grid = st.container()
    if asked.start and settings is not None and content is not None and style is not None:
        record.layer_views = {}
        views = small_runs_ui(
            asked.status,
            settings,
            asked.steps,
            lambda executor, parallel: what_each_layer_sees(executor, content.image, style.image, settings,
                                                            size=asked.size, steps=asked.steps, parallel=parallel,
                                                            owner=record.tag),
        )  # fmt: skip
        for view in views:
            if view.image is not None:
                record.layer_views[view.label] = view.image
    pictures = record.layer_views
    if pictures:
        labels = list(pictures)
        for row in (labels[:5], labels[5:]):
            for column, label in zip(grid.columns(5), row, strict=False):
                column.image(fit(pictures[label], 320), caption=label, width="stretch")
    return pictures
