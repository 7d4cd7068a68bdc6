"""A clip made in several passes (:mod:`nst.multipass`) through an executor, the first spread over its workers.

:func:`stylize_clip` is the one way a clip is made through an executor (the command line):
one pass, frame by frame on one worker (:mod:`nst.chunks` with one chunk), or
``Settings.passes`` passes (by default: one pass on one worker, ``MULTI_PASSES`` on several).

The first pass, every frame on its own, splits the clip into one run of neighbouring frames
per worker (:func:`plan_runs`, each run a :class:`nst.jobs.sweep.SweepJob`), all at once. Each
later pass is one run over the whole clip, in order, on one worker, as the reference sweeps
it: split into runs at once, the runs' meeting point kept a seam through 5 passes (a step of
6.5 levels there against 2-3.6 elsewhere; docs/performance.md). Frames are written once the
last pass has made them, in order. A stopped run writes, in order, each frame's latest
picture from whichever pass made it, so a stop loses nothing that was finished.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from PIL import Image

from nst.chunks import at_once, open_clip, stylize_video_chunks
from nst.execution.base import Executor
from nst.execution.wire import from_png, png_bytes
from nst.images import ImageSource
from nst.jobs.sweep import SweepJob
from nst.limits import Limits
from nst.settings import MULTI_PASSES, Settings
from nst.video import VideoProgress, sized
from nst.videoio import ClipWriter, read_frames


def passes_for(settings: Settings, workers: int) -> int:
    """The passes a run makes: ``settings.passes``, or (0) one on one worker and ``MULTI_PASSES`` on several.

    Examples:
        >>> passes_for(Settings(), 1), passes_for(Settings(), 2), passes_for(Settings(passes=4), 1)
        (1, 3, 4)
    """
    return settings.passes or (1 if workers <= 1 else MULTI_PASSES)


def plan_runs(frames: int, workers: int) -> list[range]:
    """0-based frames split into one run of neighbours per worker, as even as can be.

    Examples:
        >>> plan_runs(10, 3)
        [range(0, 4), range(4, 8), range(8, 10)]
        >>> plan_runs(2, 4)
        [range(0, 1), range(1, 2)]
    """
    count = max(1, min(workers, frames))
    length = math.ceil(frames / count)
    return [range(first, min(frames, first + length)) for first in range(0, frames, length)]


def planned_steps(frames: int, settings: Settings, workers: int, *, instant: bool = False) -> int:
    """The optimisation steps (records) a clip of ``frames`` frames takes: for a progress bar."""
    if instant:
        return frames
    passes = passes_for(settings, workers)
    later = settings.frame_iterations if settings.temporal_weight > 0 else settings.iterations
    if passes == 1:
        return settings.iterations + (frames - 1) * later
    return _multi_pass_steps(frames, settings, passes)


def _multi_pass_steps(frames: int, settings: Settings, passes: int) -> int:
    """Every frame's full steps in the first pass, ``frame_iterations`` a frame in each later one."""
    return frames * settings.iterations + (passes - 1) * frames * settings.frame_iterations


def stylize_clip(
    executor: Executor,
    source: str | os.PathLike[str],
    style: ImageSource | Sequence[ImageSource],
    output: str | os.PathLike[str],
    settings: Settings | None = None,
    *,
    max_frames: int | None = None,
    limits: Limits | None = None,
    instant: bool = False,
) -> Generator[VideoProgress, None, Path | None]:
    """Make the clip as its settings and the executor's workers say (see the module's text).

    A clip painted by the one-pass network (``instant``) goes in chunks, one per worker
    (:func:`nst.chunks.stylize_video_chunks`); one pass goes frame by frame on one worker; more
    passes are :func:`stylize_video_passes`.
    """
    settings = settings or Settings()
    if instant:
        return (yield from stylize_video_chunks(executor, source, style, output, settings, max_frames=max_frames,
                                                limits=limits, instant=True))  # fmt: skip
    if passes_for(settings, executor.workers) == 1:
        return (yield from stylize_video_chunks(executor, source, style, output, settings, max_frames=max_frames,
                                                limits=limits, parallel=1))  # fmt: skip
    return (yield from stylize_video_passes(executor, source, style, output, settings, max_frames=max_frames,
                                            limits=limits))  # fmt: skip


@dataclass
class _Clip:
    """What the passes share: the photo frames and each frame's latest picture (PNG bytes)."""

    photos: list[bytes]  # the frames to make, at the working size
    latest: list[bytes | None]  # each frame's picture from the latest pass that made it
    before: tuple[bytes, bytes] | None  # (photo, picture) of the frame before the first, made earlier
    offset: int  # frames made earlier (done), before the first of ``photos``
    colour: bytes  # the clip's first frame: the style's colours (preserve_colour)


