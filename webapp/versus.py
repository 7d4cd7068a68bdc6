"""The teaching view: one pass of a trained network against the optimisation, side by side, timed and judged;
and the photo in the 26 styles a network learned (the contact sheet)."""

from __future__ import annotations

import streamlit as st
from PIL import Image

from nst import FeatureExtractor, Settings, evaluate
from webapp.display import DISPLAY_SIDE, fit
from webapp.instant import instant_picture, learned_sheet_ui
from webapp.sidebar import INIT_LABELS
from webapp.state import Picture, Result, session
from webapp.turns import model_turn

EXPLANATION = """
**Why can a network paint in a third of a second what the optimiser takes a minute for?** The
optimisation starts from nothing each time: it changes the pixels step by step until VGG19 sees the
photo's layout and the painting's textures, a full pass forwards and backwards through VGG19 per
step. The one-pass network (Ghiasi et al. 2017) did all that work beforehand: it was trained on
about 80,000 paintings and a large set of photos to *guess* the optimiser's answer directly. A
small network (MobileNetV2) reads the painting into 100 numbers, and a second one paints the photo
with them in a single forward pass.

**What it gives up:** it can only paint what its training taught it. It knows nothing of α and β,
of which VGG19 layers to match, of regions or of the style's scale; a painting far from what it saw
comes out as a guess, and its pictures only roughly minimise the errors measured below. The
optimisation minimises exactly those errors for *this* photo and *this* painting, so given time it
matches them better; starting it from the network's picture (Start from: the one-pass picture) gets
there in a few steps.
"""
JUDGE_HALF = 2  # the style is judged at the output size and at half of it, as benchmarks/time_to_quality.py


def versus_ui(settings: Settings | None, content: Picture | None, style: Picture | None, result: Result | None) -> None:
    """The two pictures with their times and, once asked, their content and style errors."""
    st.markdown(EXPLANATION)
    if settings is None or content is None or style is None:
        st.info("Choose a photo and a painting first.")
        return
    made = instant_picture(settings, content, style)
    left, right = st.columns(2)
    pictures: dict[str, Image.Image] = {"the photo itself": content.image}
    if isinstance(made, str):
        left.warning(made)
    else:
        pictures["one pass"] = made[0]
        left.image(fit(made[0], DISPLAY_SIDE), caption=f"One pass: {made[1]:.2f} s", width="stretch")
    if result is not None and result.content.same_as(content) and result.style.same_as(style):
        pictures["optimisation"] = result.image
        started = INIT_LABELS[result.settings.init]
        right.image(fit(result.image, DISPLAY_SIDE), width="stretch",
                    caption=f"Optimisation from {started}: {result.step} steps in {result.seconds:.0f} s")  # fmt: skip
    else:
        right.info("Press Stylize to optimise a picture of the same photo and painting.")
    record = session()
    if st.button("Judge them with VGG19", key="versus_judge", icon=":material/balance:"):
        status = st.empty()
        with model_turn(status, settings) as turn:  # a forward pass uses the device too: it takes its turn
            if turn is not None:
                record.versus = {name: judged(turn.extractor, picture, content, style, settings.output_size)
                                 for name, picture in pictures.items()}  # fmt: skip
                status.empty()
    if record.versus:
        rows = [{"picture": name, "content error": round(found["content"], 3), "style error": round(found["style"], 4)}
                for name, found in record.versus.items()]  # fmt: skip
        st.dataframe(rows, hide_index=True)
        st.caption(
            "Lower is closer. Content error: how far the picture's relu4_2 features are from the photo's, at the "
            "output size. Style error: how far its Gram matrices (relu1_1 to relu5_1) are from the painting's, "
            "averaged over the output size and half of it. Both are the optimisation's own measures, so they "
            "favour it; judge the pictures by eye as well."
        )
    learned_sheet_ui(settings, content)


def judged(extractor: FeatureExtractor, picture: Image.Image, content: Picture, style: Picture, size: int
           ) -> dict[str, float]:  # fmt: skip
    """Content error at ``size``; style error averaged over ``size`` and half of it (Gatys' layers, equal weights)."""
    full = evaluate(picture, content.image, style.image, Settings(output_size=size), extractor=extractor)
    half = evaluate(picture, content.image, style.image, Settings(output_size=max(64, size // JUDGE_HALF)),
                    extractor=extractor)  # fmt: skip
    return {"content": full["content"], "style": (full["style"] + half["style"]) / 2}
