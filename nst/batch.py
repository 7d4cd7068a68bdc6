"""Many pictures at once: every content x style pair of folders and files, resumable.

:func:`plan_batch` lists the pairs and their output files (``CONTENT--STYLE.png``);
:func:`run_batch` makes them one after another with one network and one target cache (a
style's Gram matrices are computed once for all the photos), and yields an event per step
and per picture. A picture is written to ``.NAME.part.EXT`` in the output folder and moved
into place when it is complete, so a killed batch never leaves a half-written picture under
an output's name, and a rerun skips every output that exists. A picture that cannot be read,
or a run that fails, is reported and the batch goes on with the next pair.

Each picture is exactly what ``python -m nst CONTENT STYLE -o OUT`` with the same settings
makes (the same loop, the same seed; tests/test_batch.py compares the pixels).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from nst.engine import Progress, extractor_for, transfer
from nst.errors import NSTError, SettingsError
from nst.executor import Executor, Job, run_many
from nst.features import FeatureExtractor
from nst.images import save_picture
from nst.settings import Settings
from nst.targets import TargetCache

RESUME_EVERY_SECONDS = 10.0  # on a cluster, a run sends its picture this often (to resume from if its worker is lost)
PICTURE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


@dataclass(frozen=True)
class Pair:
    """One picture of a batch: a photo, a style picture and where the result goes."""

    content: Path
    style: Path
    output: Path


@dataclass(frozen=True)
class BatchEvent:
    """What happened: a step of the current pair (``progress``), or a pair finished, skipped or failed."""

    index: int  # 1-based index of the pair among all pairs
    pair: Pair
    kind: str  # "step", "done", "skipped" (its output exists) or "failed"
    progress: Progress | None = None
    message: str = ""


def pictures_in(paths: Iterable[str | os.PathLike[str]], role: str) -> list[Path]:
    """The picture files named, folders expanded to the pictures directly in them (by name, sorted).

    Raises:
        SettingsError: a path does not exist, or a folder holds no picture.
    """
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES)
            if not inside:
                raise SettingsError(
                    f"the {role} folder {path} holds no pictures ({', '.join(sorted(PICTURE_SUFFIXES))})"
                )
            found += inside
        elif path.exists():
            found.append(path)
        else:
            raise SettingsError(f"the {role} {path} does not exist")
    return found


def plan_batch(contents: list[Path], styles: list[Path], folder: Path, suffix: str = ".png") -> list[Pair]:
    """Every content x style pair, content by content, each with its output ``CONTENT--STYLE.png``.

    Two inputs with the same name from different folders are told apart by their folder's name.

    Examples:
        >>> [p.output.name for p in plan_batch([Path("a/cat.jpg")], [Path("s/wave.png")], Path("out"))]
        ['cat--wave.png']
    """
    content_names, style_names = _names(contents), _names(styles)
    return [
        Pair(content, style, folder / f"{content_names[content]}--{style_names[style]}{suffix}")
        for content in contents
        for style in styles
    ]


def run_batch(
    pairs: list[Pair],
    settings: Settings,
    *,
    extractor: FeatureExtractor | None = None,
    executor: Executor | None = None,
) -> Generator[BatchEvent, None, None]:
    """Make every pair whose output does not exist yet; yields a :class:`BatchEvent` per step and per pair.

    Without an ``executor`` (or with one worker) the pairs are made in order in this thread,
    with ``extractor`` when given. With an executor of several workers (a Ray cluster,
    :mod:`nst.cluster`) as many pairs run at once as there are workers, and the events of
    different pairs interleave. Closing the generator stops every run within a step.
    """
    todo: list[tuple[int, Pair]] = []
    for index, pair in enumerate(pairs, start=1):
        if pair.output.exists():
            yield BatchEvent(index, pair, "skipped")
        else:
            todo.append((index, pair))
    if not todo:
        return
    if executor is None or executor.workers <= 1:
        yield from _in_order(todo, settings, extractor, executor)
    else:
        yield from _in_parallel(todo, settings, executor)


def _in_order(
    todo: list[tuple[int, Pair]], settings: Settings, extractor: FeatureExtractor | None, executor: Executor | None
) -> Generator[BatchEvent, None, None]:
    cache = TargetCache(max_entries=8)
    if executor is None and extractor is None:
        extractor = extractor_for(settings)
    for index, pair in todo:
        if executor is None:
            steps: Iterator[Progress] = transfer(pair.content, pair.style, settings, extractor=extractor, cache=cache)
        else:
            steps = executor.run(_job(pair, settings))
        yield from _make(index, pair, settings, steps)


def _job(pair: Pair, settings: Settings) -> Job:
    # A picture now and then, so that a run whose worker is lost goes on from it.
    return Job(pair.content, pair.style, settings, preview_seconds=RESUME_EVERY_SECONDS)


def _make(index: int, pair: Pair, settings: Settings, steps: Iterator[Progress]) -> Generator[BatchEvent, None, None]:
    """One pair: its steps' events, then its output written (atomically) and "done", or "failed"."""
    latest: Image.Image | None = None
    try:
        for progress in steps:
            if progress.done:
                latest = progress.image
            yield BatchEvent(index, pair, "step", progress)
    except NSTError as error:
        yield BatchEvent(index, pair, "failed", message=str(error))
        return
    finally:
        close = getattr(steps, "close", None)
        if close is not None:
            close()
    if latest is None:
        yield BatchEvent(index, pair, "failed", message="the run ended without a picture")
        return
    yield from _write(index, pair, settings, latest)


def _write(index: int, pair: Pair, settings: Settings, picture: Image.Image) -> Iterator[BatchEvent]:
    """The pair's output written beside its place and moved there: a killed batch leaves no half picture."""
    part = pair.output.with_name(f".{pair.output.stem}.part{pair.output.suffix}")
    save_picture(picture, part, dpi=settings.dpi)
    os.replace(part, pair.output)
    yield BatchEvent(index, pair, "done")


def _in_parallel(
    todo: list[tuple[int, Pair]], settings: Settings, executor: Executor
) -> Generator[BatchEvent, None, None]:
    """As many pairs at once as the executor has workers; each output written when its run ends."""
    ended: set[int] = set()
    with contextlib.closing(
        run_many(executor, [_job(pair, settings) for _, pair in todo], parallel=executor.workers)
    ) as records:
        for number, record in records:
            index, pair = todo[number]
            if isinstance(record, NSTError):
                ended.add(number)
                yield BatchEvent(index, pair, "failed", message=str(record))
                continue
            yield BatchEvent(index, pair, "step", record)
            if record.done and record.image is not None:
                ended.add(number)
                yield from _write(index, pair, settings, record.image)
    for number, (index, pair) in enumerate(todo):
        if number not in ended:
            yield BatchEvent(index, pair, "failed", message="the run ended without a picture")


def _names(paths: list[Path]) -> dict[Path, str]:
    """Each path's name for output files: its stem, with its folder's name where stems repeat."""
    stems = [path.stem for path in paths]
    return {path: path.stem if stems.count(path.stem) == 1 else f"{path.parent.name}-{path.stem}" for path in paths}
