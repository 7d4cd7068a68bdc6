"""A clip painted frame by frame by the one-pass network, held steady along the optical flow.

Each frame alone is painted in a fraction of a second (:mod:`nst.instant`), but small changes
between photo frames (noise, light, motion) change the painted textures more than the scene
changed: the clip flickers. So each frame after the first is blended with the previous
painted frame carried along the flow (:mod:`nst.flow`, the same DIS flow and Ruder et al.'s
trust checks as the optimised video): where the flow is trusted, ``CARRY`` of the pixel is the
carried frame and the rest the new one-pass frame; where it is not (disoccluded, motion
boundaries), the new frame alone. That is an exponential moving average along the motion: the
painting follows the scene, and a texture changes only as fast as the new frames push it.

``settings.temporal_weight`` 0 paints every frame on its own (it flickers), as it does for the
optimised video; its size does not matter here (``CARRY`` is fixed).

The style vector is computed once for the clip (from the first frame for ``style_strength``
below 1), so the style itself never changes between frames.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Sequence

import numpy as np
from PIL import Image

from nst.flow import certainty, optical_flow, warp
from nst.images import ImageSource
from nst.instant import InstantModel, painted_with, style_vector_for
from nst.progress import Progress
from nst.settings import Settings
from nst.video import FrameStep

CARRY = 0.7  # share of a trusted pixel taken from the previous painted frame (benchmarks/instant.py)


def instant_frames(
    photos: Iterable[Image.Image],
    style: ImageSource | Sequence[ImageSource],
    settings: Settings,
    *,
    model: InstantModel,
    previous: tuple[Image.Image, Image.Image] | None = None,
    first_index: int = 1,
) -> Generator[FrameStep, None, None]:
    """Each photo frame (at the working size) painted and steadied: one :class:`FrameStep` per frame,
    its one record carrying the picture. ``previous`` is (photo, painted picture) of the frame
    before the first one given, when there is one (a later chunk, a resumed run)."""
    previous_photo, previous_result = previous if previous is not None else (None, None)
    vector = None
    for index, photo in enumerate(photos, start=first_index):
        started = time.perf_counter()
        if vector is None:
            vector = style_vector_for(model, photo, style, settings)
        picture = painted_with(model, photo, vector, settings)
        trusted = None
        if previous_photo is not None and previous_result is not None and settings.temporal_weight > 0:
            picture, trusted = steadied(picture, photo, previous_photo, previous_result)
        record = Progress(step=1, total=1, losses={}, loss=0.0, elapsed=time.perf_counter() - started, eta=0.0,
                          size=picture.size, image=picture)  # fmt: skip
        yield FrameStep(index, record, trusted, trusted is not None)
        previous_photo, previous_result = photo, picture


def steadied(
    picture: Image.Image, photo: Image.Image, previous_photo: Image.Image, previous_result: Image.Image
) -> tuple[Image.Image, float]:
    """The new painted frame blended with the previous one carried along the flow where it is trusted;
    and the share of pixels where it is."""
    backward = optical_flow(photo, previous_photo)  # this frame -> the previous one
    forward = optical_flow(previous_photo, photo)
    trust = certainty(backward, forward)
    if previous_result.size != picture.size:
        previous_result = previous_result.resize(picture.size, Image.Resampling.LANCZOS)
    carried = np.asarray(warp(previous_result, backward), dtype=np.float32)
    keep = (CARRY * trust)[..., None]
    blended = keep * carried + (1 - keep) * np.asarray(picture, dtype=np.float32)
    return Image.fromarray(blended.round().clip(0, 255).astype(np.uint8)), float(trust.mean())
