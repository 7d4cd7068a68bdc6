"""A clip in chunks made at once by an executor's workers (a Ray cluster), written in order.

:func:`plan_chunks` splits the frames, one chunk per worker, neighbours sharing
``OVERLAP`` frames; each chunk is a :class:`nst.jobs.chunk.ChunkJob`; where two chunks
overlap, the output cross-fades from the earlier chunk's frames to the later one's, so the
later chunk's own start never shows as a jump.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import tempfile
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from PIL import Image

from nst.execution.base import Executor, Job, R
from nst.execution.wire import picture_bytes
from nst.images import ImageSource, load_image
from nst.jobs.chunk import ChunkJob
from nst.limits import Limits
from nst.settings import Settings
from nst.video import VideoProgress, check_clip, frame_size, sized
from nst.videoio import Clip, ClipWriter, probe

log = logging.getLogger(__name__)

OVERLAP = 6  # frames that two neighbouring chunks both make (1/4 s at 24 fps); the output cross-fades between them


@dataclass(frozen=True)
class Chunk:
    """Frames ``first`` (0-based) up to ``stop`` (exclusive) of a clip, made by one worker."""

    first: int
    stop: int


def plan_chunks(frames: int, workers: int, overlap: int = OVERLAP) -> list[Chunk]:
    """Split ``frames`` into one chunk per worker, neighbours sharing ``overlap`` frames.

    Every chunk is longer than twice the overlap, so no frame is in three chunks; a clip too
    short for that gets fewer chunks than workers.

    Examples:
        >>> plan_chunks(20, 2, 4)
        [Chunk(first=0, stop=12), Chunk(first=8, stop=20)]
        >>> plan_chunks(8, 4, 4)
        [Chunk(first=0, stop=8)]
    """
    count = max(1, min(workers, (frames - overlap) // (overlap + 1)))
    if count == 1:
        return [Chunk(0, frames)]
    length = math.ceil((frames + (count - 1) * overlap) / count)
    firsts = [k * (length - overlap) for k in range(count)]
    return [Chunk(first, min(frames, first + length) if k < count - 1 else frames) for k, first in enumerate(firsts)]


class _InOrder:
    """Finished frames of several chunks, written in the clip's order (cross-faded where chunks
    overlap); frames that must wait for an earlier chunk wait on disk, not in memory."""

    def __init__(self, writer: ClipWriter, chunks: list[Chunk], frames: int, size: tuple[int, int]) -> None:
        self.writer, self.chunks, self.frames, self.size = writer, chunks, frames, size
        self.spill = tempfile.TemporaryDirectory(prefix="nst-frames-")
        self.made: dict[tuple[int, int], Path] = {}  # (chunk, 0-based frame) -> its finished picture, on disk
        self.finished = 0

    def add(self, number: int, index: int, picture: Image.Image) -> None:
        """Chunk ``number`` finished frame ``index`` (0-based): keep it, write what can be written."""
        self.made[(number, index)] = Path(self.spill.name) / f"{number}-{index}.png"
        picture.save(self.made[(number, index)], compress_level=1)
        self.finished += 1
        self._flush()

    def _flush(self) -> None:
        while self.writer.written < self.frames:
            index = self.writer.written
            owners = [k for k, chunk in enumerate(self.chunks) if chunk.first <= index < chunk.stop]
            if not all((k, index) in self.made for k in owners):
                return
            pictures = [Image.open(self.made.pop((k, index))).convert("RGB") for k in owners]
            picture = pictures[0]
            if len(pictures) == 2:
                later = self.chunks[owners[1]]
                span = self.chunks[owners[0]].stop - later.first
                picture = Image.blend(pictures[0], pictures[1], (index - later.first + 1) / (span + 1))
            self.writer.write(sized(picture, self.size))

    def close(self) -> None:
        self.spill.cleanup()


Event = tuple[int, Any]  # (job, its record, an error, or None: the job ended)


def _serve(executor: Executor, job: Job[Any], number: int, events: queue.SimpleQueue[Event],
           stop: threading.Event, owner: str) -> None:  # fmt: skip
    """One job, in its own thread: its records into ``events``, then None."""
    try:
        with contextlib.closing(executor.run(job, owner, on_note=_warn, stop=stop)) as records:
            for record in records:
                events.put((number, record))
                if stop.is_set():
                    return
    except BaseException as error:  # handed to the caller's thread, raised there
        events.put((number, error))
    finally:
        events.put((number, None))


def _warn(note: str) -> None:
    log.warning("%s", note)  # a worker was lost and its job went on elsewhere


def at_once(executor: Executor, jobs: Sequence[Job[R]], owner: str) -> Generator[tuple[int, R], None, None]:
    """Run ``jobs`` at once, one thread each; yield (the job's place in ``jobs``, its record) as they come.

    Closing the generator stops every job within a step. A job's error is raised here.
    """
    events: queue.SimpleQueue[Event] = queue.SimpleQueue()
    stop = threading.Event()
    threads = [threading.Thread(target=_serve, args=(executor, job, k, events, stop, owner), daemon=True)
               for k, job in enumerate(jobs)]  # fmt: skip
    try:
        for thread in threads:
            thread.start()
        running = len(threads)
        while running:
            number, record = events.get()
            if record is None:
                running -= 1
            elif isinstance(record, BaseException):
                raise record
            else:
                yield number, record
    finally:
        stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join()


def open_clip(
    source: str | os.PathLike[str],
    style: ImageSource | Sequence[ImageSource],
    settings: Settings,
    limits: Limits | None,
    max_frames: int | None,
    *,
    app: bool = False,
) -> tuple[Clip, int, tuple[int, int], tuple[bytes, ...]]:
    """What a clip's run through an executor starts from: the clip, the frames to make, the
    frames' working size, and the style pictures as bytes to send (refused here, before any
    worker starts, when they cannot be read).

    Raises:
        VideoError: the clip cannot be read or is over the limits.
        ImageLoadError: a style picture cannot be read.
    """
    clip = probe(source)
    frames = check_clip(clip, limits or Limits.from_env(), max_frames, app=app)
    given = cast(Sequence[ImageSource], style) if isinstance(style, (list, tuple)) else [cast(ImageSource, style)]
    styles = tuple(picture_bytes(s) for s in given)
    for data in styles:
        load_image(data, name="the style picture")
    return clip, frames, frame_size(clip.size, settings.output_size), styles


def stylize_video_chunks(
    executor: Executor,
    source: str | os.PathLike[str],
    style: ImageSource | Sequence[ImageSource],
    output: str | os.PathLike[str],
    settings: Settings | None = None,
    *,
    max_frames: int | None = None,
    limits: Limits | None = None,
    app: bool = False,
    overlap: int = OVERLAP,
    preview_seconds: float | None = None,
    preview_size: int | None = None,
    done: Sequence[Image.Image] = (),
    parallel: int | None = None,
    owner: str = "video",
    instant: bool = False,
) -> Generator[VideoProgress, None, Path | None]:
    """:func:`nst.video.stylize_video` with the clip split into chunks made at once by the executor's workers.

    ``parallel`` chunks at most (default: one per worker; 1 makes the clip in order on one
    worker, as :func:`nst.video.stylize_video` does here). ``done`` goes on from an earlier,
    stopped run as in :func:`nst.video.stylize_video`: those frames are written as they are,
    and the first chunk follows the last of them. Records of different chunks interleave.
    Closing the generator stops every chunk within a step and finishes the file with the
    frames written so far. ``instant``: every frame by the one-pass network, steadied along the
    flow (:mod:`nst.instant_video`), instead of optimised.

    Raises:
        VideoError: the clip cannot be read or is over the limits.
        NSTError: a chunk failed (the frames written before are kept).
    """
    settings = settings or Settings()
    clip, frames, size, styles = open_clip(source, style, settings, limits, max_frames, app=app)
    done = list(done[:frames])
    chunks = [Chunk(len(done) + chunk.first, len(done) + chunk.stop)
              for chunk in plan_chunks(frames - len(done), parallel or executor.workers, overlap)
              if len(done) < frames]  # fmt: skip
    data = Path(source).read_bytes()
    before = tuple(picture_bytes(f) for f in done[-max(settings.temporal_frames) :])  # the long-term terms' reach
    jobs = [ChunkJob(data, Path(source).suffix.lower(), chunk.first, chunk.stop, size, styles,
                     isinstance(style, (list, tuple)), settings, previous=before if number == 0 else (),
                     preview_seconds=preview_seconds, preview_size=preview_size, instant=instant)
            for number, chunk in enumerate(chunks)]  # fmt: skip
    writer = ClipWriter(output, clip.fps, size, audio_from=clip)
    in_order = _InOrder(writer, chunks, frames, size)
    try:
        for picture in done:  # made by an earlier run
            writer.write(sized(picture, size))
        yield from _gather(executor, jobs, in_order, owner)
    finally:
        in_order.close()
        path = writer.close()
    return path


def _gather(executor: Executor, jobs: list[ChunkJob], in_order: _InOrder, owner: str) -> Generator[VideoProgress]:
    """Run the chunks at once; yield their records as they come, writing finished frames."""
    started = time.perf_counter()
    total = sum(job.stop - job.first for job in jobs)
    for number, record in at_once(executor, jobs, owner):
        if record.step.done and record.step.image is not None:
            in_order.add(number, record.index - 1, record.step.image)
        now = time.perf_counter()
        # Frames finished per second of wall time already counts the chunks made at once.
        finished = in_order.finished
        eta = (now - started) / finished * (total - finished) if finished else record.step.eta
        yield VideoProgress(record.index, in_order.frames, record.step, now - started, eta,
                            in_order.writer.written, record.trusted)  # fmt: skip
