"""Runs on a Ray cluster: one worker process per CPU node (or per GPU) that keeps VGG19 loaded.

The only module that imports ``ray`` (``pip install -r requirements-cluster.txt``);
:func:`nst.execution.executor_for` imports it only for a cluster address.

- **Workers.** :class:`RayExecutor` starts one :class:`StyleWorker` actor per alive node:
  on a node with GPUs one per GPU (``num_gpus=1``), otherwise one that takes all of the
  node's CPUs, so two runs never share a CPU. Each is pinned to its node
  (``NodeAffinitySchedulingStrategy``). A worker loads a VGG19 on its first job and keeps
  it (:func:`nst.execution.local.local_extractor` in its own process). Nodes that join later
  get a worker at the next refresh; refreshes happen one at a time.
- **Jobs of any kind.** A worker receives a job's envelope (:func:`nst.execution.base.envelope`),
  reads it back with the job's own kind and streams the records that :meth:`Job.serve` makes.
  Byte strings of a MiB or more (a clip) go into the object store once and travel as references.
- **Versions.** A new worker reports :func:`nst.execution.wire.project_version` of the code it
  imported; a worker with other code is stopped and named in :attr:`RayExecutor.refused`.
- **Streams.** A run is a streaming generator (an actor method that yields) with backpressure:
  the worker is at most ``BACKPRESSURE`` records ahead of its reader, so the reader sets the
  pace as the engine's contract says. Stop is ``ray.cancel`` on the stream; the worker checks
  ``is_canceled()`` after every record; :meth:`_RayRun.cancel` waits for the stream's end at
  most ``STOP_SECONDS``, then kills the worker (it is replaced) and says so in the log.
- **Faults, once for every kind.** While records arrive the run keeps the job that would do
  what is left (:meth:`Job.after`: a picture goes on from its latest full-size picture, a
  chunk from the frame after its last finished one). When the worker dies, that job starts
  on another worker, with a note for the user. With no worker left it raises
  :class:`~nst.errors.ClusterError` (carrying the latest picture), or, with the local
  fallback, goes on in this process.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import ray
from ray.exceptions import AuthenticationError, GetTimeoutError, RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from nst.errors import ClusterError, NSTError
from nst.execution.base import Executor, Job, R, Run, envelope, job_from_envelope
from nst.execution.local import LocalRun, local_extractor, local_place
from nst.execution.wire import error_from_wire, error_to_wire, from_png, project_version
from nst.runqueue import RunQueue, Ticket
from nst.settings import Settings

log = logging.getLogger(__name__)

NAMESPACE = "nst"
CONNECT_SECONDS = 5.0  # the head's port must answer within this
HELLO_SECONDS = 120.0  # a new worker must answer within this (process start, imports)
STOP_SECONDS = 6.0  # a stopped run must end within this, else its worker is killed and replaced
BACKPRESSURE = 4  # a worker runs at most this many records ahead of its reader
STORED_BYTES = 2**20  # byte strings this long or longer travel through the object store, put there once
IDLE_SECONDS = 2.0  # how long a driver waits for workers to say whether another driver is using them
IDLE_POLL_SECONDS = 0.5  # how often a run waiting for a worker asks again
STORED_KEPT = 4  # the object store references kept for reuse (a clip's, for each of its chunks)


class StyleWorker:
    """A Ray actor: runs jobs one at a time and keeps its VGG19 between them."""

    def __init__(self) -> None:
        self.place = local_place()
        self._turn = threading.Lock()  # one run at a time, whichever driver sent it

    def idle(self) -> bool:
        """No run is going on here (a driver prefers such a worker: another driver may be using this one)."""
        return not self._turn.locked()

    def hello(self) -> dict[str, Any]:
        """Who this worker is: the code's version, its node and host, device and threads."""
        import torch  # noqa: PLC0415  # the worker's own process: torch is loaded there anyway

        from nst.device import resolve_device  # noqa: PLC0415  # probed where the worker runs

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

    @ray.method(_generator_backpressure_num_objects=BACKPRESSURE)
    def run(self, message: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Run a job from its envelope; yields every record as plain data, or one error record."""
        if message.get("version") != project_version():
            yield error_to_wire(
                ClusterError(f"this worker runs nst {project_version()}, the job comes from {message.get('version')}")
            )
            return
        context = ray.get_runtime_context()
        while not self._turn.acquire(timeout=0.2):  # another driver's run is here: this one waits for it
            if context.is_canceled():
                return
        try:
            job = job_from_envelope({**message, "job": _fetched(message["job"])})
            stream = job.serve(self.place)
            try:
                for record in stream:
                    yield record
                    if context.is_canceled():  # ray.cancel() on the stream: Stop
                        return
            finally:
                stream.close()
        except NSTError as error:
            yield error_to_wire(error)
        finally:
            self._turn.release()


# max_concurrency 4: hello, idle and warm answer while a run goes on, and a second driver's run can wait its turn.
_Actor: Any = cast(Any, ray.remote)(max_concurrency=4, max_restarts=0)(StyleWorker)


def _fetched(wire: dict[str, Any]) -> dict[str, Any]:
    """A job's wire form with the values that travelled through the object store fetched."""
    return {key: ray.get(value) if isinstance(value, ray.ObjectRef) else value for key, value in wire.items()}


@dataclass(eq=False)
class _Worker:
    actor: Any
    node: str
    host: str
    device: str
    threads: int
    number: int  # this executor's count of the workers it started
    pid: int = 0  # the worker's process on its node
    busy: bool = False
    lost: bool = False

    def __str__(self) -> str:
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"worker {self.number} on {self.host} ({self.device}, {threads})"


class RayExecutor(Executor):
    """Runs jobs on the workers of a Ray cluster; see the module's documentation."""

    remote = True

    def __init__(self, address: str, *, fallback_local: bool = False, warm: bool = True) -> None:
        self.name = f"Ray cluster ({address})"
        self.address = address
        self.fallback_local = fallback_local
        self.refused: list[str] = []  # the last refresh's workers that could not serve, in words
        self._warm = warm
        self._pool: list[_Worker] = []
        self._started = 0
        self._other_code: set[str] = set()  # nodes whose worker ran other code: not asked again
        self._lock = threading.Condition()  # the pool's state
        self._refreshing = threading.Lock()  # one refresh at a time (each may start workers)
        self._stored: list[tuple[bytes, Any]] = []  # byte strings put in the object store, newest last
        self._owns_connection = False
        if not ray.is_initialized():
            _probe(address)
            try:
                ray.init(address=address, namespace=NAMESPACE, logging_level=logging.WARNING, log_to_driver=False)
            except AuthenticationError as error:
                raise ClusterError(
                    f"cannot join the Ray cluster at {address}: its token is missing or wrong here (copy the head's "
                    "~/.ray/auth_token to ~/.ray/auth_token on this machine and set RAY_AUTH_MODE=token; "
                    "docs/cluster.md, troubleshooting)"
                ) from error
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
        """Start a worker on every alive node (per GPU) that has none; forget workers whose node is gone.

        One refresh at a time: a second caller waits for the first and then looks again, so
        two recoveries never start two workers for one node's CPUs.
        """
        with self._refreshing:
            refused: list[str] = []
            nodes = [node for node in ray.nodes() if node.get("Alive")]  # type: ignore[no-untyped-call]
            served = self._forget_gone({node["NodeID"] for node in nodes})
            started = [
                (node, actor, actor.hello.remote())
                for node in nodes
                if node["NodeID"] not in served and node["NodeID"] not in self._other_code
                for actor in _start_actors(node)
            ]
            for node, actor, hello in started:
                worker = self._greet(node, actor, hello, refused)
                if worker is not None:
                    with self._lock:
                        self._pool.append(worker)
                        self._lock.notify_all()
            self.refused = refused
            for message in refused:
                log.warning("%s", message)
            self._resize()

    def _forget_gone(self, alive: set[str]) -> set[str]:
        """Mark the workers of nodes that are gone as lost; the nodes that still have a worker."""
        with self._lock:
            for worker in self._pool:
                if worker.node not in alive:
                    worker.lost = True
            self._pool = [worker for worker in self._pool if not worker.lost or worker.busy]
            return {worker.node for worker in self._pool if not worker.lost}

    def _greet(self, node: dict[str, Any], actor: Any, hello: Any, refused: list[str]) -> _Worker | None:
        """A started actor as a worker of the pool, or None (and why, in ``refused``)."""
        where = node.get("NodeManagerHostname") or node.get("NodeManagerAddress") or node["NodeID"][:8]
        try:
            facts = ray.get(hello, timeout=HELLO_SECONDS)
        except GetTimeoutError:
            refused.append(f"the worker on {where} did not start in {HELLO_SECONDS:.0f} s (no free CPU?)")
            ray.kill(actor)
            return None
        except RayError as error:
            refused.append(f"the worker on {where} could not start: {_first_line(error)}")
            return None
        if facts["version"] != project_version():
            refused.append(
                f"the worker on {facts['host']} runs nst {facts['version']}, this is {project_version()}: "
                "install the same checkout on every node (docs/cluster.md, updating)"
            )
            self._other_code.add(facts["node"])  # a node restarted after an update has a new id
            ray.kill(actor)
            return None
        self._started += 1
        if self._warm:
            actor.warm.remote(dataclasses.asdict(Settings()))
        return _Worker(actor, facts["node"], facts["host"], facts["device"], facts["threads"], self._started,
                       facts["pid"])  # fmt: skip

    def _resize(self) -> None:
        self.queue.resize(max(1, self.workers))

    def _take(self, timeout: float) -> _Worker | None:
        """A free worker, marked busy; None when none is free within ``timeout`` s or none is alive.

        Free means free of this driver's runs and of any other driver's (the workers are asked:
        a batch from a terminal shares them with the app's server), so a run never queues
        behind another driver's run on one worker while another worker is idle.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                free = [worker for worker in self._pool if not worker.lost and not worker.busy]
                alive = any(not worker.lost for worker in self._pool)
                if not free and alive and deadline > time.monotonic():
                    self._lock.wait(min(IDLE_POLL_SECONDS, deadline - time.monotonic()))
                    continue
            chosen = _idle_one(free)  # asks the workers: outside the lock
            if chosen is not None:
                with self._lock:
                    if not chosen.busy and not chosen.lost:
                        chosen.busy = True
                        return chosen
            if not alive or time.monotonic() >= deadline:
                return None
            time.sleep(min(IDLE_POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            worker.busy = False
            self._lock.notify_all()

    def _lose(self, worker: _Worker) -> None:
        ray.kill(worker.actor)  # if it is only unreachable or wedged, its CPUs are freed for a new worker
        with self._lock:
            worker.lost, worker.busy = True, False
            self._pool = [w for w in self._pool if w is not worker]
            self._lock.notify_all()
        self._resize()

    def _acquire(self) -> _Worker | None:
        """A worker for a run: a free one now; else, after asking the cluster for more (nodes that
        joined), the next one to be free while any is alive; None when none is left."""
        worker = self._take(timeout=0)
        if worker is None:
            self.refresh()
        while worker is None and self.workers:
            worker = self._take(timeout=1.0)
        return worker

    def _replace_soon(self) -> None:
        """Start a replacement for a killed worker in the background (the caller does not wait)."""
        threading.Thread(target=self._refresh_quietly, daemon=True).start()

    def _refresh_quietly(self) -> None:
        try:
            self.refresh()
        except RayError as error:  # e.g. the cluster went away meanwhile: the next run will say so
            log.warning("could not replace a worker: %s", _first_line(error))

    def store(self, wire: dict[str, Any]) -> dict[str, Any]:
        """A job's wire form with its long byte strings in the object store, each put there once."""
        return {key: self._stored_ref(value) if _long_bytes(value) else value for key, value in wire.items()}

    def _stored_ref(self, data: bytes) -> Any:
        with self._lock:
            for kept, ref in self._stored:
                if kept is data:
                    return ref
        ref = ray.put(data)
        with self._lock:
            self._stored = [*self._stored[-(STORED_KEPT - 1) :], (data, ref)]
        return ref

    def start(self, ticket: Ticket, job: Job[R]) -> Run[R]:
        worker = self._acquire()
        if worker is None:
            raise ClusterError(f"no worker of the Ray cluster at {self.address} is free or alive")
        return _RayRun(self, worker, job)

    def close(self) -> None:
        """Let go of the workers. They are shared with other drivers, so they are not stopped here;
        those this driver started end with its connection, when it made one."""
        with self._lock:
            self._pool = []
            self._stored = []
        if self._owns_connection and ray.is_initialized():
            ray.shutdown()


def _start_actors(node: dict[str, Any]) -> list[Any]:
    """A node's workers, started: one per GPU, else one with all its CPUs; none on a node with neither."""
    resources = node.get("Resources", {})
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
    strategy = NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
    if gpus:
        shares = [{"num_gpus": 1, "num_cpus": max(1, cpus // gpus) if cpus else 0}] * gpus
    elif cpus:
        shares = [{"num_cpus": cpus}]
    else:
        shares = []  # e.g. a head started with --num-cpus=0 only coordinates
    # Named per code version, node and share: a second driver (the app, and a batch from a terminal)
    # finds and shares the same workers instead of waiting for CPUs that they hold.
    names = [f"nst-{project_version()}-{node['NodeID'][:16]}-{k}" for k in range(len(shares))]
    return [
        _Actor.options(
            name=name, namespace=NAMESPACE, get_if_exists=True, scheduling_strategy=strategy, **share
        ).remote()
        for name, share in zip(names, shares, strict=True)
    ]


def _idle_one(free: list[_Worker]) -> _Worker | None:
    """The first of ``free`` that no other driver is using now; None when all are in use.

    A worker that does not answer is taken as idle: its run then finds out what happened to it.
    """
    if not free:
        return None
    try:
        idle = ray.get([worker.actor.idle.remote() for worker in free], timeout=IDLE_SECONDS)
    except (GetTimeoutError, RayError):
        return free[0]
    return next((worker for worker, quiet in zip(free, idle, strict=True) if quiet), None)


def _long_bytes(value: object) -> bool:
    return isinstance(value, bytes) and len(value) >= STORED_BYTES


class _RayRun(Run[R]):
    """A job streaming from a worker; goes on on another worker when its worker is lost."""

    def __init__(self, executor: RayExecutor, worker: _Worker, job: Job[R]) -> None:
        super().__init__()
        self._executor = executor
        self._job = job
        self._rest: Job[R] = job  # what is left to do, as a job: started elsewhere if the worker is lost
        self._latest: bytes | None = None  # the latest picture that arrived (kept for the user)
        self._local: Run[R] | None = None  # the rest of the run, here, after the cluster's last worker went
        self._worker: _Worker | None = None
        self._stream: Any = None
        self._launch(worker, job)

    def _launch(self, worker: _Worker, job: Job[R]) -> None:
        self._worker, self.worker, self.node = worker, str(worker), worker.node
        message = envelope(job, project_version())
        self._stream = worker.actor.run.remote({**message, "job": self._executor.store(message["job"])})

    def __next__(self) -> R:
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
            self._rest = self._rest.after(item)
            self._latest = _picture_of(item) or self._latest
            return self._job.record_from_wire(item)

    def _recover(self, error: RayError) -> None:
        lost = self._worker
        assert lost is not None
        self._executor._lose(lost)
        self._worker = None
        log.warning("worker %s lost: %s", lost, _first_line(error))
        if self._rest.finished():
            return
        since = self._rest.resumes_from()
        worker = self._executor._acquire()
        if worker is not None:
            self.notes.append(f"A worker was lost ({lost}); the run continued from {since} on {worker}.")
            self._launch(worker, self._rest)
            return
        if self._executor.fallback_local:
            self.notes.append(f"A worker was lost ({lost}) and none is left; the run continued from {since} here.")
            self.worker, self.node = "this process", ""
            self._local = LocalRun(self._rest, local_place())
            return
        raise ClusterError(
            f"the run's worker ({lost.host}) was lost and no other worker of the cluster is free or alive; "
            f"the latest picture ({since}) is kept",
            last_image=None if self._latest is None else from_png(self._latest),
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
            log.warning("%s did not stop within %.0f s; it was killed and is being replaced", worker, STOP_SECONDS)
            self.notes.append(f"{worker} did not stop within {STOP_SECONDS:.0f} s; it was stopped by force.")
            self._executor._lose(worker)
            self._worker = None
            self._executor._replace_soon()
            return
        self._finish()


def _picture_of(item: dict[str, Any]) -> bytes | None:
    """The picture a record brought, if any (a picture's or a frame's progress)."""
    progress = item.get("progress")
    return progress.get("image") if isinstance(progress, dict) else None


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


def _stop(stream: Any, seconds: float = STOP_SECONDS) -> bool:
    """Cancel a worker's stream and wait at most ``seconds`` for it to end (the worker checks
    after every record); False when it did not end in time. Unread records are not fetched."""
    ray.cancel(stream)
    ready, _ = ray.wait([stream.completed()], timeout=seconds, fetch_local=False)
    return bool(ready)


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
