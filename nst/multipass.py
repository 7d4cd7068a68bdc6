"""Ruder, Dosovitskiy and Brox's multi-pass algorithm: one pass over a run of a clip's frames.

A clip is made in ``settings.passes`` passes (:mod:`nst.passes` runs them through an executor).
The first pass stylises every frame on its own, like a picture (``settings.iterations`` steps,
``settings.init``), so its frames can be made at once on as many workers as there are. Each
later pass goes over the whole clip in the opposite direction to the one before; a frame
starts from its own picture of the pass before blended with its neighbour's picture of this
pass (the frame before it in this pass's direction) carried along the optical flow, where
that flow is trusted, and is kept close to the carried neighbour by the temporal term for
``settings.frame_iterations`` steps. So one texture spreads along the clip, both ways.

As the reference (manuelruder/artistic-videos, ``artistic_video_multiPass.lua``): the blend is
``(own + w * c * neighbour) / (1 + w * c)`` with ``c`` the neighbour's trust mask and ``w`` its
``blendWeight`` (0, its ``blendWeight_lastPass``, for the neighbour on the other side), and the
temporal term keeps only that one neighbour (no long-term terms). Departs: ``w`` is 3
(:data:`BLEND_WEIGHT`), not the reference's default 1: with 3 passes, 1 left each frame a
quarter of its own texture more and flickered 1.46x as much (``benchmarks/multipass.py``,
docs/performance.md); the reference turns the temporal term on from its 8th pass of 15 (100
steps each), here every pass after the first has it, as a run has few passes.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from nst.errors import SettingsError
from nst.features import FeatureExtractor
from nst.flow import certainty, optical_flow, warp
from nst.settings import Settings
from nst.targets import TargetCache, Temporal
from nst.video import FrameStart, FrameStep, frame_run, sized

# The reference's blendWeight (its default 1): the carried neighbour's weight against the frame's own picture.
BLEND_WEIGHT = 3.0


@dataclass(frozen=True)
class Sweep:
    """A run of frames in one pass, in the order the pass takes them."""

    number: int  # the pass, from 1 (every frame on its own)
    indices: tuple[int, ...]  # 1-based frame numbers, in this pass's order
    photos: tuple[Image.Image, ...]  # the photo frames at the working size, in the same order
    earlier: tuple[Image.Image, ...] = ()  # each frame's picture from the pass before (none in pass 1)
    neighbour: tuple[Image.Image, Image.Image] | None = None  # (photo, picture) of the frame before the first

    def __post_init__(self) -> None:
        if len(self.photos) != len(self.indices) or (self.number > 1 and len(self.earlier) != len(self.indices)):
            raise SettingsError("a pass over frames needs a photo, and after the first pass a picture, for each")


def sweep(
    run: Sweep,
    style: Image.Image | list[Image.Image],
    settings: Settings,
    *,
    extractor: FeatureExtractor,
    cache: TargetCache,
    preview_seconds: float | None = None,
    preview_size: int | None = None,
    colour_reference: Image.Image | None = None,
) -> Generator[FrameStep, None, None]:
    """Every step of every frame of ``run``; each frame's last step carries its picture of this pass."""
    neighbour = run.neighbour
    for k, (index, photo) in enumerate(zip(run.indices, run.photos, strict=True)):
        start = FrameStart(settings)  # the first pass: each frame on its own
        if run.number > 1:
            init, temporal, trusted = blended(photo, run.earlier[k], neighbour)
            start = FrameStart(settings.replace(iterations=settings.frame_iterations, scales=1, init="image"), init,
                               temporal if settings.temporal_weight > 0 else None, trusted)  # fmt: skip
        result = yield from frame_run(index, photo, style, start, extractor=extractor, cache=cache,
                                      preview_seconds=preview_seconds, preview_size=preview_size,
                                      colour_reference=colour_reference, sweep=run.number)  # fmt: skip
        neighbour = (photo, result)


def blended(
    photo: Image.Image, own: Image.Image, neighbour: tuple[Image.Image, Image.Image] | None
) -> tuple[Image.Image, Temporal | None, float | None]:
    """A later pass's start for a frame: its own earlier picture blended with the neighbour's picture
    carried onto it, ``(own + w * c * carried) / (1 + w * c)`` (``w``: :data:`BLEND_WEIGHT`); the
    temporal target (the carried neighbour and its trust mask ``c``); the share of pixels trusted.
    The clip's end frame of a pass has no neighbour."""
    own = sized(own, photo.size)
    if neighbour is None:
        return own, None, None
    neighbour_photo, neighbour_picture = neighbour
    backward = optical_flow(photo, neighbour_photo)  # this frame -> the neighbour
    moved = warp(sized(neighbour_picture, photo.size), backward)
    trust = certainty(backward, optical_flow(neighbour_photo, photo))
    share = BLEND_WEIGHT * trust
    mixed = (np.asarray(own, dtype=np.float32) + share[..., None] * np.asarray(moved, dtype=np.float32)) / (
        1.0 + share[..., None]
    )
    start = Image.fromarray(np.clip(mixed, 0, 255).round().astype(np.uint8))
    return start, Temporal(moved, Image.fromarray(trust, mode="F")), float(trust.mean())
