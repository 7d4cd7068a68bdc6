"""What one browser session holds, as typed records: its pictures, its result, its gallery.

Streamlit reruns the page's script on every click; everything a person made must outlive
those reruns, so it lives in one :class:`Session` record in ``st.session_state``. Views
read and write its fields; nothing else of the app's own is kept in ``st.session_state``
(the widgets' values are, under their Settings field names, by Streamlit itself).
"""

from __future__ import annotations

import os
import secrets
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import streamlit as st
from PIL import Image

from nst import Settings, TargetCache
from nst.grid import Cell
from nst.targets import picture_digest
from nst.videoio import Clip

# What the next script run should do with the main run:
#   start: a new run; continue: go on from the result for `iterations` more steps;
#   resume: a run was going when the script reran (a slider moved): go on to its planned end
#   with the settings as they are now (live tuning); stop: end it and keep the latest picture.
Action = Literal["start", "continue", "resume", "stop"]
RunStatus = Literal["running", "done", "stopped", "diverged", "failed"]


@dataclass(frozen=True)
class Picture:
    """An input picture, decoded once: where it came from, its pixels and their digest."""

    name: str
    image: Image.Image
    credit: str = ""
    digest: str = ""
    blended: tuple[Image.Image, ...] = ()  # more style pictures blended with this one
    coarse: tuple[Image.Image, ...] = ()  # the large shapes' pictures (nst.scale_mix): one, or one per style

    @classmethod
    def of(cls, name: str, image: Image.Image, credit: str = "") -> Picture:
        return cls(name, image, credit, picture_digest(image))

    @property
    def images(self) -> Image.Image | list[Image.Image]:
        """What the engine takes: this picture, or it and the pictures blended with it."""
        return [self.image, *self.blended] if self.blended else self.image

    def same_as(self, other: Picture) -> bool:
        """Same pixels (and the same blended pictures)."""
        return self.digest == other.digest


@dataclass
class Result:
    """The latest picture of this session's main run, and how it was made."""

    image: Image.Image
    step: int
    total: int
    settings: Settings
    content: Picture
    style: Picture
    status: RunStatus = "running"
    message: str = ""
    history: list[dict[str, float]] = field(default_factory=list)  # the loss chart's rows
    seconds: float = 0.0
    first_preview_seconds: float | None = None
    previews: int = 0
    frames: list[tuple[int, Image.Image]] = field(default_factory=list)  # (step, small preview): the timelapse
    queue_seconds: float = 0.0  # waited for the device before the run began
    run_number: int = 0  # this server's count of runs on the device, in order of arrival
    regions: tuple[Image.Image, ...] = ()  # the masks the run used (webapp.regions), if any
    worker: str = ""  # where it ran, in words (a cluster's worker; empty: this server)
    notes: list[str] = field(default_factory=list)  # e.g. a cluster's worker was lost and the run went on elsewhere


@dataclass(frozen=True)
class GalleryEntry:
    """A finished picture of this session and what made it."""

    title: str
    image: Image.Image
    settings: Settings
    file_name: str


@dataclass
class Lane:
    """One runner of the optimiser race: its latest picture and caption."""

    caption: str
    image: Image.Image | None = None


@dataclass
class RaceOutcome:
    lanes: dict[str, Lane]
    history: list[dict[str, float | str]] = field(default_factory=list)  # runner, step, seconds, loss


@dataclass
class GridOutcome:
    content: Picture
    style: Picture
    cells: dict[tuple[int, int], tuple[Cell, Image.Image]] = field(default_factory=dict)  # (row, column) ->


@dataclass(frozen=True)
class InsideView:
    layer: str
    maps: dict[str, list[tuple[int, Image.Image]]]  # picture name -> (channel, feature map)
    grams: dict[str, Image.Image]  # caption -> heat map


@dataclass
class PrintVersion:
    """A result continued at print size (webapp.printsize): its picture once finished."""

    size: int  # longest side asked for, px
    dpi: int
    of: int  # id() of the Result it was made from: a new result hides it
    image: Image.Image | None = None  # full size, once finished
    status: RunStatus = "running"
    message: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # e.g. a cluster's worker was lost and another went on


@dataclass
class VideoJob:
    """A clip uploaded in this session, and what its run has made so far."""

    upload_id: str
    name: str
    path: Path  # the upload, in a temporary file removed with the job
    clip: Clip | None = None
    problem: str = ""  # why the clip cannot be stylised
    key: tuple[object, ...] = ()  # what the frames below were made with: the style and the frame size
    frames: list[Image.Image] = field(default_factory=list)  # finished frames, at the frame size
    status: RunStatus | None = None
    message: str = ""
    output: bytes = b""  # the finished (or stopped) clip
    pending: bool = False  # Stylize was pressed and the run has not ended
    seconds: float = 0.0

    def __post_init__(self) -> None:
        weakref.finalize(self, _remove, str(self.path))


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


@dataclass
class Session:
    """Everything one browser session keeps between reruns."""

    cache: TargetCache = field(default_factory=TargetCache)  # content and style targets (live tuning)
    tag: str = field(default_factory=lambda: secrets.token_hex(4))  # names this session's runs in the queue
    result: Result | None = None
    pending: Action | None = None  # set by the buttons' callbacks and by a run in progress
    gallery: list[GalleryEntry] = field(default_factory=list)  # finished pictures, newest last
    start_picture: Picture | None = None  # an uploaded picture to start from (init "image")
    decoded_uploads: dict[tuple[str, str], Picture] = field(default_factory=dict)  # (role, file id) ->
    example_pictures: dict[tuple[str, str], Picture] = field(default_factory=dict)  # (role, name) ->
    race: RaceOutcome | None = None
    grid: GridOutcome | None = None
    layer_views: dict[str, Image.Image] = field(default_factory=dict)  # label -> picture
    inside: InsideView | None = None
    print_version: PrintVersion | None = None
    print_pending: bool = False  # the print-size button was pressed and its run has not ended
    video: VideoJob | None = None  # the clip uploaded in the Video tab (webapp.video)
    learned_style: Picture | None = None  # the photo in one of the 26 learned styles, chosen as the style picture
    learned_sheet: tuple[str, list[Image.Image]] | None = None  # (the photo's digest, its 26 learned styles)
    versus: dict[str, dict[str, float]] | None = None  # the teaching view's errors: picture -> content, style


def session() -> Session:
    """This browser session's record, made on its first script run."""
    if "session" not in st.session_state:
        st.session_state.session = Session()
    record: Session = st.session_state.session
    return record
