"""What every backend shares: :class:`Job` (work of some kind), :class:`Run`, :class:`Executor`.

This layer knows jobs only through :class:`Job`'s methods: it imports no job kind (a kind
registers itself by subclassing, and a worker finds it by the module named in the job's
envelope). A job says how it runs in a process (:meth:`Job.run_here`), how it crosses the
network (:meth:`Job.to_wire` and back), what its records look like on the wire, and from
where it goes on when its worker is lost (:meth:`Job.after`): so failover is written once,
in the backend, for every kind.
"""

from __future__ import annotations

import contextlib
import importlib
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from nst.errors import ClusterError, NSTError
from nst.features import FeatureExtractor
from nst.instant import InstantModel, model_for
from nst.runqueue import RunQueue, Ticket
from nst.settings import Settings
from nst.targets import TargetCache

R = TypeVar("R")  # what a job's run yields, record by record
JOB_PACKAGE = "nst."  # a worker imports a job's kind only from this package


@dataclass(frozen=True)
class Place:
    """What a job needs to run in a process: the VGG19 for its settings (loaded once), a target cache,
    and the one-pass networks for its settings' device (loaded once)."""

    extractor: Callable[[Settings], FeatureExtractor]
    cache: TargetCache
    instant: Callable[[Settings], InstantModel] = model_for


