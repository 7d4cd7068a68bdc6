"""A range of frames of a video clip as a job (:func:`nst.chunks.stylize_video_chunks`).

Its first frame is stylised like a picture, or follows ``previous`` (the frames before it, as
stylised earlier: as many as the long-term terms reach back) along the flow; the rest follow it
as in :func:`nst.video.stylize_video`.
After a lost worker it goes on from the frame after its last finished one.
"""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from nst.execution.base import Job, Place
from nst.execution.wire import progress_from_wire, progress_to_wire
from nst.images import load_image
from nst.instant_video import instant_frames
from nst.settings import Settings
from nst.video import FrameStep, stylise_frames
from nst.videoio import probe, read_frames


@dataclass(frozen=True)
class ChunkJob(Job[FrameStep]):
    """Frames ``first`` (0-based) up to ``stop`` (exclusive) of the clip in ``clip`` (its file's bytes)."""

    kind = "video chunk"

    clip: bytes  # the clip's file (on a cluster it is put in the object store once for all chunks)
    suffix: str  # the file's extension (".mp4"), for the decoder
    first: int
    stop: int
    size: tuple[int, int]  # (width, height) of the frames
    styles: tuple[bytes, ...]
    blend: bool  # several style pictures blended (else the one)
    settings: Settings
    previous: tuple[bytes, ...] = ()  # the frames before ``first``, as stylised (PNG or file bytes), newest last
    preview_seconds: float | None = None
    preview_size: int | None = None
    instant: bool = False  # each frame by the one-pass network (nst.instant_video), not optimised

    def run_here(self, place: Place) -> Generator[FrameStep, None, None]:
        styles = [load_image(data, name="the style picture") for data in self.styles]
        with tempfile.TemporaryDirectory(prefix="nst-chunk-") as folder:
            path = Path(folder) / f"clip{self.suffix}"
            path.write_bytes(self.clip)
            before = self.previous
            raws = itertools.islice(read_frames(probe(path)), self.first - len(before), self.stop)
            photos = (raw.resize(self.size, Image.Resampling.LANCZOS) for raw in raws)
            previous = [(next(photos), load_image(b).resize(self.size, Image.Resampling.LANCZOS)) for b in before]
            steps = self._frames(photos, styles if self.blend else styles[0], previous, place)
            try:
                yield from steps
            finally:
                steps.close()

    def _frames(
        self,
        photos: Iterator[Image.Image],
        style: Image.Image | list[Image.Image],
        previous: list[tuple[Image.Image, Image.Image]],
        place: Place,
    ) -> Generator[FrameStep, None, None]:
        """The frames' loop: painted in one pass and steadied (``instant``), or optimised."""
        if self.instant:
            return instant_frames(photos, style, self.settings, model=place.instant(self.settings),
                                  previous=previous[-1] if previous else None, first_index=self.first + 1)  # fmt: skip
        return stylise_frames(photos, style, self.settings, extractor=place.extractor(self.settings),
                              cache=place.cache, previous=previous, first_index=self.first + 1,
                              preview_seconds=self.preview_seconds, preview_size=self.preview_size)  # fmt: skip

    def to_wire(self) -> dict[str, Any]:
        fields = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return {**fields, "styles": list(self.styles), "size": list(self.size),
                "settings": dataclasses.asdict(self.settings)}  # fmt: skip

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> ChunkJob:
        return cls(**{**wire, "styles": tuple(wire["styles"]), "size": (int(wire["size"][0]), int(wire["size"][1])),
                      "settings": Settings(**wire["settings"]), "previous": tuple(wire["previous"])})  # fmt: skip

    def record_to_wire(self, record: FrameStep) -> dict[str, Any]:
        return frame_step_to_wire(record)

    def record_from_wire(self, wire: dict[str, Any]) -> FrameStep:
        return frame_step_from_wire(wire)

    def after(self, wire: dict[str, Any]) -> ChunkJob:
        """After a finished frame: the frames after it, following it."""
        progress = wire["progress"]
        if progress["step"] < progress["total"] or progress["image"] is None:
            return self
        kept = (*self.previous, progress["image"])[-max(self.settings.temporal_frames) :]
        return dataclasses.replace(self, first=wire["frame"], previous=kept)

    def resumes_from(self) -> str:
        if not self.previous:
            return f"frame {self.first + 1}"
        return f"frame {self.first + 1} (after frame {self.first}, made before)"

    def finished(self) -> bool:
        return self.first >= self.stop


def frame_step_to_wire(record: FrameStep) -> dict[str, Any]:
    """A frame's step as plain data (its picture as PNG bytes); every kind of clip job sends these."""
    return {"frame": record.index, "trusted": record.trusted, "follows": record.follows, "sweep": record.sweep,
            "progress": progress_to_wire(record.step)}  # fmt: skip


def frame_step_from_wire(wire: dict[str, Any]) -> FrameStep:
    return FrameStep(wire["frame"], progress_from_wire(wire["progress"]), wire["trusted"], wire["follows"],
                     wire.get("sweep", 1))  # fmt: skip
