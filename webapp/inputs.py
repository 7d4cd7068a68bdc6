"""The pictures a run uses: upload boxes and example pickers, blended styles, a start picture.

Uploads are decoded once per file, in memory (never written to disk), and kept in the
session at most ``LIMITS.max_kept_side`` px (no output is larger); only the latest
picture per role is kept, so a session's memory stays bounded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import streamlit as st
from PIL import Image
from streamlit.runtime.uploaded_file_manager import UploadedFile

from nst import NSTError, examples, load_image
from nst.images import resize_longest
from webapp.display import THUMBNAIL_SIDE, UPLOAD_TYPES, fit
from webapp.resources import LIMITS, example_photo, example_style
from webapp.state import Picture, session


def content_ui() -> Picture | None:
    """The content photo: an upload box, the camera (a class demo starts with the class) or an example."""
    return picture_ui("content", "1 · Content photo", list(examples.PHOTOS), example_photo, camera=True)


def style_ui() -> tuple[Picture | None, tuple[float, ...] | None]:
    """The style picture (an upload box, a learned style chosen on the contact sheet, or an example) and,
    below it, more styles to blend in."""
    style, blend = blend_ui(picture_ui("style", "2 · Style picture", list(examples.STYLES), example_style))
    return coarse_ui(style), blend


NO_COARSE = "the painting's own"


def coarse_ui(style: Picture | None) -> Picture | None:
    """Scale per style (``nst.scale_mix``): another painting whose large shapes the style takes, keeping its
    own fine strokes; an example or uploads (one for every style picture, or one each). Returns the style
    carrying them (its digest covering them), or as it was."""
    with st.expander("Large shapes from another painting"):
        st.caption(
            "Paint with this painting's brush strokes, but the large shapes and swirls of another (Gatys et al. "
            "2017, scale control). The other painting is first repainted with this one's strokes, which takes "
            "about as long as 15-20 steps of a run, once per pair of pictures and size."
        )
        chosen = st.selectbox("Large shapes from", [NO_COARSE, *examples.STYLES], key="coarse_example")
        uploads = st.file_uploader(
            "…or upload it (with blended styles: one for all, or one each in their order)", type=UPLOAD_TYPES,
            accept_multiple_files=True, key="coarse_uploads",
        )  # fmt: skip
        if style is None:
            return None
        pictures = _coarse_pictures(uploads, chosen)
        if not pictures:
            return style
        count = 1 + len(style.blended)
        if len(pictures) not in (1, count):
            st.error(f"Give one picture for the large shapes, or one per style picture: {len(pictures)} for {count}.")
            return style
        st.image([fit(p.image, 96) for p in pictures], width=96)
        digest = "+".join([style.digest, "coarse", *(p.digest for p in pictures)])
        name = f"{style.name} with the large shapes of {' + '.join(p.name for p in pictures)}"
        return dataclasses.replace(style, name=name, digest=digest, coarse=tuple(p.image for p in pictures))


def _coarse_pictures(uploads: list[UploadedFile] | None, chosen: str) -> list[Picture]:
    if not uploads:
        return [] if chosen == NO_COARSE else [example_picture("style", chosen, example_style)]
    pictures = []
    for index, upload in enumerate(uploads, start=1):
        try:
            pictures.append(decoded_upload(f"coarse{index}", upload))
        except NSTError as error:
            st.error(str(error))
    return pictures


def picture_ui(
    role: str, title: str, choices: list[str], load_example: Callable[[str], Image.Image], *, camera: bool = False
) -> Picture | None:
    """An upload box (drag and drop), the camera (``camera``), an example picker, and a thumbnail of the
    choice. A photo taken comes first, then an upload, then (for the style) a learned style chosen on
    the contact sheet, then the example."""
    st.subheader(title)
    upload = st.file_uploader(
        f"Drop your own {role} picture here, or browse",
        type=UPLOAD_TYPES,
        key=f"{role}_upload",
        help="PNG, JPEG, WebP, BMP, GIF (first frame) or TIFF",
    )
    if camera and st.toggle("Take it with the camera", key=f"{role}_camera", help="The browser asks to use the camera"):
        shot = st.camera_input("Take a photo", key=f"{role}_camera_shot")
        upload = shot if shot is not None else upload
    learned = session().learned_style if role == "style" and upload is None else None
    example = st.selectbox(f"…or use an example {role}", choices, key=f"{role}_example",
                           disabled=upload is not None or learned is not None)  # fmt: skip
    if upload is not None:
        try:
            picture = decoded_upload(role, upload)
        except NSTError as error:
            st.error(str(error))
            return None
    elif learned is not None:
        picture = learned
        st.button("Back to the examples", key="learned_style_clear", on_click=_forget_learned_style)
    else:
        picture = example_picture(role, example, load_example)
    st.image(fit(picture.image, THUMBNAIL_SIDE), caption=picture.credit or picture.name, width="stretch")
    return picture


def _forget_learned_style() -> None:
    session().learned_style = None


def blend_ui(style: Picture | None) -> tuple[Picture | None, tuple[float, ...] | None]:
    """More style pictures to blend with the first, one weight slider each.

    Returns the style (carrying the blended pictures, its digest covering all of them) and
    the blend weights, or ``(style, None)`` when only one picture is used. The weights are
    per upload and are not carried in the page's URL (the pictures are not either).
    """
    with st.expander("Blend more styles"):
        uploads = st.file_uploader(
            "Drop more style pictures here", type=UPLOAD_TYPES, accept_multiple_files=True, key="blend_uploads"
        )
        if style is None or not uploads:
            st.caption("Each picture added here gets a weight; the styles mix in those proportions.")
            return style, None
        weights = [st.slider(f"Weight of {style.name}", 0.0, 1.0, 1.0, 0.05, key="blend_weight_0")]
        pictures = []
        for index, upload in enumerate(uploads, start=1):
            try:
                picture = decoded_upload(f"blend{index}", upload)
            except NSTError as error:
                st.error(str(error))
                continue
            pictures.append(picture)
            st.image(fit(picture.image, 96), width=96)
            weights.append(st.slider(f"Weight of {upload.name}", 0.0, 1.0, 1.0, 0.05, key=f"blend_weight_{index}"))
        if not pictures or sum(weights) <= 0:
            return style, None
        digest = "+".join([style.digest, *(p.digest for p in pictures)])
        name = f"{style.name} + {len(pictures)} more"
        blended = Picture(name, style.image, style.credit, digest, tuple(p.image for p in pictures))
        return blended, tuple(weights[: len(pictures) + 1])


def start_picture_ui(bar: Any) -> bool:
    """The upload box for a picture of one's own to start from; True once there is one."""
    record = session()
    record.start_picture = None
    upload = bar.file_uploader("Starting picture", type=UPLOAD_TYPES, key="start_upload")
    if upload is None:
        bar.info("Drop the picture to start from here.")
        return False
    try:
        record.start_picture = decoded_upload("start", upload)
    except NSTError as error:
        bar.error(str(error))
        return False
    return True


def decoded_upload(role: str, upload: UploadedFile) -> Picture:
    """Decode an upload once per file, keep it (bounded) in the session, and return it."""
    decoded = session().decoded_uploads
    key = (role, upload.file_id)
    if key not in decoded:
        image = load_image(upload.getvalue(), name=upload.name)
        if max(image.size) > LIMITS.max_kept_side:
            image = resize_longest(image, LIMITS.max_kept_side)
        for old in [k for k in decoded if k[0] == role]:
            del decoded[old]
        decoded[key] = Picture.of(upload.name, image, "your upload")
    return decoded[key]


def example_picture(role: str, name: str, load_example: Callable[[str], Image.Image]) -> Picture:
    """An example as a Picture, its digest computed once per session."""
    made = session().example_pictures
    if (role, name) not in made:
        credit = examples.PHOTOS[name][1] if role == "content" else f"{name}: {examples.STYLES[name][1]}"
        made[(role, name)] = Picture.of(name, load_example(name), credit)
    return made[(role, name)]
