"""Reading and writing video clips, one frame at a time.

Containers (MP4, MOV, MKV, WebM, AVI, ...) go through PyAV, FFmpeg's Python binding, whose
wheels on PyPI carry FFmpeg with its codecs (H.264 by libx264, VP9, AAC): nothing else to
install. Animated GIF and WebP go through Pillow, which reads them frame by frame and
handles GIF's frame disposal (PyAV's FFmpeg cannot decode animated WebP).

Reading decodes one frame at a time, so a long clip never sits in memory whole. Writing
goes to ``NAME.part.EXT`` beside the output and is renamed into place when it is closed,
so a stopped run leaves a playable clip of the frames done, and never a half-written file
under the output's name. MP4, MOV and MKV are written in H.264 (``yuv420p``, constant
rate factor 18: visually lossless for these pictures), WebM in VP9, GIF and WebP by Pillow
(which keeps every frame until it closes: GIF and WebP are for short clips). The audio
track of the input, when there is one, is copied into MP4/MOV/MKV/WebM outputs packet for
packet (not re-encoded), cut at the last frame written; where the output container cannot
hold its codec (Vorbis in MP4) it is re-encoded to the container's own (AAC, Opus).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import av.audio.stream
import av.error
import av.video.stream
import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from nst.errors import VideoError

PILLOW_FORMATS = {"GIF", "WEBP", "PNG"}  # animated GIF, WebP and PNG (APNG) are read by Pillow
PILLOW_OUTPUTS = {".gif": "GIF", ".webp": "WEBP"}
CONTAINER_OUTPUTS = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".webm": "libvpx-vp9"}
OUTPUTS = (*CONTAINER_OUTPUTS, *PILLOW_OUTPUTS)
AUDIO_REENCODE = {".mp4": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus"}


@dataclass(frozen=True)
class Clip:
    """What a video file holds, as far as can be told without decoding it."""

    path: Path
    size: tuple[int, int]  # width, height as displayed (rotation applied)
    fps: Fraction
    frames: int  # the frame count, or an estimate from the duration
    seconds: float
    audio: bool
    reader: str  # "pyav" or "pillow" ("still": a picture, which is refused)

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6


def probe(path: str | os.PathLike[str]) -> Clip:
    """Open a video file and say what it holds; refuse what is not a readable video.

    Raises:
        VideoError: the file is missing, empty, a still picture, or not a video PyAV or
            Pillow can read.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path.name}: no such file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path.name} is empty (0 bytes)")
    animation = _pillow_probe(path)
    if animation is not None and animation.reader == "still":
        raise VideoError(f"{path.name} is a still picture, not a video (stylise it with python -m nst)")
    if animation is not None:
        return animation
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path.name} has no video track")
            stream = container.streams.video[0]
            fps = Fraction(stream.average_rate or stream.guessed_rate or 25)
            seconds = _seconds(container, stream)
            frames = stream.frames or round(seconds * fps)
            width, height = stream.codec_context.width, stream.codec_context.height
            first = next(container.decode(stream), None)  # a file that cannot give one frame is no video
            if first is None:
                raise VideoError(f"{path.name} holds no frames")
            if abs(first.rotation) in (90, 270):
                width, height = height, width
            return Clip(path, (width, height), fps, max(int(frames), 1), seconds, bool(container.streams.audio), "pyav")
    except VideoError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, IndexError) as error:
        raise VideoError(f"{path.name} is not a video that can be read ({_reason(error)})") from None


