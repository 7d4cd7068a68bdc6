"""Seconds per optimisation step and peak memory, per optimiser and output size.

    python benchmarks/step_time.py [--sizes 256 512] [--steps 6]

Each configuration runs in its own process, so the peak resident memory is that run's
alone (it includes Python, torch and the model: see the 'baseline' row).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, run_child, table

CHILD = r"""
import json, sys, time
sys.path.insert(0, "benchmarks")
from common import inputs, median_step, peak_rss_mb
from nst import Settings, build_extractor
optimizer, size, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
content, style, _ = inputs()
extractor = build_extractor("caffe", last_layer="relu5_1")
if steps == 0:
    print(json.dumps({"peak_mb": peak_rss_mb()})); raise SystemExit
settings = Settings(optimizer=optimizer, output_size=size, iterations=steps + 1, preview_every=0, scales=1)
per_step, progress = median_step(content, style, settings, extractor)
print(json.dumps({"per_step": per_step, "peak_mb": peak_rss_mb(), "size": progress.size}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=22, help="timed steps after a warm-up; >20 fills L-BFGS")
    args = parser.parse_args()
    baseline = run_child(CHILD, "lbfgs", "0", "0")["peak_mb"]
    rows = [["baseline (torch + VGG19 loaded)", "-", "-", f"{baseline:.0f}"]]
    for size in args.sizes:
        for optimizer in ("lbfgs", "adam"):
            result = run_child(CHILD, optimizer, str(size), str(args.steps))
            width, height = result["size"]
            rows.append([f"{optimizer} {width}x{height}", f"{result['per_step']:.2f}", "", f"{result['peak_mb']:.0f}"])
        lbfgs, adam = rows[-2], rows[-1]
        adam[2] = f"{float(adam[1]) / float(lbfgs[1]):.2f}x L-BFGS"
    print(f"# seconds per step (median of {args.steps}) and peak memory; {machine()}")
    print(table(["run", "s/step", "ratio", "peak RSS MB"], rows))


if __name__ == "__main__":
    main()
