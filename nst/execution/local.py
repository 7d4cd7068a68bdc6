"""Runs in this process: :class:`LocalExecutor`, with one VGG19 per device kept for the process."""

from __future__ import annotations

import threading

from nst.device import resolve_device
from nst.engine import extractor_for
from nst.execution.base import Executor, Job, Place, R, Run
from nst.features import FeatureExtractor
from nst.layers import deepest_layer
from nst.runqueue import RunQueue, Ticket
from nst.settings import Settings
from nst.targets import TargetCache

_extractors: dict[tuple[str, str, str, str], FeatureExtractor] = {}
_extractors_lock = threading.Lock()


def local_extractor(settings: Settings) -> FeatureExtractor:
    """The VGG19 for these settings, loaded once per process (weights, pooling, device, depth)."""
    layers = settings.content_layers + settings.style_layers
    key = (settings.weights, settings.pooling, str(resolve_device(settings.device)), deepest_layer(layers))
    with _extractors_lock:
        if key not in _extractors:
            _extractors[key] = extractor_for(settings)
        return _extractors[key]


def local_place(cache_entries: int = 8) -> Place:
    """This process's place: its VGG19s (:func:`local_extractor`) and a fresh target cache."""
    return Place(local_extractor, TargetCache(max_entries=cache_entries))


class LocalExecutor(Executor):
    """Runs jobs in the caller's thread, ``slots`` at a time.

    ``place`` gives the jobs their VGG19 and target cache (default: :func:`local_place`; the
    web app passes its server-wide model); ``queue`` a shared fair queue (the app's per device).
    """

    def __init__(self, slots: int = 1, *, place: Place | None = None, queue: RunQueue | None = None) -> None:
        self.name = "local"
        self.queue = queue if queue is not None else RunQueue(slots)
        self.place = place if place is not None else local_place()

    @property
    def workers(self) -> int:
        return self.queue.slots

    def start(self, ticket: Ticket, job: Job[R]) -> Run[R]:
        return LocalRun(job, self.place)


class LocalRun(Run[R]):
    """A job's records made in the caller's thread."""

    def __init__(self, job: Job[R], place: Place) -> None:
        super().__init__()
        self.worker = "this process"
        self._records = job.run_here(place)

    def __next__(self) -> R:
        return next(self._records)

    def cancel(self) -> None:
        self._records.close()
