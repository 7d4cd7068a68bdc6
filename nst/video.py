"""Stylising a video clip without flicker: Ruder, Dosovitskiy and Brox (2016) on :func:`transfer`.

Each frame is one run of the single-picture loop (:func:`nst.engine.transfer`). The first
frame is stylised like a picture (``settings.iterations``, coarse to fine). Every later frame
starts from the previous *stylised* frame carried along the optical flow of the photo frames
(:mod:`nst.flow`), and adds a temporal term (:class:`nst.terms.TemporalTerm`, weighted by
``settings.temporal_weight``) that keeps it close to that carried frame wherever the flow
can be trusted, for ``settings.frame_iterations`` steps at the output size. Disoccluded
pixels and motion boundaries, where the flow cannot be trusted, are free to take the style
anew. With ``temporal_weight=0`` every frame is stylised on its own, like the first: the
textures then jump from frame to frame (the flicker this module exists to remove).

The style targets are computed once for the whole clip (the runs share a
:class:`~nst.targets.TargetCache`), frames are decoded one at a time (:mod:`nst.videoio`),
and each finished frame is written at once, so a stopped run leaves a playable clip of the
frames done.

Each frame is kept close to several earlier stylised frames (``settings.temporal_frames``,
by default 1, 2, 4 and 8 back), each counted only where no closer one is trusted: Ruder et
al.'s long-term consistency, so background that a passing object hid comes back as it was
painted (:func:`carried`). Their multi-pass algorithm, which paints every frame on its own
and then sweeps the clip forwards and backwards, is :mod:`nst.multipass` (``settings.passes``).
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
from PIL import Image

from nst.engine import extractor_for, transfer
from nst.errors import SettingsError, VideoError
from nst.features import FeatureExtractor
from nst.flow import certainty, optical_flow, warp
from nst.images import ImageSource, load_image, scaled_size
from nst.limits import Limits
from nst.progress import Progress
from nst.settings import Settings
from nst.targets import TargetCache, Temporal
from nst.videoio import Clip, ClipWriter, probe, read_frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoProgress:
    """One optimisation step of one frame of a clip."""

    frame: int  # 1-based index of the frame being stylised
    frames: int  # frames the run makes
    step: Progress  # the step within this frame (its own steps, losses, preview)
    elapsed: float  # seconds since the run started
    eta: float  # seconds left for the whole clip, from the pace so far
    written: int  # frames finished and written so far (this one too, on its last step)
    certain: float | None = None  # share of this frame's pixels where the flow is trusted (None: first frame)
    sweep: int = 1  # the pass over the clip this step belongs to (nst.multipass), from 1
    sweeps: int = 1  # passes the run makes (1: frame by frame, each following the last)

    @property
    def frame_done(self) -> bool:
        return self.step.done

    @property
    def image(self) -> Image.Image | None:
        """The current frame's picture when a preview is due (always on its last step)."""
        return self.step.image


