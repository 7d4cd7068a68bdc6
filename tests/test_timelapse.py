"""The timelapse: a run's previews as an animated WebP or GIF with the step in a corner."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from nst.timelapse import timelapse


def frames(count: int = 5) -> list[tuple[int, Image.Image]]:
    return [(10 * (n + 1), Image.new("RGB", (200, 150), (40 * n, 100, 200 - 30 * n))) for n in range(count)]


@pytest.mark.parametrize("format", ["webp", "gif"])
def test_every_preview_becomes_a_frame_of_a_looping_animation(format) -> None:
    data = timelapse(frames(), format=format, side=160)
    animation = Image.open(io.BytesIO(data))
    assert animation.format == format.upper() and animation.n_frames == 5
    assert animation.size == (160, 120)
    animation.seek(2)
    middle = animation.convert("RGB")
    assert tuple(int(v) for v in np.asarray(middle)[10, 80]) == pytest.approx(
        (80, 100, 140), abs=12
    )  # frame 3's colour
    corner = np.asarray(middle)[-15:, :40].reshape(-1, 3)
    assert (corner.max(1) > 200).any() and (corner.max(1) < 40).any()  # the white step number on black


def test_the_last_frame_is_held_and_bad_requests_are_errors() -> None:
    animation = Image.open(io.BytesIO(timelapse(frames(3), format="gif", seconds=0.3, hold_last=2.0)))
    animation.seek(2)
    assert animation.info["duration"] == 2000
    with pytest.raises(ValueError, match="at least one frame"):
        timelapse([])
    with pytest.raises(ValueError, match="format"):
        timelapse(frames(1), format="mp4")
