"""The one-pass picture (nst.instant): its speed and memory, and refining from it against pastiche.

    python benchmarks/instant.py [--avx2] [--parts speed refine batch video] [--pairs 2] [--refine 3 5 10]
        [--sizes 256 512 1024] [--photos 100] [--frames 24]

1. Seconds per picture at each size (median of 3 warm runs, the model loaded once; the style
   vector included) and the peak memory of a process that loads the model and paints one
   picture (each size in a fresh process), float32.
2. Whole processes, one after the other, for each content/style pair of
   ``time_to_quality.py``: ``python -m nst PHOTO STYLE -o OUT --instant``; ``--init instant -n K``
   for each K of ``--refine`` (the one-pass picture refined K L-BFGS steps at the output size,
   512 px); and pastiche's 50 L-BFGS steps (its own process, start-up included). Each picture
   is judged as ``time_to_quality.py`` judges (content error at the output size, style error
   averaged over the output size and half of it) and set against pastiche-50's time and quality.

3. Batch: ``python -m nst batch PHOTOS --style STYLE -o OUT --instant`` on ``--photos`` different
   512 px photos (crops of the first pair's photo), the whole process timed.
4. Video: a camera panning 2 px a frame across the first pair's photo (``video.py``'s clip),
   ``--frames`` frames at 384 px, painted with ``--instant`` (steadied along the flow) and with
   ``--temporal-weight 0`` (each frame on its own): frames per second (the model loaded first)
   and flicker as ``video.py`` measures it (the mean change between a frame and the one before,
   shifted by the known motion; 0-255).

5. App: ``streamlit run`` and headless Chromium on this machine, 512 px: the seconds from the
   last arrow key on the style strength slider (0.05 a press, 2 presses a move, 5 moves) until
   the page shows the one-pass picture at the new strength (its caption names it).

``--avx2`` limits oneDNN and PyTorch to AVX2 (a laptop-class CPU without AVX-512 or bfloat16
units; the default precision then is float32). That does not reproduce two real cores shared
with a browser: the figures are of this machine's cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "tests")]

from time_to_quality import AVX2, Judge, pairs  # noqa: E402
from video import flicker, pan  # noqa: E402

from common import ROOT, machine, run_child, table  # noqa: E402

PARTS = ("speed", "refine", "batch", "video", "app")

SPEED = r"""
import json, resource, statistics, sys, time
from PIL import Image
from nst import Settings
from nst.instant import model_for, painted
content, style, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
settings = Settings(output_size=size, device="cpu")
model = model_for(settings)
painted(model, content, style, settings)
times = []
for _ in range(3):
    started = time.perf_counter()
    painted(model, content, style, settings)
    times.append(time.perf_counter() - started)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": statistics.median(times), "peak_mb": peak}))
"""

PASTICHE = r"""
import sys
from pastiche.pastiche import PasticheArtist, save_image
content, style, size, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
artist = PasticheArtist(content, [style], optimizer="lbfgs", device="cpu", size=size)
for _ in range(50):
    artist.draw()
save_image(artist.pastiche, out)
"""


def whole_process(command: list[str]) -> float:
    """Wall seconds of a fresh Python running ``command`` (module or ``-c`` code and its arguments)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, *command], check=True, cwd=ROOT, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    return time.perf_counter() - started


def speed_rows(content: Path, style: Path, sizes: list[int]) -> list[list[object]]:
    rows = []
    for size in sizes:
        measured = run_child(SPEED, str(content), str(style), str(size))
        rows.append([size, f"{measured['seconds']:.2f}", f"{measured['peak_mb']:.0f}"])
    return rows


def refine_rows(
    pair: str, content: Path, style: Path, folder: Path, refine: list[int], size: int
) -> list[list[object]]:
    """Pastiche-50, --instant and --init instant -n K as whole processes, judged."""
    from PIL import Image

    judge = Judge(size, _extractor(), Image.open(content).convert("RGB"), Image.open(style).convert("RGB"))
    made: list[tuple[str, float, Path]] = []
    out = folder / "pastiche-50.png"
    made.append(
        ("pastiche, 50 steps", whole_process(["-c", PASTICHE, str(content), str(style), str(size), str(out)]), out)
    )
    nst = ["-m", "nst", str(content), str(style), "--size", str(size), "-q"]
    out = folder / "instant.png"
    made.append(("--instant", whole_process([*nst, "-o", str(out), "--instant"]), out))
    for steps in refine:
        out = folder / f"refined-{steps}.png"
        made.append(
            (
                f"--init instant -n {steps}",
                whole_process([*nst, "-o", str(out), "--init", "instant", "-n", str(steps)]),
                out,
            )
        )
    target_seconds, target = made[0][1], judge(made[0][2].read_bytes())
    rows = []
    for name, seconds, path in made:
        score = judge(path.read_bytes())
        reached = score["content full"] <= target["content full"] and score["style"] <= target["style"]
        rows.append([pair, name, f"{seconds:.1f}", f"{seconds / target_seconds:.2f}", f"{score['content full']:.3f}",
                     f"{score['style']:.4f}", "yes" if reached else "no"])  # fmt: skip
    return rows


