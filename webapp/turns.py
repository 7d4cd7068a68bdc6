"""Every run that uses the model takes its turn first, then runs on an executor: one path, here or on a cluster.

A server with many browser sessions (a classroom) runs one thing at a time per device
(``NST_RUNS_PER_DEVICE``); the others wait in a fair queue and see their place. Here
(no ``NST_CLUSTER``), :func:`model_turn` takes the device's turn and loads the shared VGG19,
so places follow the order of the clicks even while the first click of a fresh server is
still loading it; the session's runs then go through a
:class:`~nst.execution.local.LocalExecutor` on that model (:func:`executor_in_turn`). On a
cluster (:func:`webapp.resources.backend`) they go to the cluster's fair queue and workers.
Either way a view gets an :class:`~nst.execution.base.Executor`: :func:`run_turn` for one
run, :func:`small_runs_ui` for a figure's runs, :func:`executor_turn` for the rest.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import streamlit as st

from nst import FeatureExtractor, NSTError, Progress, Settings, TargetCache
from nst.device import resolve_device
from nst.execution import Executor, LocalExecutor, Place, Run
from nst.jobs.picture import PictureJob
from nst.runqueue import Ticket
from webapp.resources import backend, run_queue, shared_extractor
from webapp.sidebar import BIND, WEIGHT_LABELS
from webapp.state import session


@dataclass(frozen=True)
class RunTurn:
    """This session's turn for one run (the main run, a print size), here or on a cluster worker:
    ``start(job)`` begins it."""

    start: Callable[[PictureJob], Run[Progress]]  # close() stops it
    waited: float  # seconds in the queue
    number: int  # the backend's count of runs, in order of arrival
    remote: bool  # on a cluster worker (pictures cross the network display-sized)


@dataclass(frozen=True)
class ExecutorTurn:
    """This session's turn, and the executor its runs go through now."""

    executor: Executor
    ticket: Ticket
    waited: float  # seconds in the queue
    number: int  # the backend's count of runs, in order of arrival


def stop_point() -> None:
    """Where a run in the script's thread may end inside a step (``transfer``'s ``checkpoint``).

    Reading the session state is one of Streamlit's yield points, as sending an element is: a
    pending Stop or rerun raises Streamlit's control exception here, so Stop does not wait for
    the step to end (seconds at 512 px on a laptop). Nothing is sent to the page.
    """
    _ = "nst" in st.session_state


@contextlib.contextmanager
def run_turn(status: Any, settings: Settings, cache: TargetCache) -> Iterator[RunTurn | None]:
    """Wait for a turn for one run on the server's backend; yields None after saying why in
    ``status`` when no run can start. ``cache`` keeps the targets of runs here (live tuning)."""
    with executor_turn(status, settings, cache) as turn:
        if turn is None:
            yield None
            return
        executor, ticket = turn.executor, turn.ticket
        yield RunTurn(lambda job: executor.start(ticket, job), turn.waited, turn.number, executor.remote)


@contextlib.contextmanager
def executor_turn(status: Any, settings: Settings, cache: TargetCache | None = None) -> Iterator[ExecutorTurn | None]:
    """Wait for this session's turn on the backend: here the device's (the model loaded), on a
    cluster the cluster's queue, showing the place and the free workers."""
    chosen = backend()
    if chosen.blocked:
        status.error(chosen.problem)
        yield None
        return
    if chosen.cluster is not None:
        with _cluster_turn(status, chosen.cluster) as remote:
            yield remote
        return
    with model_turn(status, settings) as turn:
        if turn is None:
            yield None
            return
        executor = executor_in_turn(turn, cache)
        yield ExecutorTurn(executor, turn.ticket, turn.waited, turn.number)


@contextlib.contextmanager
def _cluster_turn(status: Any, executor: Executor) -> Iterator[ExecutorTurn]:
    started = time.perf_counter()

    def waiting(ahead: int) -> None:  # an st call: a Stop or a rerun ends the wait here
        status.info(
            f"Waiting for a worker of the cluster: {ahead} run{'s' if ahead > 1 else ''} ahead of yours, "
            f"{executor.free} of {executor.workers} workers free ({time.perf_counter() - started:.0f} s so far). "
            "It starts by itself; **Stop** leaves the queue.",
            icon=":material/hourglass_top:",
        )

    with executor.turn(session().tag, on_wait=waiting) as ticket:
        assert ticket is not None  # no stop event: the wait ends only with the turn (or an exception)
        yield ExecutorTurn(executor, ticket, time.perf_counter() - started, ticket.number)


@contextlib.contextmanager
def runs_executor(status: Any, settings: Settings, cache: TargetCache | None = None) -> Iterator[Executor | None]:
    """An executor for runs that take their own turns (a figure's, the race's, the Video tab's):
    the cluster's, or here one on the shared model during this session's turn on the device.
    Yields None after saying why in ``status`` when no run can start."""
    chosen = backend()
    if chosen.blocked:
        status.error(chosen.problem)
        yield None
    elif chosen.cluster is not None:
        yield chosen.cluster  # no turn held here: each run waits for its own in the cluster's queue
    else:
        with model_turn(status, settings) as turn:
            yield None if turn is None else executor_in_turn(turn, cache)


