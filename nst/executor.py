"""Where runs execute: in this process (``local``) or on a Ray cluster (``ray``), behind one interface.

A :class:`Job` is one run as plain data: the pictures as file bytes, the settings as a
dict of numbers and strings, where to resume. An :class:`Executor` takes a place in its
fair queue for the caller (:meth:`Executor.join`, :meth:`Executor.wait`), then
:meth:`Executor.start` gives a :class:`Run`: an iterator of the engine's
:class:`~nst.engine.Progress` records while the picture forms, with ``cancel()`` for Stop
and ``notes`` for what the user should know (a worker was lost and the run went on
elsewhere).

- :class:`LocalExecutor` runs :func:`nst.engine.transfer` in the caller's thread with one
  VGG19 per device, kept for the process: exactly what the app and the command line did
  before there was a choice.
- ``nst.cluster.RayExecutor`` sends the job to a worker process on a Ray cluster that
  keeps its own VGG19 and streams the records back. Only :mod:`nst.cluster` imports
  ``ray``, and only :func:`executor_for` with a cluster address imports it.

Everything that crosses a network is made here by :func:`job_to_wire` and
:func:`progress_to_wire` and read back by their inverses: bytes, numbers, strings and
tuples of them, never the engine's objects, so a worker with other code cannot misread
them silently; :func:`project_version` names the code, and the cluster refuses a worker
whose version differs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image

from nst import __version__
from nst.engine import Progress, Resume, extractor_for, transfer
from nst.errors import DivergedError, ImageLoadError, NSTError, SettingsError, VideoError, WeightsError
from nst.features import FeatureExtractor
from nst.images import ImageSource
from nst.layers import deepest_layer
from nst.runqueue import RunQueue, Ticket
from nst.settings import Settings
from nst.targets import TargetCache

CLUSTER_VARIABLE = "NST_CLUSTER"  # local (the default), auto, or the head's HOST:PORT
FALLBACK_VARIABLE = "NST_CLUSTER_FALLBACK"  # "local": serve here when no cluster worker is left


class ClusterError(NSTError, RuntimeError):
    """The cluster cannot be reached, no worker is left, or a worker runs other code.

    ``last_image`` is the run's latest picture when one had arrived (kept for the user).
    """

    def __init__(self, message: str, *, last_image: Image.Image | None = None, step: int = 0) -> None:
        super().__init__(message)
        self.last_image = last_image
        self.step = step


@cache
def project_version() -> str:
    """This code's version: the release number and a digest of the engine's source files.

    Two checkouts with any difference in ``nst/`` have different versions, so a cluster
    worker started from an older copy is told apart from this one.
    """
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class Job:
    """One run, as :func:`nst.engine.transfer` takes it."""

    content: ImageSource
    style: ImageSource | Sequence[ImageSource]
    settings: Settings
    resume: Resume | None = None
    init_image: ImageSource | None = None
    masks: Sequence[ImageSource] | None = None
    preview_seconds: float | None = None
    preview_size: int | None = None
    on_tile: Callable[[int, int], None] | None = None  # local runs only: see transfer(); not sent to a cluster


class Run(Iterator[Progress]):
    """A run under way: iterate it for its :class:`~nst.engine.Progress` records; ``cancel()`` stops it.

    Raises what :func:`nst.engine.transfer` raises (the same error types, from a worker too).
    """

    def __init__(self) -> None:
        self.notes: list[str] = []  # things the user should be told, in order
        self.worker = ""  # where it runs now, in words

    def __iter__(self) -> Run:
        return self

    @abstractmethod
    def __next__(self) -> Progress: ...

    @abstractmethod
    def cancel(self) -> None:
        """Stop the run; the worker is free for the next one when this returns. Safe to call twice."""

    def close(self) -> None:
        """The same as :meth:`cancel` (a generator's name for it)."""
        self.cancel()


class Executor(ABC):
    """A fair queue in front of some workers, and a way to start a :class:`Job` on one."""

    name: str  # "local" or the cluster's address
    queue: RunQueue

    def join(self, owner: str = "") -> Ticket:
        """Take a place at the end of the queue (``owner``: whose run, e.g. a browser session's tag)."""
        return self.queue.join(owner)

    def wait(self, ticket: Ticket, timeout: float) -> int:
        """Wait up to ``timeout`` s for the ticket's turn; 0 when it may start, else the runs ahead of it."""
        return self.queue.wait(ticket, timeout)

    def leave(self, ticket: Ticket) -> None:
        """Give up the place, or the worker after the run; safe to call twice."""
        self.queue.leave(ticket)

    @abstractmethod
    def start(self, ticket: Ticket, job: Job) -> Run:
        """Start the job on a free worker; the ticket's turn must have come."""

    @abstractmethod
    def start_chunk(self, ticket: Ticket, wire: dict[str, Any]) -> Generator[dict[str, Any], None, None]:
        """Start a chunk of a video clip (:func:`nst.video.stylize_video_chunks`) on a free worker.

        Yields the chunk's records as plain data; closing the generator stops the chunk.
        """

    def run_chunk(
        self, wire: dict[str, Any], owner: str = "", stop: threading.Event | None = None
    ) -> Generator[dict[str, Any], None, None]:
        """Wait for a turn (or for ``stop``), then make the chunk and yield its records."""
        with self.turn(owner, stop) as ticket:
            if ticket is not None:
                with contextlib.closing(self.start_chunk(ticket, wire)) as records:
                    yield from records

    @contextlib.contextmanager
    def turn(
        self, owner: str = "", stop: threading.Event | None = None, on_wait: Callable[[int], None] | None = None
    ) -> Iterator[Ticket | None]:
        """Wait in the queue until this caller's turn (None when ``stop`` is set first); leave after.

        ``on_wait`` is called every half second of waiting with the number of runs ahead (a
        page shows the place; an exception it raises, e.g. a Stop, leaves the queue).
        """
        ticket = self.join(owner)
        try:
            while (ahead := self.wait(ticket, timeout=0.5)) > 0:
                if on_wait is not None:
                    on_wait(ahead)
                if stop is not None and stop.is_set():
                    yield None
                    return
            self.queue.begin(ticket)
            yield ticket
        finally:
            self.leave(ticket)

    @property
    @abstractmethod
    def workers(self) -> int:
        """How many workers serve runs now."""

    @property
    def free(self) -> int:
        """Workers with no run now."""
        return max(0, self.workers - self.queue.running)

    def describe(self) -> str:
        """The backend in words, for a page or a log."""
        return f"{self.name}: {self.workers} worker{'s' if self.workers != 1 else ''}, {self.free} free"

    def close(self) -> None:
        """Let go of the workers (a cluster's worker processes end); a local executor keeps its model."""
        return None

    def run(
        self,
        job: Job,
        owner: str = "",
        on_note: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Generator[Progress, None, None]:
        """Wait for a turn (or for ``stop``), run the job and yield its records: the plain loop.

        ``on_note`` is called with each of the run's notes (:attr:`Run.notes`) as it appears.
        """
        with self.turn(owner, stop) as ticket:
            if ticket is None:
                return
            run = self.start(ticket, job)
            told = 0
            try:
                for progress in run:
                    for note in run.notes[told:]:
                        if on_note is not None:
                            on_note(note)
                    told = len(run.notes)
                    yield progress
            finally:
                run.cancel()


def run_many(
    executor: Executor, jobs: Sequence[Job], *, parallel: int, owner: str = ""
) -> Generator[tuple[int, Progress | NSTError], None, None]:
    """Run the jobs, ``parallel`` at a time (one thread each, every run through the executor's
    queue), and yield ``(index, record)`` as the records come: a job's records in order,
    different jobs' interleaved. A job that fails yields ``(index, error)`` once and the rest
    go on. Closing the generator stops every run within a step.
    """
    waiting: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(jobs)):
        waiting.put(index)
    records: queue.SimpleQueue[tuple[int, Progress | NSTError] | None] = queue.SimpleQueue()  # None: a thread ended
    stop = threading.Event()

    def serve() -> None:
        try:
            while not stop.is_set():
                try:
                    index = waiting.get_nowait()
                except queue.Empty:
                    return
                try:
                    with contextlib.closing(executor.run(jobs[index], owner, stop=stop)) as steps:
                        for progress in steps:
                            records.put((index, progress))
                            if stop.is_set():
                                return  # closing the run stops it within a step
                except NSTError as error:
                    records.put((index, error))
                except Exception as error:  # noqa: BLE001  # the job's failure, in words; the rest go on
                    records.put((index, NSTError(f"{type(error).__name__}: {error}")))
        finally:
            records.put(None)

    threads = [threading.Thread(target=serve, daemon=True) for _ in range(max(1, min(parallel, len(jobs))))]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            item = records.get()
            if item is None:
                running -= 1
            else:
                yield item
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def run_together(
    executor: Executor, jobs: Sequence[Job], *, parallel: int, owner: str = ""
) -> Generator[tuple[int, Progress], None, None]:
    """:func:`run_many` for runs that make one thing together (a figure's pictures): the first
    job that fails ends them all, its error raised here."""
    with contextlib.closing(run_many(executor, jobs, parallel=parallel, owner=owner)) as records:
        for index, record in records:
            if isinstance(record, NSTError):
                raise record
            yield index, record


class LocalExecutor(Executor):
    """Runs in this process, ``slots`` at a time, with one VGG19 per device kept for the process."""

    def __init__(self, slots: int = 1) -> None:
        self.name = "local"
        self.queue = RunQueue(slots)
        self.cache = TargetCache(max_entries=8)

    @property
    def workers(self) -> int:
        return self.queue.slots

    def start(self, ticket: Ticket, job: Job) -> Run:
        return _LocalRun(job, self.cache)

    def start_chunk(self, ticket: Ticket, wire: dict[str, Any]) -> Generator[dict[str, Any], None, None]:
        from nst.video import video_chunk  # noqa: PLC0415  # nst.video builds on this module

        settings = Settings(**wire["settings"])
        yield from video_chunk(wire, extractor=local_extractor(settings), cache=self.cache)


class _LocalRun(Run):
    def __init__(self, job: Job, cache: TargetCache) -> None:
        super().__init__()
        self.worker = "this process"
        self._steps = transfer(
            job.content,
            job.style,
            job.settings,
            extractor=local_extractor(job.settings),
            init_image=job.init_image,
            cache=cache,
            preview_seconds=job.preview_seconds,
            resume=job.resume,
            masks=job.masks,
            preview_size=job.preview_size,
            on_tile=job.on_tile,
        )

    def __next__(self) -> Progress:
        return next(self._steps)

    def cancel(self) -> None:
        self._steps.close()


_extractors: dict[tuple[str, str, str, str], FeatureExtractor] = {}
_extractors_lock = threading.Lock()


def local_extractor(settings: Settings) -> FeatureExtractor:
    """The VGG19 for these settings, loaded once per process (weights, pooling, device, depth)."""
    from nst.device import resolve_device  # noqa: PLC0415  # device probing only when a run starts

    layers = settings.content_layers + settings.style_layers
    key = (settings.weights, settings.pooling, str(resolve_device(settings.device)), deepest_layer(layers))
    with _extractors_lock:
        if key not in _extractors:
            _extractors[key] = extractor_for(settings)
        return _extractors[key]


def executor_for(address: str | None = None, *, fallback: str | None = None) -> Executor:
    """The executor an address names: ``local`` (or empty) here; ``auto`` or the head's
    ``HOST:PORT`` a Ray cluster (needs ``pip install -r requirements-cluster.txt``).

    ``address`` defaults to the ``NST_CLUSTER`` variable. When the cluster cannot be used
    and ``fallback`` (default: ``NST_CLUSTER_FALLBACK``) is ``local``, runs stay here.

    Raises:
        ClusterError: the cluster cannot be used and there is no local fallback.
    """
    address = (address if address is not None else os.environ.get(CLUSTER_VARIABLE, "")).strip()
    fallback = (fallback if fallback is not None else os.environ.get(FALLBACK_VARIABLE, "")).strip().lower()
    if address in ("", "local"):
        return LocalExecutor()
    try:
        from nst.cluster import RayExecutor  # noqa: PLC0415  # ray is imported only for a cluster
    except ImportError as error:
        problem = ClusterError(
            f"a cluster address was given ({address}) but Ray is not installed: "
            f"pip install -r requirements-cluster.txt ({error})"
        )
    else:
        try:
            return RayExecutor(address, fallback_local=fallback == "local")
        except ClusterError as error:
            problem = error
    if fallback == "local":
        return LocalExecutor()
    raise problem


# -- the wire format: what a job and its records are while they cross the network

ERRORS: dict[str, type[NSTError]] = {
    cls.__name__: cls
    for cls in (NSTError, SettingsError, ImageLoadError, WeightsError, DivergedError, VideoError, ClusterError)
}


def picture_bytes(source: ImageSource) -> bytes:
    """A picture as bytes to send: a file's own bytes (decoded on the worker exactly as here), else PNG."""
    if isinstance(source, Image.Image):
        return png_bytes(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            return Path(source).read_bytes()
        except OSError as error:
            raise ImageLoadError(f"cannot read {source}: {error.strerror or error}") from error
    data = source.read()
    return data if isinstance(data, bytes) else bytes(data)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def from_png(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        return opened.convert("RGB")


def job_to_wire(job: Job) -> dict[str, Any]:
    """The job as plain data (bytes, numbers, strings): what a cluster worker receives."""
    styles: Sequence[ImageSource] = job.style if isinstance(job.style, (list, tuple)) else [job.style]  # type: ignore[list-item]
    return {
        "version": project_version(),
        "content": picture_bytes(job.content),
        "styles": [picture_bytes(style) for style in styles],
        "blend": isinstance(job.style, (list, tuple)),
        "settings": dataclasses.asdict(job.settings),
        "resume": None if job.resume is None else (picture_bytes(job.resume.image), job.resume.step, job.resume.total),
        "init_image": None if job.init_image is None else picture_bytes(job.init_image),
        "masks": None if job.masks is None else [picture_bytes(mask) for mask in job.masks],
        "preview_seconds": job.preview_seconds,
        "preview_size": job.preview_size,
    }


def job_from_wire(wire: dict[str, Any]) -> Job:
    """The inverse of :func:`job_to_wire` (on the worker)."""
    styles = wire["styles"]
    resume = wire["resume"]
    return Job(
        content=wire["content"],
        style=list(styles) if wire["blend"] else styles[0],
        settings=Settings(**wire["settings"]),
        resume=None if resume is None else Resume(resume[0], step=resume[1], total=resume[2]),
        init_image=wire["init_image"],
        masks=wire["masks"],
        preview_seconds=wire["preview_seconds"],
        preview_size=wire["preview_size"],
    )


def progress_to_wire(progress: Progress) -> dict[str, Any]:
    """A record as plain data; its picture, when it has one, as PNG bytes (lossless)."""
    fields = {field.name: getattr(progress, field.name) for field in dataclasses.fields(progress)}
    fields["losses"] = dict(progress.losses)
    fields["image"] = None if progress.image is None else png_bytes(progress.image)
    return fields


def progress_from_wire(wire: dict[str, Any]) -> Progress:
    image = wire["image"]
    return Progress(**{**wire, "size": tuple(wire["size"]), "image": None if image is None else from_png(image)})


def error_to_wire(error: NSTError) -> dict[str, Any]:
    """An engine error as plain data: its type's name, message, and the picture it carries."""
    last = getattr(error, "last_image", None)
    return {
        "error": type(error).__name__,
        "message": str(error),
        "step": getattr(error, "step", 0),
        "last_image": None if last is None else png_bytes(last),
    }


def error_from_wire(wire: dict[str, Any]) -> NSTError:
    kind = ERRORS.get(wire["error"], NSTError)
    last = None if wire["last_image"] is None else from_png(wire["last_image"])
    if kind is DivergedError:
        return DivergedError(wire["message"], step=wire["step"], last_image=last)
    if kind is ClusterError:
        return ClusterError(wire["message"], last_image=last, step=wire["step"])
    return kind(wire["message"])
