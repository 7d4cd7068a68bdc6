"""Many pictures at once: every content x style pair of folders and files, resumable.

:func:`plan_batch` lists the pairs and their output files (``CONTENT--STYLE.png``);
:func:`run_batch` makes them through an executor: here one after another with one network
and one target cache (a style's Gram matrices are computed once for all the photos), and yields an event per step
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

from nst.errors import NSTError, SettingsError
from nst.execution.base import Executor, Job, run_many
from nst.images import save_picture
from nst.jobs.instant import InstantJob
from nst.jobs.picture import PictureJob
from nst.progress import Progress
from nst.schedule import plan_scales
from nst.settings import Settings

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
    pairs: list[Pair], settings: Settings, executor: Executor, *, instant: bool = False
) -> Generator[BatchEvent, None, None]:
    """Make every pair whose output does not exist yet; yields a :class:`BatchEvent` per step and per pair.

    ``instant``: each picture is the one-pass picture (:mod:`nst.instant`, one record per pair;
    the networks are loaded once per process) instead of an optimised one.

    As many pairs run at once as the executor has workers: one after the other in this
    process (:class:`nst.execution.local.LocalExecutor`, one network and one target cache for
    all), several at once on a cluster, where the events of different pairs interleave.
    Each output is written when its run ends. Closing the generator stops every run within a step.
    """
    todo: list[tuple[int, Pair]] = []
    for index, pair in enumerate(pairs, start=1):
        if pair.output.exists():
            yield BatchEvent(index, pair, "skipped")
        else:
            todo.append((index, pair))
    if not todo:
        return
    ended: set[int] = set()
    # Every style's targets at every scale, and two photos': the last photo's are newer than the
    # first style's when the next photo starts, so a least-recently-used cache drops them only then.
    kept = len(plan_scales(settings)) * (2 + len({pair.style for _, pair in todo}))
    jobs = [_job(pair, settings, instant, kept) for _, pair in todo]
    many = run_many(executor, jobs, parallel=executor.workers)
    with contextlib.closing(many) as records:
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


def _job(pair: Pair, settings: Settings, instant: bool, targets_kept: int) -> Job[Progress]:
    """``targets_kept``: the target cache holds every style's targets at every scale, so a painting's
    are computed once per process, however many styles and scales the batch has."""
    if instant:
        return InstantJob(pair.content, pair.style, settings)
    # A picture now and then, so that a run whose worker is lost goes on from it.
    return PictureJob(pair.content, pair.style, settings, preview_seconds=RESUME_EVERY_SECONDS,
                      targets_kept=targets_kept)  # fmt: skip


def _write(index: int, pair: Pair, settings: Settings, picture: Image.Image) -> Iterator[BatchEvent]:
    """The pair's output written beside its place and moved there: a killed batch leaves no half picture."""
    part = pair.output.with_name(f".{pair.output.stem}.part{pair.output.suffix}")
    save_picture(picture, part, dpi=settings.dpi)
    os.replace(part, pair.output)
    yield BatchEvent(index, pair, "done")


def _names(paths: list[Path]) -> dict[Path, str]:
    """Each path's name for output files: its stem, with its folder's name where stems repeat."""
    stems = [path.stem for path in paths]
    return {path: path.stem if stems.count(path.stem) == 1 else f"{path.parent.name}-{path.stem}" for path in paths}
