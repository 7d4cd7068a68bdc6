"""The one-pass picture as a job (:func:`nst.instant.instant`): one record, the painted picture."""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

from nst.execution.base import Job, Place
from nst.execution.wire import picture_bytes, progress_from_wire, progress_to_wire, styles_from_wire, styles_to_wire
from nst.images import ImageSource
from nst.instant import instant
from nst.progress import Progress
from nst.settings import Settings


@dataclass(frozen=True)
class InstantJob(Job[Progress]):
    """The photo painted in one pass with the style picture(s) at ``settings.output_size``, with the
    settings' style strength, blend and colour preservation; yields one :class:`Progress`."""

    kind = "instant"

    content: ImageSource
    style: ImageSource | Sequence[ImageSource]
    settings: Settings
    delivered: bool = False  # the picture has arrived: a lost worker leaves nothing to do

    def run_here(self, place: Place) -> Generator[Progress, None, None]:
        return instant(self.content, self.style, self.settings, model=place.instant(self.settings))

    def to_wire(self) -> dict[str, Any]:
        return {
            "content": picture_bytes(self.content),
            **styles_to_wire(self.style),
            "settings": dataclasses.asdict(self.settings),
        }

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> InstantJob:
        return cls(content=wire["content"], style=styles_from_wire(wire), settings=Settings(**wire["settings"]))

    def record_to_wire(self, record: Progress) -> dict[str, Any]:
        return {"progress": progress_to_wire(record)}

    def record_from_wire(self, wire: dict[str, Any]) -> Progress:
        return progress_from_wire(wire["progress"])

    def after(self, wire: dict[str, Any]) -> InstantJob:
        return dataclasses.replace(self, delivered=True)

    def finished(self) -> bool:
        return self.delivered
