"""One optimised picture as a job (:func:`nst.engine.transfer`); goes on from its latest full-size picture."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from nst.engine import transfer
from nst.errors import SettingsError
from nst.execution.base import Job, Place
from nst.execution.wire import (
    picture_bytes,
    png_bytes,
    progress_from_wire,
    progress_to_wire,
    styles_from_wire,
    styles_to_wire,
)
from nst.images import ImageSource, shrunk
from nst.progress import Progress, Resume
from nst.scale_mix import with_coarse_styles
from nst.settings import Settings

NO_COARSE_WITH_STYLE_MASKS = (
    "coarse pictures and masks on the painting do not go together (a mask drawn on the "
    "painting would not fit the repainted one): give one or the other"
)
CHECKPOINT_SECONDS = 20.0  # a worker whose previews are shrunk sends the full-size picture this often at most


@dataclass(frozen=True)
class PictureJob(Job[Progress]):
    """One run of :func:`nst.engine.transfer`, with the same arguments; yields its :class:`Progress` records."""

    kind = "picture"

    content: ImageSource
    style: ImageSource | Sequence[ImageSource]
    settings: Settings
    resume: Resume | None = None
    init_image: ImageSource | None = None
    masks: Sequence[ImageSource] | None = None
    style_masks: Sequence[ImageSource] | None = None
    coarse_styles: Sequence[ImageSource] | None = None  # nst.scale_mix: one, or one per style picture
    preview_seconds: float | None = None
    preview_size: int | None = None
    on_tile: Callable[[int, int], None] | None = None  # in this process only: see transfer(); not sent to a worker
    checkpoint: Callable[[], None] | None = None  # in this process only, as on_tile
    targets_kept: int = 0  # the place's target cache keeps at least this many entries (TargetCache.hold)

    def run_here(self, place: Place) -> Generator[Progress, None, None]:
        place.cache.hold(self.targets_kept)
        return self._steps(place)

    def _steps(self, place: Place) -> Generator[Progress, None, None]:
        style = self.style
        if self.coarse_styles:  # first each style picture repainted on its coarse picture (nst.scale_mix)
            if self.style_masks:
                raise SettingsError(NO_COARSE_WITH_STYLE_MASKS)
            styles = list(style) if isinstance(style, (list, tuple)) else [cast(ImageSource, style)]
            mixed = with_coarse_styles(styles, self.coarse_styles, self.settings, place.extractor(self.settings),
                                       place.cache, checkpoint=self.checkpoint)  # fmt: skip
            style = mixed if isinstance(style, (list, tuple)) else mixed[0]
        return (yield from transfer(
            self.content,
            style,
            self.settings,
            extractor=place.extractor(self.settings),
            init_image=self.init_image,
            cache=place.cache,
            preview_seconds=self.preview_seconds,
            resume=self.resume,
            masks=self.masks,
            style_masks=self.style_masks,
            preview_size=self.preview_size,
            on_tile=self.on_tile,
            checkpoint=self.checkpoint,
        ))  # fmt: skip

    def to_wire(self) -> dict[str, Any]:
        resume = self.resume
        return {
            "content": picture_bytes(self.content),
            **styles_to_wire(self.style),
            "settings": dataclasses.asdict(self.settings),
            "resume": None if resume is None else (picture_bytes(resume.image), resume.step, resume.total),
            "init_image": None if self.init_image is None else picture_bytes(self.init_image),
            "masks": None if self.masks is None else [picture_bytes(mask) for mask in self.masks],
            "style_masks": None if self.style_masks is None else [picture_bytes(mask) for mask in self.style_masks],
            "coarse_styles": None if not self.coarse_styles else [picture_bytes(p) for p in self.coarse_styles],
            "preview_seconds": self.preview_seconds,
            "preview_size": self.preview_size,
            "targets_kept": self.targets_kept,
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> PictureJob:
        resume = wire["resume"]
        return cls(
            content=wire["content"],
            style=styles_from_wire(wire),
            settings=Settings(**wire["settings"]),
            resume=None if resume is None else Resume(resume[0], step=resume[1], total=resume[2]),
            init_image=wire["init_image"],
            masks=wire["masks"],
            style_masks=wire["style_masks"],
            coarse_styles=wire["coarse_styles"],
            preview_seconds=wire["preview_seconds"],
            preview_size=wire["preview_size"],
            targets_kept=wire["targets_kept"],
        )

    def record_to_wire(self, record: Progress) -> dict[str, Any]:
        return {"progress": progress_to_wire(record)}

    def record_from_wire(self, wire: dict[str, Any]) -> Progress:
        return progress_from_wire(wire["progress"])

    def serve(self, place: Place) -> Generator[dict[str, Any], None, None]:
        """The records, previews display-sized as asked, and now and then the full-size picture to
        go on from (``full`` when the preview is that picture, else ``checkpoint``)."""
        steps = dataclasses.replace(self, preview_size=None).run_here(place)
        last_checkpoint = -math.inf
        try:
            for progress in steps:
                picture = progress.image
                if picture is None:
                    yield {"progress": progress_to_wire(progress)}
                    continue
                shown = picture if progress.done else shrunk(picture, self.preview_size)
                record = {"progress": progress_to_wire(progress, shown), "full": shown is picture}
                if shown is not picture and time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS:
                    record["checkpoint"], last_checkpoint = png_bytes(picture), time.monotonic()
                yield record
        finally:
            steps.close()

    def after(self, wire: dict[str, Any]) -> PictureJob:
        """The run from the record's full-size picture on, when it brought one (else from where it was)."""
        progress = wire["progress"]
        picture = progress["image"] if wire.get("full") else wire.get("checkpoint")
        if picture is None:
            return self
        return dataclasses.replace(self, resume=Resume(picture, step=progress["step"], total=progress["total"]))

    def resumes_from(self) -> str:
        return "the start" if self.resume is None else f"step {self.resume.step}"

    def finished(self) -> bool:
        return self.resume is not None and self.resume.step >= self.resume.end(self.settings)
