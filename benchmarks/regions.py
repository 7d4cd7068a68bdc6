"""Time per step and peak memory with two regions (two styles, two masks) against none.

    python benchmarks/regions.py [--size 512] [--steps 12] [--precision auto]

Single scale at ``--size``; each case in its own process (its own peak memory), side by
side in one run. Uses Tuebingen, The Starry Night and Woman with a Hat from
../shared/images when present (sky and houses masks made from the photo's colours), else
generated pictures with left/right masks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, run_child, table

CHILD = r"""
import json, sys
import numpy as np
from PIL import Image
sys.path.insert(0, "benchmarks")
from common import SHARED_IMAGES, inputs, peak_rss_mb
from nst import Settings, build_extractor, transfer
case, size, steps, precision = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
content, style, _ = inputs()
second = SHARED_IMAGES / "woman-with-hat-matisse.jpg"
other = Image.open(second).convert("RGB") if second.exists() else style.transpose(Image.Transpose.ROTATE_90)
pixels = np.asarray(content).astype(int)
h, w = pixels.shape[:2]
yy, xx = np.mgrid[0:h, 0:w]
sky = (pixels[..., 2] > pixels[..., 0] + 40) & (pixels[..., 2] > 140) & (yy < 0.55 * h)
if sky.mean() < 0.05:  # generated pictures: left and right halves
    sky = xx < w // 2
rest = ~sky
masks = [Image.fromarray((m * 255).astype(np.uint8)) for m in (sky, rest)]
extractor = build_extractor("caffe", last_layer="relu5_1")
settings = Settings(output_size=size, iterations=steps + 1, preview_every=0, scales=1, precision=precision)
styles, given = ([style, other], masks) if case == "regions" else (style, None)
times, last = [], None
for progress in transfer(content, styles, settings, extractor=extractor, masks=given):
    if last is not None:
        times.append(progress.elapsed - last)
    last = progress.elapsed
times.sort()
print(json.dumps({"per_step": times[len(times) // 2], "peak_mb": peak_rss_mb()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"])
    args = parser.parse_args()
    results = {
        case: run_child(CHILD, case, str(args.size), str(args.steps), args.precision) for case in ("none", "regions")
    }
    base = results["none"]
    rows = [
        [case, f"{r['per_step']:.2f}", f"{r['per_step'] / base['per_step']:.2f}", f"{r['peak_mb']:.0f}"]
        for case, r in results.items()
    ]
    print(f"# {args.size} px, single scale, median of {args.steps} steps, precision {args.precision}; {machine()}")
    print(table(["masks", "s/step", "vs none", "peak MB"], rows))


if __name__ == "__main__":
    main()
