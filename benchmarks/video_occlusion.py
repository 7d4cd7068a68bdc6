"""Video: a bar passing in front of a still photo. Does the background it hid come back as it was painted?

    python benchmarks/video_occlusion.py [--size 240] [--frames 12] [--steps 30] [--sets 1 1,2,4,8 1,10,20,40]
                                         [--passes 3] [--precision float32]

The clip is made here: a still photo (Tuebingen from ../shared/images, else scikit-image's
cat) with a grey vertical bar, a tenth of the width wide, moving right by a third of its
width a frame. Each column the bar covers is hidden for three frames and then seen again.
For each set of earlier frames kept (``--sets``, ``Settings.temporal_frames``), and for the
previous frame alone without the trust mask's smoothing (the code before 2026-12-04), one
run of ``nst video`` (``-n --steps`` for the first frame, the default steps and temporal
weight after it), and for each of ``--passes`` one run of the multi-pass algorithm in this
process (``nst.passes``), then, in 0-255 levels of the output frames:

- *revealed*: the mean change between the first and the last frame over the columns the bar
  hid in between (not covered in either frame);
- *never hidden*: the same over the columns it never covered (a still scene: the drift);
- *ratio*: revealed / never hidden (1: the hidden strip came back as it was painted);
- *steadiness*: the mean change from one frame to the next over the never-hidden columns;
- *trailing edge*: the mean change between the first and the last frame over the 3 columns
  just behind the bar's last position (where bilinear warping drags the bar along).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
import nst.flow  # noqa: E402
from nst import Settings, build_extractor, examples  # noqa: E402
from nst.execution import LocalExecutor  # noqa: E402
from nst.passes import stylize_video_passes  # noqa: E402
from nst.video import stylize_video  # noqa: E402
from nst.videoio import ClipWriter, probe, read_frames  # noqa: E402

from common import SHARED_IMAGES, machine, table  # noqa: E402


def bar_clip(photo: Image.Image, size: tuple[int, int], frames: int, path: Path) -> list[int]:
    """Writes the clip; returns the bar's left edge in each frame."""
    width, height = size
    still = photo.resize(size, Image.Resampling.LANCZOS)
    bar = max(6, width // 10)
    speed = max(2, bar // 3)
    lefts = [width // 6 + speed * t for t in range(frames)]
    writer = ClipWriter(path, Fraction(12), size, None)
    for left in lefts:
        frame = still.copy()
        ImageDraw.Draw(frame).rectangle((left, 0, left + bar - 1, height - 1), fill=(128, 128, 128))
        writer.write(frame)
    writer.close()
    return [*lefts, bar]


def measure(frames: list[np.ndarray], lefts: list[int]) -> dict[str, float]:
    *starts, bar = lefts
    width = frames[0].shape[1]
    covered = np.zeros((len(starts), width), dtype=bool)
    for t, left in enumerate(starts):
        covered[t, left : left + bar] = True
    revealed = covered.any(axis=0) & ~covered[0] & ~covered[-1]
    never = ~covered.any(axis=0)
    change = np.abs(frames[-1] - frames[0]).mean(axis=(0, 2))  # per column
    steps = [np.abs(b - a)[:, never].mean() for a, b in zip(frames[:-1], frames[1:], strict=True)]
    behind = slice(starts[-1] - 3, starts[-1])
    return {"revealed": float(change[revealed].mean()), "never": float(change[never].mean()),
            "steady": float(np.mean(steps)), "trailing": float(change[behind].mean())}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=240)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--sets", nargs="+", default=["1", "1,2,4,8", "1,10,20,40"])
    parser.add_argument("--passes", type=int, nargs="*", default=[], help="also the multi-pass algorithm, N passes")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    photo_path = SHARED_IMAGES / "tubingen.jpg"
    photo = Image.open(photo_path).convert("RGB") if photo_path.exists() else examples.photo("chelsea the cat")
    painting_path = SHARED_IMAGES / "starry_night.jpg"
    painting = Image.open(painting_path).convert("RGB") if painting_path.exists() else examples.style("swirls", 256)
    size = (args.size, args.size * 2 // 3)
    extractor = build_extractor("caffe", last_layer="relu5_1")
    folder = Path(tempfile.mkdtemp(prefix="nst-occlusion-"))
    lefts = bar_clip(photo, size, args.frames, folder / "bar.mp4")
    cases = [("1, trust mask not smoothed (before)", "1", 0.0, 1)] + [
        (s.replace(",", ", "), s, None, 1) for s in args.sets
    ]
    cases += [(f"{n} passes (multi-pass)", "1,2,4,8", None, n) for n in args.passes]
    rows = []
    smoothing = nst.flow.TRUST_SIGMA
    for name, frames_back, sigma, passes in cases:
        nst.flow.TRUST_SIGMA = smoothing if sigma is None else sigma
        settings = Settings(output_size=args.size, iterations=args.steps, temporal_frames=frames_back,
                            precision=args.precision, passes=passes)  # fmt: skip
        out = folder / f"{frames_back.replace(',', '-')}-{sigma}-{passes}.mp4"
        started = time.perf_counter()
        if passes > 1:
            made = stylize_video_passes(LocalExecutor(), folder / "bar.mp4", painting, out, settings)
        else:
            made = stylize_video(folder / "bar.mp4", painting, out, settings, extractor=extractor)
        for _ in made:
            pass
        seconds = time.perf_counter() - started
        got = measure([np.asarray(f, dtype=np.float32) for f in read_frames(probe(out))], lefts)
        rows.append([name, f"{got['revealed']:.1f}", f"{got['never']:.1f}", f"{got['revealed'] / got['never']:.2f}",
                     f"{got['steady']:.2f}", f"{got['trailing']:.1f}", f"{seconds:.0f}"])  # fmt: skip
        print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    nst.flow.TRUST_SIGMA = smoothing
    print(f"# {size[0]}x{size[1]}, {args.frames} frames, {args.steps} steps for the first; {machine()}")
    print(table(["frames kept", "revealed", "never hidden", "ratio", "steadiness", "trailing edge", "seconds"], rows))
    print(f"# clips in {folder}")


if __name__ == "__main__":
    main()