def frame_size(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """The working size of a clip's frames: ``longest`` px on the long side, even sides (H.264, VP9).

    Examples:
        >>> frame_size((1920, 1080), 512)
        (512, 288)
        >>> frame_size((641, 479), 256)
        (256, 190)
    """
    width, height = scaled_size(size, longest)
    return max(2, width - width % 2), max(2, height - height % 2)


def check_clip(clip: Clip, limits: Limits, max_frames: int | None = None, *, app: bool = False) -> int:
    """The number of frames a run makes of ``clip``; refuses a clip over the limits.

    ``max_frames`` stylises only the first frames (the limits then apply to those).

    Raises:
        VideoError: the part of the clip to stylise is longer than the limit, or its frames
            are larger than the limit.
    """
    if clip.megapixels > limits.max_video_megapixels:
        raise VideoError(
            f"{clip.path.name} has frames of {clip.size[0]}x{clip.size[1]} px; this server reads video frames up "
            f"to {limits.max_video_megapixels:g} megapixels"
        )
    frames = clip.frames if max_frames is None else min(clip.frames, max_frames)
    seconds = frames / float(clip.fps)
    longest = limits.max_video_seconds if app else limits.max_video_seconds_cli
    if seconds > longest + 0.5 / float(clip.fps):
        hint = "cut it shorter" if app else "cut it shorter or stylise its start with --max-frames"
        raise VideoError(f"{clip.path.name} runs {seconds:.1f} s; the limit is {longest:g} s: {hint}")
    return frames


def stylize_video(
    source: str | os.PathLike[str],
    style: ImageSource | Sequence[ImageSource],
    output: str | os.PathLike[str],
    settings: Settings | None = None,
    *,
    extractor: FeatureExtractor | None = None,
    max_frames: int | None = None,
    limits: Limits | None = None,
    app: bool = False,
    preview_seconds: float | None = None,
    preview_size: int | None = None,
    done: Sequence[Image.Image] = (),
) -> Generator[VideoProgress, None, Path | None]:
    """Stylise the clip ``source`` in the style of ``style`` into ``output``, yielding every step.

    The output's format follows its extension (:data:`nst.videoio.OUTPUTS`); it keeps the
    clip's frame rate and its audio. Stopping the generator (``close()``, Ctrl-C) finishes
    the file with the frames done so far; its ``return`` value (``StopIteration.value``) is
    the output's path, or None when no frame was finished. ``done`` goes on from an earlier,
    stopped run of the same clip and settings: its finished frames are written as they are and
    the run carries on from the frame after them.

    Raises:
        VideoError: the clip cannot be read, is over the limits, or ``output`` cannot be written.
        ImageLoadError: the style picture cannot be read.

    Examples:
        >>> for progress in stylize_video("clip.mp4", "starry.jpg", "out.mp4"):  # doctest: +SKIP
        ...     print(progress.frame, progress.frames, progress.step.step)
    """
    settings = settings or Settings()
    limits = limits or Limits.from_env()
    started = time.perf_counter()
    clip = probe(source)
    frames = check_clip(clip, limits, max_frames, app=app)
    if isinstance(style, (list, tuple)):  # several blend, as for a picture (settings.style_blend)
        style_picture: Image.Image | list[Image.Image] = [load_image(s, name="a style picture") for s in style]
    else:
        style_picture = load_image(cast(ImageSource, style), name="the style picture")
    size = frame_size(clip.size, settings.output_size)
    if extractor is None:
        extractor = extractor_for(settings)
    cache = TargetCache(max_entries=4)  # the style's Gram matrices stay; frames' content features pass through
    writer = ClipWriter(output, clip.fps, size, audio_from=clip)
    pace = _Pace(settings.frame_iterations, size[0] * size[1])
    photos = (raw.resize(size, Image.Resampling.LANCZOS) for raw in read_frames(clip))
    previous: collections.deque[tuple[Image.Image, Image.Image]] = collections.deque(
        maxlen=max(settings.temporal_frames)
    )  # (photo, stylised picture) of the frames done, as far back as the long-term terms reach
    first: Image.Image | None = None  # the clip's first frame: the style's colours (preserve_colour)
    try:
        for finished in done[:frames]:  # made by an earlier run
            photo = next(photos, None)
            if photo is None:
                break
            first = first if first is not None else photo
            writer.write(sized(finished, size))
            previous.append((photo, finished))
        if len(done) < frames:
            remaining = itertools.islice(photos, frames - len(done))
            steps = stylise_frames(remaining, style_picture, settings, extractor=extractor, cache=cache,
                                   previous=list(previous), first_index=len(done) + 1, preview_seconds=preview_seconds,
                                   preview_size=preview_size, colour_reference=first)  # fmt: skip
            try:
                frame_started = last = time.perf_counter()
                for item in steps:
                    now = time.perf_counter()
                    pace.step(item.step, now - last)
                    last = now
                    if item.step.done and item.step.image is not None:  # written before it is handed out:
                        writer.write(sized(item.step.image, size))  # a run stopped at this yield keeps it
                    eta = item.step.eta + (frames - item.index) * pace.frame(later=settings.temporal_weight > 0)
                    yield VideoProgress(item.index, frames, item.step, now - started, eta, writer.written, item.trusted)
                    if item.step.done:
                        pace.finished(item.follows, time.perf_counter() - frame_started)
                        frame_started = last = time.perf_counter()
            finally:
                steps.close()
    finally:
        path = writer.close()
    return path


@dataclass(frozen=True)
class FrameStep:
    """One step of one frame in :func:`stylise_frames`."""

    index: int  # 1-based index of the frame in the clip
    step: Progress
    trusted: float | None  # share of the pixels where the flow is trusted (None: stylised on its own)
    follows: bool  # started from the previous stylised frame (kept close to a neighbour, in a later pass)
    sweep: int = 1  # the pass over the clip (nst.multipass), from 1


def stylise_frames(
    photos: Iterable[Image.Image],
    style: Image.Image | list[Image.Image],
    settings: Settings,
    *,
    extractor: FeatureExtractor,
    cache: TargetCache,
    previous: Sequence[tuple[Image.Image, Image.Image]] = (),
    first_index: int = 1,
    preview_seconds: float | None = None,
    preview_size: int | None = None,
    colour_reference: Image.Image | None = None,
) -> Generator[FrameStep, None, None]:
    """The loop over frames (photo frames at the working size): every step of every frame.

    ``previous`` holds (photo, stylised picture) of the frames before the first one given, newest
    last, when there are any (a resumed run: as many as ``settings.temporal_frames`` reach back, so
    it goes on as an unstopped run would); otherwise the first frame is stylised like a picture.
    With ``settings.preserve_colour`` the style takes the colours of ``colour_reference``
    (the clip's first frame), by default the first frame this loop sees: once for the clip,
    so the style's statistics and targets do not change from frame to frame.
    """
    history: collections.deque[tuple[Image.Image, Image.Image]] = collections.deque(
        previous, maxlen=max(settings.temporal_frames)
    )  # (photo, stylised picture) of the frames before this one, newest last
    reference = colour_reference if colour_reference is not None else (previous[0][0] if previous else None)
    for index, photo in enumerate(photos, start=first_index):
        reference = reference if reference is not None else photo
        if not history or settings.temporal_weight <= 0:
            frame_settings, init, temporal, trusted = settings, None, None, None
        else:
            init, temporal = carried(photo, list(history), settings.temporal_frames)
            trusted = float(np.asarray(temporal.certainty, dtype=np.float32).mean())
            frame_settings = settings.replace(iterations=settings.frame_iterations, scales=1, init="image")
        result = yield from frame_run(index, photo, style, FrameStart(frame_settings, init, temporal, trusted),
                                      extractor=extractor, cache=cache, preview_seconds=preview_seconds,
                                      preview_size=preview_size, colour_reference=reference)  # fmt: skip
        history.append((photo, result))


@dataclass(frozen=True)
class FrameStart:
    """How one frame's run starts: its settings, its starting picture (None: as the settings say),
    what the temporal term keeps it close to, and the share of pixels where that is trusted."""

    settings: Settings
    init: Image.Image | None = None
    temporal: Temporal | None = None
    trusted: float | None = None


def frame_run(
    index: int,
    photo: Image.Image,
    style: Image.Image | list[Image.Image],
    start: FrameStart,
    *,
    extractor: FeatureExtractor,
    cache: TargetCache,
    preview_seconds: float | None = None,
    preview_size: int | None = None,
    colour_reference: Image.Image | None = None,
    sweep: int = 1,
) -> Generator[FrameStep, None, Image.Image]:
    """One frame's run of :func:`transfer`, every step as a :class:`FrameStep` of frame ``index``
    (in pass ``sweep``); returns the frame's finished picture."""
    result: Image.Image | None = None
    run = transfer(photo, style, start.settings, extractor=extractor, init_image=start.init, cache=cache,
                   temporal=start.temporal, preview_seconds=preview_seconds, preview_size=preview_size,
                   colour_reference=colour_reference)  # fmt: skip
    try:
        for step in run:
            if step.done:
                result = step.image
            yield FrameStep(index, step, start.trusted, start.temporal is not None, sweep)
    finally:
        run.close()
    if result is None:  # the last step always brings a picture
        raise SettingsError(f"frame {index} ended without a picture")
    return result


def carried(
    photo: Image.Image, history: Sequence[tuple[Image.Image, Image.Image]], frames_back: Sequence[int]
) -> tuple[Image.Image, Temporal]:
    """What the frame is kept close to: the earlier stylised frames ``frames_back`` (1: the previous
    one) carried onto it along the optical flow, and the frame's starting picture, the same blend
    (where no frame is trusted: the previous stylised frame carried).

    Ruder et al.'s long-term consistency: frame ``j`` back counts where it is trusted and no closer
    frame of ``frames_back`` is, ``max(c_j - sum of the closer c, 0)``. Their sum of one temporal
    term per frame, ``sum_j c_j (x - w_j)^2``, has the gradient of one term with certainty
    ``C = sum_j c_j`` and target ``sum_j c_j w_j / C`` (they differ by a constant), which is what is
    made here: the rest of the run sees one :class:`~nst.targets.Temporal`. Starting from the blend
    instead of the previous frame alone (Ruder et al.) puts revealed background where the term
    pulls it at once: the hidden strip's change was 1.60x the still background's from the
    previous frame, 1.47x from the blend (``benchmarks/video_occlusion.py``). ``history`` holds
    (photo, stylised picture) pairs, newest last.
    """
    height, width = photo.size[1], photo.size[0]
    covered = np.zeros((height, width), dtype=np.float32)  # the closer frames' trust, summed
    weights = np.zeros((height, width), dtype=np.float32)
    blended = np.zeros((height, width, 3), dtype=np.float32)
    init: Image.Image | None = None
    for back in sorted(set(frames_back) | {1}):
        if back > len(history):
            break
        earlier_photo, earlier_result = history[-back]
        backward = optical_flow(photo, earlier_photo)  # this frame -> that one
        moved = warp(earlier_result, backward)
        if back == 1:
            init = moved
            if 1 not in frames_back:
                continue
        trust = certainty(backward, optical_flow(earlier_photo, photo))
        share = np.clip(trust - covered, 0.0, None)
        covered += trust
        weights += share
        blended += share[..., None] * np.asarray(moved, dtype=np.float32)
    assert init is not None, "the history holds the previous frame"
    fallback = np.asarray(init, dtype=np.float32)  # where no frame is trusted the target does not count
    target = np.where(weights[..., None] > 0, blended / np.maximum(weights, 1e-6)[..., None], fallback)
    previous = Image.fromarray(np.clip(target, 0, 255).round().astype(np.uint8))
    return previous, Temporal(previous, Image.fromarray(np.minimum(weights, 1.0), mode="F"))


def sized(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A frame at the clip's size (an odd output size makes pictures a pixel larger than the even frames)."""
    return picture if picture.size == size else picture.resize(size, Image.Resampling.LANCZOS)


@dataclass
class _Pace:
    """Seconds per frame so far, for the ETA. Until a later frame has been measured its time
    is guessed from the first frame's steps: the latest step's time, scaled by the pixels from
    its scale's size up to the output size, times the later frames' steps."""

    frame_iterations: int
    pixels: int  # a frame's, at the output size
    full_size_step: float = 0.0  # the latest step's seconds, scaled to the output size
    firsts: tuple[float, ...] = ()  # seconds of each frame stylised on its own
    laters: tuple[float, ...] = ()  # seconds of each frame that followed the previous one

    def step(self, step: Progress, seconds: float) -> None:
        if step.step > 1 or step.scale > 1:  # the very first step also read the targets
            self.full_size_step = seconds * self.pixels / max(1, step.size[0] * step.size[1])

    def finished(self, follows: bool, seconds: float) -> None:
        if follows:
            self.laters += (seconds,)
        else:
            self.firsts += (seconds,)

    def frame(self, later: bool) -> float:
        """Seconds each of the next frames will take (0 until something has been measured)."""
        if later and self.laters:
            return sum(self.laters) / len(self.laters)
        if later:
            return self.full_size_step * self.frame_iterations
        return sum(self.firsts) / len(self.firsts) if self.firsts else 0.0