def stylize_video_passes(
    executor: Executor,
    source: str | os.PathLike[str],
    style: ImageSource | Sequence[ImageSource],
    output: str | os.PathLike[str],
    settings: Settings | None = None,
    *,
    max_frames: int | None = None,
    limits: Limits | None = None,
    app: bool = False,
    preview_seconds: float | None = None,
    preview_size: int | None = None,
    done: Sequence[Image.Image] = (),
    parallel: int | None = None,
    owner: str = "video",
) -> Generator[VideoProgress, None, Path | None]:
    """:func:`nst.video.stylize_video` by the multi-pass algorithm, each pass spread over ``parallel``
    workers at most (default: all of them). ``settings.passes`` 0 means ``MULTI_PASSES`` here, on any
    number of workers (1 pass is every frame on its own; frame by frame is :func:`stylize_clip`'s one
    pass). ``done`` frames, from an earlier stopped run, are written as they are; the last of them is
    the fixed neighbour of the first frame made. Closing the generator stops every run within a step
    and writes each frame's latest picture, in order.

    Raises:
        VideoError: the clip cannot be read or is over the limits.
        NSTError: a run failed (the frames written before are kept).
    """
    settings = settings or Settings()
    clip, frames, size, styles = open_clip(source, style, settings, limits, max_frames, app=app)
    done = list(done[:frames])
    photos = [
        png_bytes(raw.resize(size, Image.Resampling.LANCZOS)) for raw in itertools.islice(read_frames(clip), frames)
    ]
    before = (photos[len(done) - 1], png_bytes(sized(done[-1], size))) if done else None
    shared = _Clip(photos[len(done) :], [None] * (len(photos) - len(done)), before, len(done), photos[0])
    template = SweepJob(1, (), (), (), None, styles, isinstance(style, (list, tuple)), settings, shared.colour,
                        preview_seconds, preview_size)  # fmt: skip
    writer = ClipWriter(output, clip.fps, size, audio_from=clip)
    try:
        for picture in done:  # made by an earlier run
            writer.write(sized(picture, size))
        passes = settings.passes or MULTI_PASSES
        yield from _passes(executor, template, shared, passes, parallel or executor.workers, writer, owner)
    finally:
        for latest in itertools.takewhile(lambda p: p is not None, shared.latest[writer.written - len(done) :]):
            writer.write(sized(from_png(cast(bytes, latest)), size))  # what a stop leaves: each frame's latest
        path = writer.close()
    return path


def _passes(
    executor: Executor, template: SweepJob, shared: _Clip, passes: int, workers: int, writer: ClipWriter, owner: str
) -> Generator[VideoProgress, None, None]:
    """Every pass in turn, each pass's runs at once; the last pass's frames written in order."""
    started = time.perf_counter()
    count, offset = len(shared.photos), shared.offset
    total = _multi_pass_steps(count, template.settings, passes)
    made = 0  # steps made so far, for the ETA
    final: set[int] = set()  # frames (0-based among those to make) the last pass has made
    for number in range(1, passes + 1):
        runs = plan_runs(count, workers if number == 1 else 1)  # a later pass: the whole clip, in order
        jobs = [_job(template, shared, number, run) for run in runs]
        for _, record in at_once(executor, jobs, owner):
            made += 1
            if record.step.done and record.step.image is not None:
                shared.latest[record.index - offset - 1] = png_bytes(record.step.image)
                if number == passes:
                    final.add(record.index - offset - 1)
                    while writer.written - offset in final:  # the last pass's frames, in order
                        writer.write(sized(from_png(cast(bytes, shared.latest[writer.written - offset])), writer.size))
            elapsed = time.perf_counter() - started
            yield VideoProgress(record.index, offset + count, record.step, elapsed,
                                elapsed / made * (total - made), writer.written, record.trusted, number,
                                passes)  # fmt: skip


def _job(template: SweepJob, shared: _Clip, number: int, run: range) -> SweepJob:
    """Pass ``number`` over the frames ``run`` (0-based among the frames to make): forwards in odd passes."""
    order = list(run) if number % 2 else list(reversed(run))
    outside = order[0] - 1 if number % 2 else order[0] + 1  # the neighbour before the first, in this order
    neighbour = None
    if number > 1 and 0 <= outside < len(shared.photos):
        neighbour = (shared.photos[outside], cast(bytes, shared.latest[outside]))
    elif number > 1 and outside < 0 and shared.before is not None:
        neighbour = shared.before
    earlier = tuple(cast(bytes, shared.latest[k]) for k in order) if number > 1 else ()
    return dataclasses.replace(template, number=number, indices=tuple(shared.offset + k + 1 for k in order),
                               photos=tuple(shared.photos[k] for k in order), earlier=earlier,
                               neighbour=neighbour)  # fmt: skip
