"""Several runs side by side: their steps taken in turn, each timed on its own.

The optimiser race in the app interleaves, for example, an L-BFGS run and an Adam run on
the same pictures, so both pictures form at once and their losses can be compared per step
and per second of their own computation (the other runs' time is not counted).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass

from nst.errors import NSTError
from nst.execution.base import Executor, run_many
from nst.jobs.picture import PictureJob
from nst.progress import Progress


@dataclass(frozen=True)
class Lap:
    """One step of one runner, or the error that ended it."""

    name: str
    progress: Progress | None  # None when the runner stopped with ``error``
    seconds: float  # this runner's own computing time so far
    error: NSTError | None = None


def race(runners: Mapping[str, Iterator[Progress]]) -> Generator[Lap, None, None]:
    """Take one step of each runner in turn until all are done.

    A runner that raises an :class:`NSTError` (for example a diverging Adam run) yields a
    Lap with that error and drops out; the others go on. Closing this generator closes
    every runner (a stopped race releases them all).

    Examples:
        >>> runners = {"lbfgs": transfer(photo, painting), "adam": transfer(photo, painting, adam)}  # doctest: +SKIP
        >>> laps = race(runners)  # doctest: +SKIP
        >>> for lap in laps:  # doctest: +SKIP
        ...     print(lap.name, lap.progress.step, lap.progress.loss, lap.seconds)
    """
    running = dict(runners)
    spent = dict.fromkeys(running, 0.0)
    try:
        while running:
            for name in list(running):
                started = time.perf_counter()
                try:
                    progress = next(running[name])
                except StopIteration:
                    del running[name]
                    continue
                except NSTError as error:
                    del running[name]
                    yield Lap(name, None, spent[name], error)
                    continue
                spent[name] += time.perf_counter() - started
                yield Lap(name, progress, spent[name])
    finally:
        for runner in runners.values():
            close = getattr(runner, "close", None)
            if close is not None:
                close()


def race_on(
    executor: Executor, jobs: Mapping[str, PictureJob], *, parallel: int = 2, owner: str = ""
) -> Generator[Lap, None, None]:
    """The race with its runners sent through an executor.

    In this process (an executor that is not remote) the runners take turns step by step
    under one turn of the executor's queue (:func:`race`). On a cluster they do not take
    turns: each computes on its own worker, ``parallel`` at a time, and the laps come as
    their steps arrive, each runner's in order; a runner's seconds are its run's own
    (:attr:`~nst.engine.Progress.elapsed`, measured where it runs). Closing this generator
    stops them all.
    """
    if not executor.remote:
        with executor.turn(owner) as ticket:
            assert ticket is not None  # no stop event: the wait ends only with the turn
            yield from race({name: executor.start(ticket, job) for name, job in jobs.items()})
        return
    names = list(jobs)
    spent = dict.fromkeys(names, 0.0)
    many = run_many(executor, [jobs[name] for name in names], parallel=parallel, owner=owner)
    with contextlib.closing(many) as records:
        for index, record in records:
            name = names[index]
            if isinstance(record, NSTError):
                yield Lap(name, None, spent[name], record)
                continue
            spent[name] = record.elapsed
            yield Lap(name, record, record.elapsed)
