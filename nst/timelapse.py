"""A run's previews as one animated picture (WebP or GIF), with the step in a corner."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

FORMATS = {"webp": "WEBP", "gif": "GIF"}


def timelapse(
    frames: Sequence[tuple[int, Image.Image]],
    *,
    format: str = "webp",
    side: int = 384,
    seconds: float = 6.0,
    hold_last: float = 1.5,
) -> bytes:
    """Encode ``(step, picture)`` frames as an animation that loops.

    Args:
        frames: in order; pictures of any size (each is fitted into ``side`` px).
        format: ``"webp"`` (full colour, small) or ``"gif"`` (plays everywhere).
        seconds: how long the frames take together, before the last is held ``hold_last`` s.

    Raises:
        ValueError: no frames, or an unknown format.
    """
    if not frames:
        raise ValueError("a timelapse needs at least one frame")
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    size = _fitted(frames[-1][1].size, side)
    font = ImageFont.load_default(size=max(10, size[1] // 18))
    pictures = [_labelled(picture.convert("RGB").resize(size, Image.Resampling.LANCZOS), step, font)
                for step, picture in frames]  # fmt: skip
    each = max(40, round(seconds * 1000 / len(pictures)))  # ms; browsers play GIF frames of 20 ms and less slowly
    durations = [each] * (len(pictures) - 1) + [round(hold_last * 1000)]
    buffer = io.BytesIO()
    extra = {"quality": 80} if format == "webp" else {"optimize": False}
    pictures[0].save(
        buffer,
        format=FORMATS[format],
        save_all=True,
        append_images=pictures[1:],
        duration=durations,
        loop=0,
        **extra,
    )
    return buffer.getvalue()


def _fitted(size: tuple[int, int], side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _labelled(picture: Image.Image, step: int, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> Image.Image:
    draw = ImageDraw.Draw(picture)
    text = f"step {step}"
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    margin = max(2, (bottom - top) // 3)
    box = (margin, picture.height - (bottom - top) - 3 * margin, right - left + 3 * margin, picture.height - margin)
    draw.rectangle(box, fill=(0, 0, 0))
    draw.text((box[0] + margin - left, box[1] + margin - top), text, fill=(255, 255, 255), font=font)
    return picture