class Job(ABC, Generic[R]):
    """One piece of work of some kind (a picture, a chunk of a clip, the one-pass picture...).

    A subclass with a ``kind`` name is registered by that name, so that a worker can read
    its wire form back (:func:`job_from_envelope`).
    """

    kind: ClassVar[str] = ""
    kinds: ClassVar[dict[str, type[Job[Any]]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            Job.kinds[cls.kind] = cls

    @abstractmethod
    def run_here(self, place: Place) -> Generator[R, None, None]:
        """The job's records, made in this process; closing the generator stops it within a step."""

    @abstractmethod
    def to_wire(self) -> dict[str, Any]:
        """The job as plain data (bytes, numbers, strings, lists and dicts of them)."""

    @classmethod
    @abstractmethod
    def from_wire(cls, wire: dict[str, Any]) -> Job[R]:
        """The inverse of :meth:`to_wire`, on a worker."""

    @abstractmethod
    def record_to_wire(self, record: R) -> dict[str, Any]:
        """One record as plain data."""

    @abstractmethod
    def record_from_wire(self, wire: dict[str, Any]) -> R:
        """The inverse of :meth:`record_to_wire`, where the run was started."""

    def serve(self, place: Place) -> Generator[dict[str, Any], None, None]:
        """On a worker: the records as plain data. A kind may add what its :meth:`after` needs."""
        with contextlib.closing(self.run_here(place)) as records:
            for record in records:
                yield self.record_to_wire(record)

    def after(self, wire: dict[str, Any]) -> Job[R]:
        """The job that does what is left once this record (as sent by :meth:`serve`) has arrived.

        The backend keeps it while the records come and starts it on another worker when the
        first is lost. The default, ``self``, starts the job again from the beginning.
        """
        return self

    def resumes_from(self) -> str:
        """Where this job starts, in words, for the note a lost worker leaves ("step 12")."""
        return "the start"

    def finished(self) -> bool:
        """True when nothing is left to do (a job from :meth:`after` on the last record)."""
        return False


def envelope(job: Job[Any], version: str) -> dict[str, Any]:
    """The job as a worker receives it: its kind, the kind's module, the code's version, the job."""
    return {"kind": job.kind, "module": type(job).__module__, "version": version, "job": job.to_wire()}


def job_from_envelope(message: dict[str, Any]) -> Job[Any]:
    """The job an :func:`envelope` carries (its kind's module imported on first use, from ``nst.`` only)."""
    kind = message["kind"]
    if kind not in Job.kinds and str(message.get("module", "")).startswith(JOB_PACKAGE):
        importlib.import_module(message["module"])
    if kind not in Job.kinds:
        raise ClusterError(f"this worker knows no job of kind {kind!r}")
    return Job.kinds[kind].from_wire(message["job"])


class Run(Iterator[R]):
    """A job under way: iterate it for its records; ``cancel()`` stops it.

    Raises what the job raises (the same error types, from a worker too).
    """

    def __init__(self) -> None:
        self.notes: list[str] = []  # things the user should be told, in order
        self.worker = ""  # where it runs now, in words
        self.node = ""  # the cluster node it runs on ("" in this process)

    def __iter__(self) -> Run[R]:
        return self

    @abstractmethod
    def __next__(self) -> R: ...

    @abstractmethod
    def cancel(self) -> None:
        """Stop the run; the worker is free (or replaced) when this returns. Safe to call twice."""

    def close(self) -> None:
        """The same as :meth:`cancel` (a generator's name for it)."""
        self.cancel()


class Executor(ABC):
    """A fair queue in front of some workers, and a way to start a :class:`Job` on one."""

    name: str  # "local" or the cluster's address
    queue: RunQueue
    remote: bool = False  # records cross a network (pictures display-sized)

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
    def start(self, ticket: Ticket, job: Job[R]) -> Run[R]:
        """Start the job on a free worker; the ticket's turn must have come."""

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
        job: Job[R],
        owner: str = "",
        on_note: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Generator[R, None, None]:
        """Wait for a turn (or for ``stop``), run the job and yield its records: the plain loop.

        ``on_note`` is called with each of the run's notes (:attr:`Run.notes`) as it appears.
        """
        with self.turn(owner, stop) as ticket:
            if ticket is None:
                return
            run = self.start(ticket, job)
            told = 0
            try:
                for record in run:
                    for note in run.notes[told:]:
                        if on_note is not None:
                            on_note(note)
                    told = len(run.notes)
                    yield record
            finally:
                run.cancel()


def run_many(
    executor: Executor,
    jobs: Sequence[Job[R]],
    *,
    parallel: int,
    owner: str = "",
    on_note: Callable[[str], None] | None = None,
) -> Generator[tuple[int, R | NSTError], None, None]:
    """Run the jobs, ``parallel`` at a time (one thread each, every run through the executor's
    queue), and yield ``(index, record)`` as the records come: a job's records in order,
    different jobs' interleaved. A job that fails yields ``(index, error)`` once and the rest
    go on. Closing the generator stops every run within a step.
    """
    waiting: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(jobs)):
        waiting.put(index)
    records: queue.SimpleQueue[tuple[int, R | NSTError] | None] = queue.SimpleQueue()  # None: a thread ended
    stop = threading.Event()

    def serve() -> None:
        try:
            while not stop.is_set():
                try:
                    index = waiting.get_nowait()
                except queue.Empty:
                    return
                _run_one(executor, jobs[index], index, records, stop, owner, on_note)
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


def _run_one(
    executor: Executor,
    job: Job[R],
    index: int,
    records: queue.SimpleQueue[tuple[int, R | NSTError] | None],
    stop: threading.Event,
    owner: str,
    on_note: Callable[[str], None] | None,
) -> None:
    """One job of :func:`run_many`, in its thread: its records, or its error, into ``records``."""
    try:
        with contextlib.closing(executor.run(job, owner, on_note=on_note, stop=stop)) as steps:
            for record in steps:
                records.put((index, record))
                if stop.is_set():
                    return  # closing the run stops it within a step
    except NSTError as error:
        records.put((index, error))
    except Exception as error:  # the job's failure, in words; the rest go on
        records.put((index, NSTError(f"{type(error).__name__}: {error}")))


def run_together(
    executor: Executor, jobs: Sequence[Job[R]], *, parallel: int, owner: str = ""
) -> Generator[tuple[int, R], None, None]:
    """:func:`run_many` for runs that make one thing together (a figure's pictures): the first
    job that fails ends them all, its error raised here."""
    many = run_many(executor, jobs, parallel=parallel, owner=owner)
    with contextlib.closing(many) as records:
        for index, record in records:
            if isinstance(record, NSTError):
                raise record
            yield index, record
