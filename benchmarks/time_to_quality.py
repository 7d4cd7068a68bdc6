"""Time to quality: the default run against the paper's plain single-scale L-BFGS run.

    python benchmarks/time_to_quality.py [--size 512] [--reference-steps 300] [--save DIR]

Runs one after the other in this process, on the same pictures and the same network:

- reference: single scale, float32, L-BFGS, 300 steps at the output size (Gatys et al.);
- default: ``Settings(output_size=size)`` as the app and the command line start it
  (coarse to fine, 120 steps, bfloat16 where the processor is fast at it);
- default, 300 steps: the same schedule with the reference's step count;
- weighted to the full size: the same four sizes with 60/40/30/100 steps (230), the best
  schedule found by hand so far for this comparison (most steps where the loss is judged);
- after each coarse-to-fine run, single scale in the default precision for the same wall
  time (as many steps as fit): what coarse to fine gains or loses against spending that
  time at the output size.

Every final picture is saved as 8-bit RGB, read back, and scored by the same full-resolution
float32 loss (the default layers and weights) with :func:`nst.evaluate`. The table gives
wall times and final losses with their ratios to the reference.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from nst import Settings, TargetCache, build_extractor, evaluate, transfer  # noqa: E402

from common import inputs, machine, table  # noqa: E402


def run(content, style, settings: Settings, extractor, seconds: float | None = None) -> tuple[float, bytes, int]:
    """Run to the end, or with ``seconds``, until that much time has passed; the picture as PNG."""
    started = time.perf_counter()
    if seconds is None:
        *_, progress = transfer(content, style, settings, extractor=extractor)  # the last record
    else:
        for progress in transfer(content, style, settings.replace(preview_every=1), extractor=extractor):  # noqa: B007
            if time.perf_counter() - started >= seconds:
                break
    seconds = time.perf_counter() - started
    buffer = io.BytesIO()
    progress.image.save(buffer, format="PNG")  # judge what a user downloads: 8-bit pixels
    return seconds, buffer.getvalue(), progress.step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--reference-steps", type=int, default=300)
    parser.add_argument("--save", type=Path, help="folder for the final pictures and a side-by-side")
    args = parser.parse_args()
    content, style, described = inputs()
    extractor = build_extractor("caffe", last_layer="relu5_1")
    default = Settings(output_size=args.size, preview_every=0)
    single = default.replace(scales=1, iterations=1000)  # stopped by time
    runs = [
        (
            f"reference: single scale, float32, {args.reference_steps} steps",
            default.replace(scales=1, iterations=args.reference_steps, precision="float32"),
            False,
        ),
        (f"default: coarse to fine, {default.precision}, {default.iterations} steps", default, True),
        (f"default schedule, {args.reference_steps} steps", default.replace(iterations=args.reference_steps), False),
        ("coarse to fine, 60/40/30/100 steps", default.replace(iterations=230, scale_split=(60, 40, 30, 100)), True),
    ]
    judge, cache = Settings(output_size=args.size), TargetCache()
    results = {}

    def judged(name: str, seconds: float, png: bytes) -> None:
        results[name] = (seconds, evaluate(png, content, style, judge, extractor=extractor, cache=cache), png)
        print(f"{name}: {seconds:.0f} s, loss {results[name][1]['total']:.3f}", file=sys.stderr, flush=True)

    for name, settings, with_single_scale in runs:
        seconds, png, _ = run(content, style, settings, extractor)
        judged(name, seconds, png)
        if with_single_scale:  # the same time spent at the output size only
            same, png, steps = run(content, style, single, extractor, seconds=seconds)
            judged(f"single scale, {default.precision}, same time as the run above ({steps} steps)", same, png)
    reference_seconds, reference_score, _ = next(iter(results.values()))
    rows = [
        [
            name,
            f"{seconds:.0f}",
            f"{seconds / reference_seconds:.2f}",
            f"{score['total']:.3f}",
            f"{score['total'] / reference_score['total']:.2f}",
            f"{score['content']:.3f}",
            f"{score['style']:.4f}",
        ]
        for name, (seconds, score, _) in results.items()
    ]
    print(f"# {described} at {args.size} px, judged by the float32 loss of the saved picture; {machine()}")
    print(table(["run", "wall s", "time vs reference", "final loss", "loss vs reference", "content", "style"], rows))
    if args.save:
        from PIL import Image

        args.save.mkdir(parents=True, exist_ok=True)
        pictures = [Image.open(io.BytesIO(png)) for _, _, png in results.values()]
        for index, picture in enumerate(pictures):
            picture.save(args.save / f"time_to_quality_{index}.png")
        width, height = pictures[0].size
        columns = 3  # each coarse-to-fine run beside its same-time single-scale run
        rows = -(-len(pictures) // columns)
        sheet = Image.new("RGB", (columns * width + (columns - 1) * 8, rows * height + (rows - 1) * 8), "white")
        for index, picture in enumerate(pictures):
            sheet.paste(picture, ((index % columns) * (width + 8), (index // columns) * (height + 8)))
        sheet.save(args.save / "time_to_quality.jpg", quality=88)


if __name__ == "__main__":
    main()