def read_frames(clip: Clip) -> Iterator[Image.Image]:
    """The clip's frames as RGB pictures, upright, decoded one at a time.

    Raises:
        VideoError: the file is damaged part of the way through (the frames before are
            yielded first).
    """
    if clip.reader == "pillow":
        with Image.open(clip.path) as animation:
            for still in ImageSequence.Iterator(animation):
                yield still.convert("RGB")
        return
    count = 0
    try:
        with av.open(str(clip.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                picture = Image.fromarray(frame.to_ndarray(format="rgb24"))
                if frame.rotation:  # phones record upright clips sideways with a rotation to apply
                    picture = picture.rotate(frame.rotation, expand=True)
                count += 1
                yield picture
    except av.error.FFmpegError as error:
        raise VideoError(f"{clip.path.name} is damaged after frame {count} ({_reason(error)})") from None


class ClipWriter:
    """Writes frames to ``output`` (format from its extension: :data:`OUTPUTS`) at ``fps``.

    Frames go to ``NAME.part.EXT`` and :meth:`close` renames that into place, copying the
    audio of ``audio_from`` (a :class:`Clip` with audio) up to the last frame. A writer closed
    with no frame written leaves no file.
    """

    def __init__(self, output: str | os.PathLike[str], fps: Fraction, size: tuple[int, int], audio_from: Clip | None):
        self.output = Path(output)
        suffix = self.output.suffix.lower()
        if suffix not in OUTPUTS:
            raise VideoError(f"cannot write {self.output.name}: end its name in {', '.join(OUTPUTS)}")
        if self.output.parent != Path("") and not self.output.parent.is_dir():
            raise VideoError(f"the folder {self.output.parent} does not exist")
        width, height = size
        if suffix in CONTAINER_OUTPUTS and (width % 2 or height % 2):
            raise VideoError(f"H.264 and VP9 need even frame sizes, not {width}x{height}")
        self.part = self.output.with_name(f"{self.output.stem}.part{self.output.suffix}")
        self.fps, self.size, self.suffix, self.written = fps, size, suffix, 0
        self.audio_from = audio_from if audio_from is not None and audio_from.audio else None
        self._frames: list[Image.Image] = []  # GIF and WebP: Pillow writes them all at the end
        self._container: av.container.OutputContainer | None = None
        self._audio_in: av.container.InputContainer | None = None
        if suffix in CONTAINER_OUTPUTS:
            self._open_container()

    def _open_container(self) -> None:
        container = av.open(str(self.part), mode="w")
        stream = cast(av.video.stream.VideoStream, container.add_stream(CONTAINER_OUTPUTS[self.suffix], rate=self.fps))
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"} if self.suffix != ".webm" else {"crf": "24", "b": "0"}
        self._container, self._video = container, stream
        if self.audio_from is not None:
            source = av.open(str(self.audio_from.path))
            audio = source.streams.audio[0]
            name = audio.codec_context.name
            if name in container.supported_codecs and _can_copy(self.suffix, name):
                self._audio = container.add_stream_from_template(audio)
                self._copy = True
            else:  # the container cannot hold this codec: encode it in the container's own
                self._audio = cast(
                    av.audio.stream.AudioStream,
                    container.add_stream(AUDIO_REENCODE[self.suffix], rate=audio.codec_context.sample_rate),
                )
                self._copy = False
            self._audio_in = source

    def write(self, picture: Image.Image) -> None:
        """Add one frame (its size must be the writer's)."""
        if picture.size != self.size:
            raise ValueError(f"a frame of {picture.size} px in a clip of {self.size}")
        if self._container is None:
            self._frames.append(picture.convert("RGB"))
        else:
            frame = av.VideoFrame.from_ndarray(np.asarray(picture.convert("RGB")), format="rgb24")
            frame.pts = self.written
            frame.time_base = 1 / self.fps
            for packet in self._video.encode(frame):
                self._container.mux(packet)
        self.written += 1

    def close(self) -> Path | None:
        """Finish the file and move it into place; the output's path, or None when no frame was written."""
        try:
            if self._container is not None:
                if self.written:
                    for packet in self._video.encode():
                        self._container.mux(packet)
                    if self._audio_in is not None:
                        self._add_audio(self.written / self.fps)
                self._container.close()
                self._container = None
            elif self._frames:
                first, *rest = self._frames
                duration = round(1000 / self.fps)
                first.save(self.part, format=PILLOW_OUTPUTS[self.suffix], save_all=True, append_images=rest,
                           duration=duration, loop=0, **({"lossless": False, "quality": 90}
                                                          if self.suffix == ".webp" else {}))  # fmt: skip
                self._frames = []
        finally:
            if self._audio_in is not None:
                self._audio_in.close()
                self._audio_in = None
        if not self.written:
            self.part.unlink(missing_ok=True)
            return None
        os.replace(self.part, self.output)
        return self.output

    def _add_audio(self, seconds: Fraction) -> None:
        """The input's audio up to ``seconds``: copied packet for packet, or re-encoded."""
        assert self._container is not None and self._audio_in is not None
        source = self._audio_in.streams.audio[0]
        for packet in self._audio_in.demux(source):
            if packet.pts is None or packet.time_base is None:
                continue
            if packet.pts * packet.time_base >= seconds:
                break
            if self._copy:
                packet.stream = self._audio
                self._container.mux(packet)
            else:
                for frame in packet.decode():
                    for out in self._audio.encode(frame):
                        self._container.mux(out)
        if not self._copy:
            for out in self._audio.encode(None):
                self._container.mux(out)


def _can_copy(suffix: str, codec: str) -> bool:
    """Whether ``codec`` audio may be copied into a ``suffix`` file (WebM takes Opus and Vorbis only)."""
    return codec in ("opus", "vorbis") if suffix == ".webm" else codec != "vorbis" or suffix == ".mkv"


def _pillow_probe(path: Path) -> Clip | None:
    """An animated GIF, WebP or PNG read by Pillow; None for a file Pillow cannot read.

    Raises:
        VideoError: a still picture.
    """
    try:
        with Image.open(path) as picture:
            frames = getattr(picture, "n_frames", 1)
            if frames <= 1 or picture.format not in PILLOW_FORMATS:
                return Clip(path, picture.size, Fraction(1), frames, 0.0, False, "still") if frames <= 1 else None
            durations = []
            for frame in ImageSequence.Iterator(picture):  # WebP tells a frame's duration once it is decoded
                frame.load()
                durations.append(frame.info.get("duration") or 100)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    fps = Fraction(round(1000 / (sum(durations) / len(durations)), 3)).limit_denominator(1001)
    return Clip(path, picture.size, fps, frames, sum(durations) / 1000, False, "pillow")


def _seconds(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _reason(error: BaseException) -> str:
    text = str(error)
    return text.split(": '", 1)[0] if text else type(error).__name__
