"""Runs on a Ray cluster: one worker process per CPU node (or per GPU) that keeps VGG19 loaded.

The only module that imports ``ray`` (``pip install -r requirements-cluster.txt``);
:func:`nst.executor.executor_for` imports it only for a cluster address.

- **Workers.** :class:`RayExecutor` starts one :class:`StyleWorker` actor per alive node:
  on a node with GPUs one per GPU (``num_gpus=1``), otherwise one that takes all of the
  node's CPUs, so two runs never share a CPU. Each is pinned to its node
  (``NodeAffinitySchedulingStrategy``). A worker loads a VGG19 on its first run and keeps
  it (``nst.executor.local_extractor`` in its own process); a run never reloads weights.
  Nodes that join later get a worker at the next run.
- **Versions.** A new worker reports :func:`nst.executor.project_version` of the code it
  imported; a worker with other code is stopped and named in :attr:`RayExecutor.refused`.
- **Streams.** A run is a streaming generator (an actor method that yields): every step's
  record comes back as it is made, pictures as PNG bytes. Stop is ``ray.cancel`` on the
  stream; the worker checks ``is_canceled()`` after every step and ends the run, and
  :meth:`_RayRun.cancel` waits for that, so the worker is free when it returns.
- **Faults.** When a worker dies mid-run (its process killed, its node lost) the run goes
  on on another worker from the latest picture it sent, numbering its steps on
  (:class:`nst.engine.Resume`), with a note for the user. With no worker left it raises
  :class:`~nst.executor.ClusterError` carrying that picture, or, with the local fallback,
  goes on in this process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, cast

import ray
from ray.exceptions import GetTimeoutError, RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from nst.engine import Progress, Resume
from nst.errors import NSTError
from nst.executor import (
    ClusterError,
    Executor,
    Job,
    Run,
    _LocalRun,
    error_from_wire,
    error_to_wire,
    job_from_wire,
    job_to_wire,
    local_extractor,
    progress_from_wire,
    progress_to_wire,
    project_version,
)
from nst.runqueue import RunQueue, Ticket
from nst.settings import Settings
from nst.targets import TargetCache

log = logging.getLogger(__name__)

NAMESPACE = "nst"
CONNECT_SECONDS = 5.0  # the head's port must answer within this
HELLO_SECONDS = 120.0  # a new worker must answer within this (process start, imports)
CANCEL_SECONDS = 120.0  # a stopped run must end within this (one step), else its worker is killed
REPLACEMENT_SECONDS = 30.0  # after a loss, wait this long at most for another worker to be free


class StyleWorker:
    """A Ray actor: runs jobs one at a time and keeps its VGG19 between them."""

    def __init__(self) -> None:
        self.cache = TargetCache(max_entries=8)

    def hello(self) -> dict[str, Any]:
        """Who this worker is: the code's version, its node and host, device and threads."""
        import torch  # noqa: PLC0415

        from nst.device import resolve_device  # noqa: PLC0415

        return {
            "version": project_version(),
            "node": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "device": str(resolve_device("auto")),
            "threads": torch.get_num_threads(),
        }

    def warm(self, settings: dict[str, Any]) -> None:
        """Load the VGG19 these settings need now, so that the first run does not wait for it."""
        local_extractor(Settings(**settings))

    def run(self, wire: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Run a job (:func:`nst.executor.job_to_wire`); yields every step's record, or one error."""

        def records() -> Generator[dict[str, Any], None, None]:
            steps = _LocalRun(job_from_wire(wire), self.cache)
            try:
                for progress in steps:
                    yield {"progress": progress_to_wire(progress)}
            finally:
                steps.cancel()

        yield from self._serve(wire, records)

    def video(self, wire: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Make a chunk of a clip (:func:`nst.video.video_chunk`); yields its records, or one error."""
        from nst.video import video_chunk  # noqa: PLC0415

        def records() -> Generator[dict[str, Any], None, None]:
            return video_chunk(wire, extractor=local_extractor(Settings(**wire["settings"])), cache=self.cache)

        yield from self._serve(wire, records)

    def _serve(
        self, wire: dict[str, Any], records: Callable[[], Generator[dict[str, Any], None, None]]
    ) -> Iterator[dict[str, Any]]:
        """The records of a job from this project's version, until the caller cancels; an error as a record."""
        if wire.get("version") != project_version():
            yield error_to_wire(
                ClusterError(f"this worker runs nst {project_version()}, the job comes from {wire.get('version')}")
            )
            return
        context = ray.get_runtime_context()
        try:
            with contextlib.closing(records()) as stream:
                for record in stream:
                    yield record
                    if context.is_canceled():  # ray.cancel() on the stream: Stop
                        return
        except NSTError as error:
            yield error_to_wire(error)


# max_concurrency 2: hello and warm answer while a run goes on (runs are one at a time: the pool sees to it).
_Actor: Any = cast(Any, ray.remote)(max_concurrency=2, max_restarts=0)(StyleWorker)


@dataclass(eq=False)
class _Worker:
    actor: Any
    node: str
    host: str
    device: str
    threads: int
    number: int  # this executor's count of the workers it started
    busy: bool = False
    lost: bool = False

    def __str__(self) -> str:
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"worker {self.number} on {self.host} ({self.device}, {threads})"


class RayExecutor(Executor):
    """Runs jobs on the workers of a Ray cluster; see the module's documentation."""

    def __init__(self, address: str, *, fallback_local: bool = False, warm: bool = True) -> None:
        self.name = f"Ray cluster ({address})"
        self.address = address
        self.fallback_local = fallback_local
        self.refused: list[str] = []  # the last refresh's workers that could not serve, in words
        self._warm = warm
        self._pool: list[_Worker] = []
        self._started = 0
        self._other_code: set[str] = set()  # nodes whose worker ran other code: not asked again
        self._lock = threading.Condition()
        self._owns_connection = False
        if not ray.is_initialized():
            _probe(address)
            try:
                ray.init(address=address, namespace=NAMESPACE, logging_level=logging.WARNING, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise ClusterError(
                    f"cannot join the Ray cluster at {address}: {_first_line(error)} (a cluster started with "
                    "RAY_AUTH_MODE=token needs the same variable and its token here too)"
                ) from error
            self._owns_connection = True
        self.queue = RunQueue(1)
        self.refresh()
        if not self.workers:
            reasons = "; ".join(self.refused) or "no node offers a CPU or a GPU"
            self.close()
            raise ClusterError(f"the Ray cluster at {address} has no usable worker: {reasons}")

    # -- the pool

    @property
    def workers(self) -> int:
        with self._lock:
            return sum(not worker.lost for worker in self._pool)

    def describe(self) -> str:
        with self._lock:
            alive = [worker for worker in self._pool if not worker.lost]
            free = sum(not worker.busy for worker in alive)
        return f"{self.name}: {len(alive)} worker{'s' if len(alive) != 1 else ''}, {free} free"

    def refresh(self) -> None:
        """Start a worker on every alive node (per GPU) that has none; forget workers whose node is gone."""
        self.refused = []  # this refresh's refusals (each is logged)
        nodes = [node for node in ray.nodes() if node.get("Alive")]  # type: ignore[no-untyped-call]
        alive_ids = {node["NodeID"] for node in nodes}
        with self._lock:
            for worker in self._pool:
                if worker.node not in alive_ids:
                    worker.lost = True
            self._pool = [worker for worker in self._pool if not worker.lost or worker.busy]
            served = {worker.node for worker in self._pool if not worker.lost}
        started = []
        for node in nodes:
            if node["NodeID"] in served or node["NodeID"] in self._other_code:
                continue
            resources = node.get("Resources", {})
            gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
            strategy = NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
            if gpus:
                shares = [{"num_gpus": 1, "num_cpus": max(1, cpus // gpus) if cpus else 0}] * gpus
            elif cpus:
                shares = [{"num_cpus": cpus}]
            else:
                continue  # e.g. a head started with --num-cpus=0 only coordinates
            for share in shares:
                actor = _Actor.options(scheduling_strategy=strategy, **share).remote()
                started.append((node, actor, actor.hello.remote()))
        for node, actor, hello in started:
            where = node.get("NodeManagerHostname") or node.get("NodeManagerAddress") or node["NodeID"][:8]
            try:
                facts = ray.get(hello, timeout=HELLO_SECONDS)
            except GetTimeoutError:
                self.refused.append(f"the worker on {where} did not start in {HELLO_SECONDS:.0f} s (no free CPU?)")
                ray.kill(actor)
                continue
            except RayError as error:
                self.refused.append(f"the worker on {where} could not start: {_first_line(error)}")
                continue
            if facts["version"] != project_version():
                self.refused.append(
                    f"the worker on {facts['host']} runs nst {facts['version']}, this is {project_version()}: "
                    "install the same checkout on every node (see the README's cluster section)"
                )
                self._other_code.add(facts["node"])  # a node restarted after an update has a new id
                ray.kill(actor)
                continue
            self._started += 1
            worker = _Worker(actor, facts["node"], facts["host"], facts["device"], facts["threads"], self._started)
            if self._warm:
                actor.warm.remote(dataclasses.asdict(Settings()))
            with self._lock:
                self._pool.append(worker)
        for message in self.refused:
            log.warning("%s", message)
        self._resize()

    def _resize(self) -> None:
        self.queue.resize(max(1, self.workers))

    def _take(self, timeout: float) -> _Worker | None:
        """A free worker, marked busy; None when none is free within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for worker in self._pool:
                    if not worker.lost and not worker.busy:
                        worker.busy = True
                        return worker
                left = deadline - time.monotonic()
                if left <= 0 or not any(not worker.lost for worker in self._pool):
                    return None
                self._lock.wait(left)

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            worker.busy = False
            self._lock.notify_all()

    def _lose(self, worker: _Worker) -> None:
        ray.kill(worker.actor)  # if it is only unreachable, its CPUs are freed for a new worker
        with self._lock:
            worker.lost, worker.busy = True, False
            self._pool = [w for w in self._pool if w is not worker]
            self._lock.notify_all()
        self._resize()

    def _acquire(self) -> _Worker | None:
        """A free worker now, else after asking the cluster for more (nodes that joined), waiting a while."""
        worker = self._take(timeout=0)
        if worker is None:
            self.refresh()
            worker = self._take(timeout=REPLACEMENT_SECONDS)
        return worker

    def _first_worker(self) -> _Worker:
        worker = self._acquire()
        if worker is None:
            raise ClusterError(f"no worker of the Ray cluster at {self.address} is free or alive")
        return worker

    def start(self, ticket: Ticket, job: Job) -> Run:
        return _RayRun(self, self._first_worker(), job)

    def start_chunk(self, ticket: Ticket, wire: dict[str, Any]) -> Generator[dict[str, Any], None, None]:
        worker = self._first_worker()
        wire = {**wire, "version": project_version()}
        while True:  # until the chunk is done; again on another worker after a loss
            stream = worker.actor.video.remote(wire)
            ended = lost = False
            try:
                for ref in stream:
                    try:
                        item = ray.get(ref)
                    except RayError as error:
                        ended = lost = True
                        self._lose(worker)
                        log.warning("%s lost during frames %d-%d: %s", worker, wire["first"] + 1, wire["stop"],
                                    _first_line(error))  # fmt: skip
                        break
                    if "error" in item:
                        raise error_from_wire(item)
                    if item["progress"]["step"] >= item["progress"]["total"]:  # a finished frame: go on after it
                        wire = {**wire, "first": item["frame"], "previous": item["progress"]["image"]}
                    yield {**item, "node": worker.node}
                else:
                    ended = True
            finally:
                if not ended and not _stop(stream):
                    self._lose(worker)  # it would not stop: replaced
                if not worker.lost:
                    self._give_back(worker)
            if not lost or wire["first"] >= wire["stop"]:
                return
            lost_worker, replacement = worker, self._replacement()
            if replacement is None:
                raise ClusterError(
                    f"{lost_worker} was lost while it made frames up to {wire['stop']} and no worker is left; "
                    "the frames written before are kept"
                )
            worker = replacement
            yield {"note": f"A worker was lost ({lost_worker}); frames {wire['first'] + 1}-{wire['stop']} "
                   f"went on on {worker}, from the frame before."}  # fmt: skip

    def _replacement(self) -> _Worker | None:
        """Another worker for a chunk whose worker was lost: a free one, else the next to be free."""
        worker = self._take(timeout=0)
        if worker is None:
            self.refresh()
        while worker is None and self.workers:
            worker = self._take(timeout=REPLACEMENT_SECONDS)  # the other chunks end, one by one
        return worker

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, []
        for worker in pool:
            ray.kill(worker.actor)
        if self._owns_connection and ray.is_initialized():
            ray.shutdown()


class _RayRun(Run):
    """A job streaming from a worker; moves to another worker when its worker is lost."""

    def __init__(self, executor: RayExecutor, worker: _Worker, job: Job) -> None:
        super().__init__()
        self._executor = executor
        self._job = job
        self._latest: Progress | None = None  # the latest record that brought a picture
        self._local: Run | None = None  # the rest of the run, here, after the cluster's last worker went
        self._worker: _Worker | None = None
        self._stream: Any = None
        self._launch(worker, job)

    def _launch(self, worker: _Worker, job: Job) -> None:
        self._worker, self.worker = worker, str(worker)
        self._stream = worker.actor.run.remote(job_to_wire(job))

    def __next__(self) -> Progress:
        while True:
            if self._local is not None:
                return next(self._local)
            if self._worker is None:
                raise StopIteration
            try:
                item = ray.get(next(self._stream))
            except StopIteration:
                self._finish()
                raise
            except RayError as error:  # the worker died or its node was lost
                self._recover(error)
                continue
            if "error" in item:
                self._finish()
                raise error_from_wire(item)
            progress = progress_from_wire(item["progress"])
            if progress.image is not None:
                self._latest = progress
            return progress

    def _recover(self, error: RayError) -> None:
        lost = self._worker
        assert lost is not None
        self._executor._lose(lost)
        log.warning("worker %s lost: %s", lost, _first_line(error))
        latest = self._latest
        job = self._job
        if latest is not None and latest.image is not None and latest.step < latest.total:
            job = dataclasses.replace(job, resume=Resume(latest.image, step=latest.step, total=latest.total))
        since = f"step {latest.step}" if latest is not None else "the start"
        worker = self._executor._acquire()  # a free worker now, before asking the cluster for more
        if worker is not None:
            self.notes.append(f"A worker was lost ({lost}); the run continued from {since} on {worker}.")
            self._launch(worker, job)
            return
        self._worker = None
        if self._executor.fallback_local:
            self.notes.append(f"A worker was lost ({lost}) and none is left; the run continued from {since} here.")
            self.worker = "this process"
            self._local = _LocalRun(job, TargetCache())
            return
        raise ClusterError(
            f"the run's worker ({lost.host}) was lost and no other worker of the cluster is free or alive; "
            f"the latest picture (step {latest.step if latest else 0}) is kept",
            last_image=latest.image if latest is not None else None,
            step=latest.step if latest is not None else 0,
        )

    def _finish(self) -> None:
        if self._worker is not None:
            self._executor._give_back(self._worker)
            self._worker = None

    def cancel(self) -> None:
        if self._local is not None:
            self._local.cancel()
        worker = self._worker
        if worker is None:
            return
        if not _stop(self._stream):
            log.warning("worker %s did not stop within %.0f s; it is replaced", worker, CANCEL_SECONDS)
            self._executor._lose(worker)
            self._worker = None
            return
        self._finish()


def _probe(address: str, seconds: float = CONNECT_SECONDS) -> None:
    """Refuse at once an address where nothing answers (Ray itself retries for minutes)."""
    if address == "auto":
        return
    if "://" in address:
        raise ClusterError(
            f"give the head's HOST:PORT (e.g. lab-pc-1:6379), not {address!r}: this app joins the cluster "
            "directly (Ray Client addresses, ray://, are not used)"
        )
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=seconds):
            pass
    except ValueError:
        raise ClusterError(f"a cluster address is the head's HOST:PORT or auto, not {address!r}") from None
    except OSError as error:
        raise ClusterError(
            f"cannot reach the Ray cluster at {address} ({error.strerror or error}): is its head started "
            "(ray start --head), and is the port open to this machine?"
        ) from None


def _stop(stream: Any) -> bool:
    """Cancel a worker's stream and wait until it has ended (the worker checks after every step).

    False when it did not end within ``CANCEL_SECONDS``.
    """
    ray.cancel(stream)
    deadline = time.monotonic() + CANCEL_SECONDS
    try:
        for ref in stream:
            ray.get(ref, timeout=max(0.1, deadline - time.monotonic()))
    except GetTimeoutError:
        return False
    except RayError:
        pass  # cancelled or died: either way it is over
    return True


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