def batch_rows(photo, style: Path, folder: Path, count: int) -> list[list[object]]:
    """``count`` different 512 px photos (crops walking across the photo) through ``batch --instant``."""
    from PIL import Image

    photos = folder / "photos"
    photos.mkdir()
    width, height = photo.size
    for k in range(count):
        left, top = (k * 7) % max(1, width // 4), (k * 5) % max(1, height // 4)
        crop = photo.crop((left, top, left + 3 * width // 4, top + 3 * height // 4))
        crop.thumbnail((512, 512), Image.Resampling.LANCZOS)
        crop.save(photos / f"photo-{k:03d}.jpg", quality=92)
    seconds = whole_process(["-m", "nst", "batch", str(photos), "--style", str(style), "-o", str(folder / "out"),
                             "--instant", "-q"])  # fmt: skip
    made = len(list((folder / "out").glob("*.png")))
    return [[made, f"{seconds:.1f}", f"{made / seconds:.2f}"]]


def video_rows(photo, style: Path, folder: Path, frames: int, size: int = 384) -> list[list[object]]:
    """Frames per second and flicker of ``video --instant`` with and without steadying."""
    import numpy as np

    from nst import Settings
    from nst.chunks import stylize_video_chunks
    from nst.execution import LocalExecutor
    from nst.instant import model_for
    from nst.video import frame_size
    from nst.videoio import probe, read_frames

    clip = pan(photo, frames, frame_size(photo.size, size), folder / "pan.mp4")
    model_for(Settings())  # loaded before the clock starts, as a server or a batch has it
    rows = []
    for name, weight in (("steadied along the flow (default)", Settings().temporal_weight), ("each frame alone", 0.0)):
        out = folder / f"video-{weight:g}.mp4"
        settings = Settings(output_size=size, temporal_weight=weight)
        started = time.perf_counter()
        for _ in stylize_video_chunks(LocalExecutor(), clip, style, out, settings, instant=True):
            pass
        seconds = time.perf_counter() - started
        decoded = [np.asarray(frame, dtype=np.float32) for frame in read_frames(probe(out))]
        rows.append([name, frames, f"{frames / seconds:.1f}", f"{flicker(decoded):.2f}"])
    return rows


def app_rows(folder: Path, presses: int, moves: int = 5) -> list[list[object]]:
    """Seconds from letting go of the strength slider to the repainted picture on the page."""
    from selenium.webdriver.common.keys import Keys

    from browser import chromium, streamlit_server, wait_for
    from test_browser import one_pass_picture, press_keys, strength_slider

    delays = []
    folder.mkdir()
    with streamlit_server(folder / "streamlit.log") as url, chromium() as driver:
        driver.get(f"{url}/?output_size=512")
        wait_for(lambda: one_pass_picture(driver), 180, what="the one-pass picture")
        strength = 1.0
        for _ in range(moves):
            slider = wait_for(lambda: strength_slider(driver), 30, what="the slider")
            press_keys(driver, slider, [Keys.ARROW_LEFT] * presses)
            strength = round(strength - 0.05 * presses, 2)
            let_go = time.perf_counter()
            wanted = f"style strength {strength:g}"
            shown = lambda wanted=wanted: wanted in (one_pass_picture(driver) or ("", ""))[1]  # noqa: E731
            wait_for(shown, 60, interval=0.01, what=wanted)
            delays.append(time.perf_counter() - let_go)
            time.sleep(1.0)
    return [[presses, moves, f"{statistics.median(delays):.2f}", f"{max(delays):.2f}"]]


def _extractor():
    from nst import build_extractor

    return build_extractor("caffe", last_layer="relu5_1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--avx2", action="store_true", help="limit oneDNN and PyTorch to AVX2 (a laptop-class CPU)")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--refine", type=int, nargs="+", default=[3, 5, 10])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--size", type=int, default=512, help="the output size of the whole-process comparison")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--photos", type=int, default=100, help="photos in the batch")
    parser.add_argument("--frames", type=int, default=24, help="frames of the video")
    args = parser.parse_args()
    if args.avx2 and any(os.environ.get(k) != v for k, v in AVX2.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **AVX2})
    folder = Path(tempfile.mkdtemp(prefix="nst-instant-"))
    chosen = pairs(args.pairs)
    files = []
    for index, (pair, content, style) in enumerate(chosen):
        content_path, style_path = folder / f"content-{index}.png", folder / f"style-{index}.png"
        content.save(content_path)
        style.save(style_path)
        files.append((pair, content_path, style_path))
    isa = "AVX2 only" if args.avx2 else "all its instructions"
    print(f"# CPU limited to {isa}; {machine()}")
    if "speed" in args.parts:
        print(table(["size (px)", "seconds per picture", "peak memory of the process (MB)"],
                    speed_rows(files[0][1], files[0][2], args.sizes)))  # fmt: skip
        print()
    if "batch" in args.parts:
        print(f"# batch --instant, {args.photos} photos at 512 px, the whole process")
        print(table(["pictures", "seconds", "pictures per second"],
                    batch_rows(chosen[0][1], files[0][2], folder, args.photos)))  # fmt: skip
        print()
    if "video" in args.parts:
        print(f"# video --instant, a pan of {args.frames} frames at 384 px (model loaded before)")
        print(table(["frames", "count", "frames per second", "flicker (0-255)"],
                    video_rows(chosen[0][1], files[0][2], folder, args.frames)))  # fmt: skip
        print()
    if "app" in args.parts:
        print("# the app: style strength moved, seconds until the repainted picture is on the page (512 px)")
        rows = app_rows(folder / "one", presses=1) + app_rows(folder / "two", presses=2)
        print(table(["arrow presses a move", "moves", "median seconds", "slowest"], rows))
        print()
    if "refine" in args.parts:
        rows = []
        for index, (pair, content_path, style_path) in enumerate(files):
            (folder / str(index)).mkdir()
            rows += refine_rows(pair, content_path, style_path, folder / str(index), args.refine, args.size)
        print(f"# whole processes at {args.size} px, judged as time_to_quality.py judges; pictures in {folder}")
        print(table(["pair", "run", "seconds", "vs pastiche-50's time", "content full", "style (avg of 1x, 0.5x)",
                     "reaches pastiche-50"], rows))  # fmt: skip


if __name__ == "__main__":
    main()
