"""A run of a clip's frames in one pass of the multi-pass algorithm as a job (:func:`nst.passes.stylize_video_passes`).

It carries only what its frames need, as PNG bytes: their photo frames at the working size,
their pictures from the pass before, and the neighbouring frame before its first (photo and
picture), not the clip. After a lost worker it goes on from the frame after its last finished
one, which becomes the neighbour of the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from nst.execution.base import Job, Place
from nst.execution.wire import from_png
from nst.images import load_image
from nst.jobs.chunk import frame_step_from_wire, frame_step_to_wire
from nst.multipass import Sweep, sweep
from nst.settings import Settings
from nst.video import FrameStep


@dataclass(frozen=True)
class SweepJob(Job[FrameStep]):
    """Frames ``indices`` (1-based, in this pass's order) in pass ``number``."""

    kind = "video pass"

    number: int
    indices: tuple[int, ...]
    photos: tuple[bytes, ...]  # PNG, in the order of ``indices``
    earlier: tuple[bytes, ...]  # each frame's picture of the pass before (PNG; none in pass 1)
    neighbour: tuple[bytes, bytes] | None  # (photo, picture) of the frame before the first in this pass's order
    styles: tuple[bytes, ...]
    blend: bool  # several style pictures blended (else the one)
    settings: Settings
    colour_reference: bytes | None = None  # the clip's first frame (PNG): the style's colours (preserve_colour)
    preview_seconds: float | None = None
    preview_size: int | None = None

    def run_here(self, place: Place) -> Generator[FrameStep, None, None]:
        styles = [load_image(data, name="the style picture") for data in self.styles]
        neighbour = None if self.neighbour is None else (from_png(self.neighbour[0]), from_png(self.neighbour[1]))
        run = Sweep(self.number, self.indices, tuple(from_png(p) for p in self.photos),
                    tuple(from_png(p) for p in self.earlier), neighbour)  # fmt: skip
        reference = None if self.colour_reference is None else from_png(self.colour_reference)
        steps = sweep(run, styles if self.blend else styles[0], self.settings, extractor=place.extractor(self.settings),
                      cache=place.cache, preview_seconds=self.preview_seconds, preview_size=self.preview_size,
                      colour_reference=reference)  # fmt: skip
        try:
            yield from steps
        finally:
            steps.close()

    def to_wire(self) -> dict[str, Any]:
        fields = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return {**fields, "settings": dataclasses.asdict(self.settings)}

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> SweepJob:
        neighbour = wire["neighbour"]
        return cls(**{**wire, "indices": tuple(wire["indices"]), "photos": tuple(wire["photos"]),
                      "earlier": tuple(wire["earlier"]), "styles": tuple(wire["styles"]),
                      "neighbour": None if neighbour is None else (neighbour[0], neighbour[1]),
                      "settings": Settings(**wire["settings"])})  # fmt: skip

    def record_to_wire(self, record: FrameStep) -> dict[str, Any]:
        return frame_step_to_wire(record)

    def record_from_wire(self, wire: dict[str, Any]) -> FrameStep:
        return frame_step_from_wire(wire)

    def after(self, wire: dict[str, Any]) -> SweepJob:
        """After a finished frame: the frames after it, with it as their neighbour."""
        progress = wire["progress"]
        if progress["step"] < progress["total"] or progress["image"] is None or not self.indices:
            return self
        return dataclasses.replace(self, indices=self.indices[1:], photos=self.photos[1:], earlier=self.earlier[1:],
                                   neighbour=(self.photos[0], progress["image"]))  # fmt: skip

    def resumes_from(self) -> str:
        return f"frame {self.indices[0]} of pass {self.number}" if self.indices else "its end"

    def finished(self) -> bool:
        return not self.indices
