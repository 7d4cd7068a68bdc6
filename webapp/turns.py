"""Every run that uses the model takes its turn on the device first, then gets the shared VGG19.

A server with many browser sessions (a classroom) runs one thing at a time per device
(``NST_RUNS_PER_DEVICE``); the others wait in a fair queue and see their place. The main
run, the race, the grid, the layer views, print sizes, the Video tab and "inside the
network" all go through :func:`model_turn`, so places follow the order of the clicks, even
while the first click of a fresh server is still loading VGG19. On a cluster
(:func:`webapp.resources.backend`) all but "inside the network" go to the cluster's fair
queue instead: :func:`run_turn` for one run, :func:`small_runs_ui` for a figure's runs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import streamlit as st

import nst
from nst import FeatureExtractor, NSTError, Progress, Settings, TargetCache
from nst.device import resolve_device
from nst.executor import Executor, Job, Run
from webapp.resources import backend, run_queue, shared_extractor
from webapp.sidebar import BIND, WEIGHT_LABELS
from webapp.state import session


@dataclass(frozen=True)
class RunTurn:
    """This session's turn for one run (the main run, a print size), here or on a cluster worker:
    ``start(job)`` begins it."""

    start: Callable[[Job], Generator[Progress, None, None] | Run]  # both close() to stop
    waited: float  # seconds in the queue
    number: int  # the backend's count of runs, in order of arrival
    remote: bool  # on a cluster worker (pictures cross the network display-sized)


@contextlib.contextmanager
def run_turn(status: Any, settings: Settings, cache: TargetCache) -> Iterator[RunTurn | None]:
    """Wait for a turn for a run on the server's backend (:func:`webapp.resources.backend`).

    Here: :func:`model_turn` (the device's queue and the shared VGG19, ``cache`` for the
    targets). On a cluster: the cluster's fair queue, showing the place and the free
    workers. Yields None after saying why in ``status`` when no run can start.
    """
    chosen = backend()
    if chosen.executor is None:
        if chosen.blocked:
            status.error(chosen.problem)
            yield None
            return
        with model_turn(status, settings) as turn:
            if turn is None:
                yield None
                return
            extractor = turn.extractor

            def here(job: Job) -> Generator[Progress, None, None]:
                return nst.transfer(
                    job.content, job.style, job.settings, extractor=extractor, cache=cache, init_image=job.init_image,
                    preview_seconds=job.preview_seconds, resume=job.resume, masks=job.masks,
                    preview_size=job.preview_size, on_tile=job.on_tile,
                )  # fmt: skip

            yield RunTurn(here, turn.waited, turn.number, remote=False)
        return
    executor = chosen.executor
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
        yield RunTurn(lambda job: executor.start(ticket, job), time.perf_counter() - started, ticket.number, True)


@dataclass(frozen=True)
class Turn:
    """This session's turn on a device, with the model loaded."""

    extractor: FeatureExtractor
    device: str
    waited: float  # seconds in the queue
    number: int  # this server's count of runs on the device, in order of arrival


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
        yield Turn(extractor, device, waited, ticket.number)
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
    status: Any,
    settings: Settings,
    steps: int,
    here: Callable[[FeatureExtractor], Generator[R, None, None]],
    there: Callable[[Executor, int], Generator[R, None, None]],
) -> Iterator[R]:
    """A figure's small runs with a progress bar in ``status``; yields every record.

    Here: ``here(extractor)`` on this session's turn on the device, one run after the other.
    On a cluster: ``there(executor, parallel)``, the runs on half its workers at once (at
    least one), so that other sessions keep their turns. An error ends the figure with a
    message in ``status``.
    """
    chosen = backend()
    executor = chosen.executor
    if executor is None:
        with model_turn(status, settings) as turn:
            if turn is None:
                return
            yield from _counted(status, steps, here(turn.extractor), "")
    else:
        parallel = fair_share(executor)
        where = f", {parallel} at a time on the cluster's workers"
        try:
            yield from _counted(status, steps, there(executor, parallel), where)
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
