"""Video: seconds per frame and flicker, with the temporal term and without, in one run.

    python benchmarks/video.py [--sizes 256 512] [--frames 8] [--precision auto] [--strip assets/video-strip.jpg]

Clips are made here: a camera panning right by 2 px a frame across a photo (Tuebingen from
../shared/images when present, and scikit-image's cat), so the true motion is known.
Flicker is the mean absolute difference (0-255) between each output frame and the previous
output frame shifted by that motion, over the pixels that stay in view: 0 for a clip whose
textures move with the scene, large for one whose textures jump. Each size is run with the
default temporal weight and, at the smallest size, with ``temporal_weight=0`` (every frame
stylised on its own). Also times the optical flow (DIS, and Farneback's for comparison).
``--strip`` saves frames of both results with their difference images (brighter = flicker).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from nst import Settings, build_extractor, examples
from nst.flow import optical_flow
from nst.video import frame_size, stylize_video
from nst.videoio import ClipWriter, probe, read_frames

from common import SHARED_IMAGES, machine, table

SHIFT = 2


def pan(photo: Image.Image, frames: int, size: tuple[int, int], path: Path) -> Path:
    width, height = size
    wide = photo.resize((round((height + 8) * photo.width / photo.height), height + 8), Image.Resampling.LANCZOS)
    if wide.width < width + SHIFT * frames:
        wide = photo.resize((width + SHIFT * frames + 8, height + 8), Image.Resampling.LANCZOS)
    writer = ClipWriter(path, Fraction(12), size, None)
    for t in range(frames):
        writer.write(wide.crop((SHIFT * t, 4, SHIFT * t + width, 4 + height)))
    writer.close()
    return path


def flicker(frames: list[np.ndarray]) -> float:
    pairs = zip(frames[:-1], frames[1:], strict=True)
    return float(np.mean([np.abs(later[:, :-SHIFT] - earlier[:, SHIFT:]).mean() for earlier, later in pairs]))


def stylise(clip: Path, style: Image.Image, out: Path, settings: Settings, extractor) -> dict:
    seconds: dict[int, float] = {}
    style_loss: dict[int, float] = {}
    started = time.perf_counter()
    for progress in stylize_video(clip, style, out, settings, extractor=extractor):
        if progress.frame_done:
            seconds[progress.frame] = time.perf_counter() - started
            style_loss[progress.frame] = progress.step.style_loss
    ends = [seconds[k] for k in sorted(seconds)]
    per_frame = [ends[0]] + [b - a for a, b in zip(ends[:-1], ends[1:], strict=True)]
    frames = [np.asarray(frame, dtype=np.float32) for frame in read_frames(probe(out))]
    later_style = float(np.mean([style_loss[k] for k in sorted(style_loss)[1:]]))
    return {"first": per_frame[0], "later": float(np.mean(per_frame[1:])), "flicker": flicker(frames),
            "frames": frames, "style": style_loss[1], "later style": later_style}  # fmt: skip


def flow_times(size: int) -> tuple[float, float]:
    photo = examples.photo("chelsea the cat")
    width, height = frame_size(photo.size, size)
    first = photo.crop((0, 0, photo.width - 8, photo.height)).resize((width, height))
    second = photo.crop((4, 0, photo.width - 4, photo.height)).resize((width, height))
    optical_flow(first, second)  # warm up
    started = time.perf_counter()
    for _ in range(10):
        optical_flow(first, second)
    dis = (time.perf_counter() - started) / 10
    grey = [np.asarray(picture.convert("L")) for picture in (first, second)]
    started = time.perf_counter()
    for _ in range(10):
        cv2.calcOpticalFlowFarneback(grey[0], grey[1], None, 0.5, 3, 15, 3, 5, 1.2, 0)  # type: ignore[call-overload]
    return dis, (time.perf_counter() - started) / 10


def strip(cases: dict[str, dict], path: Path, every: int = 2) -> None:
    """Rows: each case's frames, then its difference images (x4, brighter = more flicker)."""
    rows = []
    for name, case in cases.items():
        frames = case["frames"]
        shown = [Image.fromarray(frame.astype(np.uint8)) for frame in frames[1::every]]
        diffs = []
        for t in range(1, len(frames), every):
            diff = np.zeros_like(frames[t])
            diff[:, :-SHIFT] = np.abs(frames[t][:, :-SHIFT] - frames[t - 1][:, SHIFT:]) * 4
            diffs.append(Image.fromarray(diff.clip(0, 255).astype(np.uint8)))
        rows.append((name, shown))
        rows.append((f"{name}: difference from the previous frame moved by the pan, x4", diffs))
    width, height = rows[0][1][0].size
    sheet = Image.new("RGB", (width * len(rows[0][1]), (height + 22) * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (label, pictures) in enumerate(rows):
        draw.text((4, r * (height + 22) + 4), label, fill="black")
        for c, picture in enumerate(pictures):
            sheet.paste(picture, (c * width, r * (height + 22) + 22))
    sheet.save(path, quality=88)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--strip", type=Path, help="save a strip of frames and difference images here")
    parser.add_argument(
        "--weights",
        type=float,
        nargs="+",
        help="temporal weights at the smallest size (default: the default weight and 0)",
    )
    parser.add_argument(
        "--frame-iterations",
        type=int,
        nargs="+",
        help="steps of later frames at the smallest size, each with each weight (default: the default)",
    )
    parser.add_argument("--photos", nargs="+", help="only these clips (tubingen, cat)")  # fmt: skip
    args = parser.parse_args()
    print(machine(), file=sys.stderr)
    extractor = build_extractor("caffe", last_layer="relu5_1")
    photos = {"cat (scikit-image)": examples.photo("chelsea the cat")}
    tubingen = SHARED_IMAGES / "tubingen.jpg"
    if tubingen.exists():
        photos = {"tubingen": Image.open(tubingen).convert("RGB"), **photos}
    if args.photos:
        photos = {name: photo for name, photo in photos.items() if name.split()[0] in args.photos}
    painting = SHARED_IMAGES / "starry_night.jpg"
    style = Image.open(painting).convert("RGB") if painting.exists() else examples.style("swirls", 512)
    rows, shown = [], {}
    with tempfile.TemporaryDirectory() as folder:
        for name, photo in photos.items():
            for size in args.sizes:
                frame = frame_size(photo.size, size)
                clip = pan(photo, args.frames, frame, Path(folder) / f"{name[:3]}{size}.mp4")
                settings = Settings(output_size=size, precision=args.precision)
                cases = [(settings.temporal_weight, settings.frame_iterations)]
                if size == min(args.sizes):
                    weights = args.weights or [settings.temporal_weight, 0.0]
                    steps = args.frame_iterations or [settings.frame_iterations]
                    cases = [(w, n) for w in weights for n in (steps if w else steps[:1])]
                for weight, steps_later in cases:
                    out = Path(folder) / f"out{name[:3]}{size}-{weight:g}-{steps_later}.mp4"
                    chosen = settings.replace(temporal_weight=weight, frame_iterations=steps_later)
                    case = stylise(clip, style, out, chosen, extractor)
                    print(name, size, weight, {k: v for k, v in case.items() if k != "frames"}, file=sys.stderr)
                    if (
                        size == min(args.sizes)
                        and name == next(iter(photos))
                        and weight in (0, Settings().temporal_weight)
                        and steps_later == Settings().frame_iterations
                    ):
                        shown[f"temporal weight {weight:g}" if weight else "each frame on its own"] = case
                    still = flicker([np.asarray(f, np.float32) for f in read_frames(probe(clip))])
                    rows.append([name, f"{frame[0]}x{frame[1]}", f"{weight:g}",
                                 str(steps_later) if weight else f"{settings.iterations} (as the first)",
                                 f"{case['first']:.1f}", f"{case['later']:.1f}", f"{case['flicker']:.2f}",
                                 f"{still:.2f}", f"{case['style']:.4f}", f"{case['later style']:.4f}"])  # fmt: skip
    print(table(["clip (pan 2 px/frame)", "frame size", "temporal weight", "later frames' steps", "first frame s",
                 "later frames s/frame", "flicker (0-255)", "flicker of the photo frames", "style loss, first frame",
                 "style loss, later frames"], rows))  # fmt: skip
    dis, farneback = flow_times(512)
    print(f"\noptical flow at 512 px: DIS {dis * 1000:.0f} ms, Farneback {farneback * 1000:.0f} ms a frame pair")
    if args.strip and shown:
        strip(shown, args.strip)
        print(f"strip saved: {args.strip}")


if __name__ == "__main__":
    main()