def executor_in_turn(turn: Turn, cache: TargetCache | None = None) -> LocalExecutor:
    """The session's runs during its turn on the device: in this process, on the shared model, one at a
    time (its own queue: the device's turn is already this session's)."""
    extractor = turn.extractor
    return LocalExecutor(place=Place(lambda _settings: extractor, cache if cache is not None else TargetCache()))


@dataclass(frozen=True)
class Turn:
    """This session's turn on a device, with the model loaded."""

    extractor: FeatureExtractor
    device: str
    waited: float  # seconds in the queue
    number: int  # this server's count of runs on the device, in order of arrival
    ticket: Ticket  # the device's queue place, now its turn


@contextlib.contextmanager
def model_turn(status: Any, settings: Settings) -> Iterator[Turn | None]:
    """Wait for this session's turn on the settings' device, then load the model; yields a Turn.

    Yields None (after showing why in ``status``) when the device or the weights cannot
    be used. A Stop, a rerun or a closed tab ends the wait or the run with Streamlit's
    control exception; the ``finally`` then gives the place or the device to the next
    session.
    """
    try:
        device = str(resolve_device(settings.device))
    except NSTError as error:
        status.error(str(error))
        yield None
        return
    queue = run_queue(device)
    ticket = queue.join(owner=session().tag)
    started = time.perf_counter()
    try:
        while (ahead := queue.wait(ticket, timeout=0.5)) > 0:
            status.info(  # an st call: a Stop or a rerun ends the wait here
                f"Waiting for the {device}: {ahead} run{'s' if ahead > 1 else ''} ahead of yours "
                f"({time.perf_counter() - started:.0f} s so far). It starts by itself; **Stop** leaves the queue.",
                icon=":material/hourglass_top:",
            )
        queue.begin(ticket)
        waited = time.perf_counter() - started
        try:
            label = WEIGHT_LABELS.get(settings.weights, settings.weights)
            with status, st.spinner(f"Loading VGG19 ({label}) on {device}; this happens once per server…"):
                extractor = shared_extractor(settings.weights, settings.pooling, device)
        except NSTError as error:
            status.error(str(error))
            yield None
            return
        yield Turn(extractor, device, waited, ticket.number, ticket)
    finally:
        queue.leave(ticket)


class Record(Protocol):
    """What a figure's small runs yield: which run of how many, and its progress."""

    @property
    def number(self) -> int: ...
    @property
    def count(self) -> int: ...
    @property
    def progress(self) -> Progress: ...


@dataclass(frozen=True)
class FigureRequest:
    """What a figure's controls asked for: the size and steps of its small runs, and whether to start."""

    size: int
    steps: int
    start: bool
    status: Any  # where the runs' progress is shown


def figure_controls(
    name: str, sizes: list[int], size: int, steps: tuple[int, int, int], what: str, button: str, icon: str,
    ready: bool,
) -> FigureRequest:  # fmt: skip
    """A figure's size and steps sliders (bound to the URL as ``NAME_size``, ``NAME_steps``) and its button.

    ``steps`` is (most, default, step) of the steps slider; ``what`` names what one small run makes.
    """
    left, right = st.columns([1, 2])
    chosen_size = left.select_slider("Size (px)", sizes, value=size, key=f"{name}_size", bind=BIND)
    most, default, step = steps
    chosen_steps = left.slider(f"Steps per {what}", 10, most, default, step, key=f"{name}_steps", bind=BIND)
    start = left.button(button, key=f"{name}_start", icon=icon, disabled=not ready)
    return FigureRequest(chosen_size, chosen_steps, start, right.empty())


R = TypeVar("R", bound=Record)


def small_runs_ui(
    status: Any, settings: Settings, steps: int, figure: Callable[[Executor, int], Generator[R, None, None]]
) -> Iterator[R]:
    """A figure's small runs with a progress bar in ``status``; yields every record.

    ``figure(executor, parallel)`` makes them: here on this session's turn on the device,
    one after the other; on a cluster on half its workers at once (at least one), so that
    other sessions keep their turns. An error ends the figure with a message in ``status``.
    """
    with runs_executor(status, settings) as executor:
        if executor is None:
            return
        parallel = fair_share(executor) if executor.remote else 1
        where = f", {parallel} at a time on the cluster's workers" if executor.remote else ""
        try:
            yield from _counted(status, steps, figure(executor, parallel), where)
        except NSTError as error:
            status.error(str(error))
            return
    status.empty()


def fair_share(executor: Executor) -> int:
    """How many of the cluster's workers one session's figure may use at once: half, at least one."""
    return max(1, executor.workers // 2)


def _counted(status: Any, steps: int, records: Generator[R, None, None], where: str) -> Iterator[R]:
    """Yield the records, showing how many steps of all the runs are done and how many runs."""
    made, finished = 0, 0
    try:
        for record in records:
            made += 1
            finished += record.progress.done
            status.progress(min(1.0, made / (record.count * steps)), text=f"{finished} of {record.count} done{where}")
            yield record
    finally:
        records.close()
