"""Inside the network: a layer's feature maps for the photo, the painting and the result, and their Gram matrices."""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from nst import VGG19_LAYERS, FeatureExtractor, Settings
from nst.insight import feature_map_pictures, features_at, gram, heatmap, strongest_channels
from webapp.state import InsideView, Picture, Result, session
from webapp.turns import model_turn

INSIDE_SIZE, INSIDE_CHANNELS, GRAM_CHANNELS = 256, 4, 64


def inside_ui(
    settings: Settings | None, content: Picture | None, style: Picture | None, result: Result | None
) -> InsideView | None:
    """The layer picker and, once asked, the view (kept in the session)."""
    record = session()
    st.caption(
        "Feature maps: where a filter of the layer responds (white = strongly). Gram matrices: which filters "
        "respond together, over the whole picture; the style loss compares only these. Red in the difference: "
        "the result has too much of a pair, blue: too little."
    )
    left, right = st.columns([1, 3])
    layer = left.selectbox("Layer", VGG19_LAYERS, index=VGG19_LAYERS.index("relu3_1"), key="inside_layer")
    ready = settings is not None and content is not None and style is not None
    start = left.button("Look inside", key="inside_start", icon=":material/visibility:", disabled=not ready)
    if start and settings is not None and content is not None and style is not None:
        status = right.empty()
        with model_turn(status, settings) as turn:  # a forward pass uses the device too: it takes its turn
            if turn is not None:
                current = result.image if result is not None else content.image
                record.inside = look_inside(turn.extractor, layer, content.image, style.image, current)
                status.empty()
    view = record.inside
    if view is None:
        return None
    st.markdown(f"**{view.layer}**: the {INSIDE_CHANNELS} channels that respond most to the style picture")
    for name, pictures in view.maps.items():
        columns = st.columns(INSIDE_CHANNELS + 1)
        columns[0].markdown(name)
        for column, (channel, picture) in zip(columns[1:], pictures, strict=True):
            column.image(picture, caption=f"channel {channel}", width="stretch")
    st.markdown(f"**Gram matrices** of the {GRAM_CHANNELS} channels that respond most to the style picture")
    for column, (name, picture) in zip(st.columns(3), view.grams.items(), strict=True):
        column.image(picture, caption=name, width="stretch")
    return view


def look_inside(
    extractor: FeatureExtractor, layer: str, photo: Image.Image, painting: Image.Image, current: Image.Image
) -> InsideView:
    """Feature maps of the strongest channels and the Gram matrices, for one layer."""
    features = {
        name: features_at(extractor, picture, layer, INSIDE_SIZE)
        for name, picture in (("style", painting), ("photo", photo), ("result", current))
    }
    channels = strongest_channels(features["style"], GRAM_CHANNELS)
    shown = channels[:INSIDE_CHANNELS]
    maps = {name: list(zip(shown, feature_map_pictures(f, shown), strict=True)) for name, f in features.items()}
    grams = {name: gram(features[name])[np.ix_(channels, channels)] for name in ("style", "result")}
    limit = float(np.abs(grams["style"]).max()) or 1.0
    return InsideView(
        layer=layer,
        maps=maps,
        grams={
            "style picture": heatmap(grams["style"], limit=limit),
            "result": heatmap(grams["result"], limit=limit),
            "result − style": heatmap(grams["result"] - grams["style"], limit=limit, diverging=True),
        },
    )
