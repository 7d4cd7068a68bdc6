"""Print sizes: peak memory and time per step, whole picture against tiles, at 1024 to 4096 px.

    python benchmarks/print_size.py [--sizes 1024 2048 4096] [--steps 2] [--precision float32]
        [--budget 2]

Each (size, way) runs in its own process: one scale at that size, ``--steps`` steps
(L-BFGS; the time of the last step is reported), started from the content photo. "whole"
sets a budget so large that nothing is tiled; "tiles" uses ``--budget`` GB (the CPU
default, 2) or, where the whole picture fits in that, half of what the whole picture needs,
so that tiles are forced. The whole picture is skipped where its step would need more memory than this
machine has. Peak memory is the process's peak resident memory above what it held once
the model was loaded (Linux's VmHWM, reset after loading), which is what the budget bounds.
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
import torch
from common import inputs
from nst import Settings, build_extractor, transfer
from nst.engine import layout_for
from nst.tiles import GB, budget_bytes
size, steps, precision, budget = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])

def rss_mb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field)) / 1024

content, style, _ = inputs()
extractor = build_extractor("caffe", last_layer="relu5_1")
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")
base = rss_mb("VmRSS")
settings = Settings(output_size=size, scales=1, iterations=steps, preview_every=0, precision=precision,
                    memory_budget=budget)
times, last, shape = [], None, None
for progress in transfer(content, style, settings, extractor=extractor):
    times.append(progress.elapsed - (last if last is not None else progress.elapsed))
    last, shape = progress.elapsed, progress.size
dtype = torch.float32 if precision == "float32" else torch.bfloat16
layout = layout_for(settings, shape, budget_bytes(budget, extractor.device), dtype, 0, extractor.device)
print(json.dumps({"per_step": times[-1], "peak_mb": rss_mb("VmHWM") - base, "size": shape,
                  "tiles": len(layout.tiles), "optimizer": layout.optimizer}))
"""

WHOLE_BYTES_PER_PIXEL = 1600  # float32, from this benchmark at 1024 and 2048 px


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--budget", type=float, default=2.0, help="GB")
    args = parser.parse_args()
    total_mb = _memory_mb()
    print(machine(), file=sys.stderr)
    rows = []
    for size in args.sizes:
        pixels = size * size * 3 // 4
        whole = None
        if pixels * WHOLE_BYTES_PER_PIXEL / 2**20 < 0.7 * total_mb:
            whole = run_child(CHILD, str(size), str(args.steps), args.precision, "1000")
        whole_gb = pixels * WHOLE_BYTES_PER_PIXEL / 2**30
        budget = args.budget if whole_gb > args.budget else round(whole_gb / 2, 1)  # tiles forced
        tiled = run_child(CHILD, str(size), str(args.steps), args.precision, str(budget))
        print(size, whole, tiled, file=sys.stderr)
        width, height = tiled["size"]
        rows.append([
            f"{width}x{height}",
            f"{whole['per_step']:.1f}" if whole else "(does not fit)",
            f"{whole['peak_mb']:.0f}" if whole else "-",
            f"{budget:g} GB: {tiled['tiles']} tiles, {tiled['optimizer']}",
            f"{tiled['per_step']:.1f}",
            f"{tiled['peak_mb']:.0f}",
            f"{tiled['per_step'] / whole['per_step']:.2f}x" if whole else "-",
            f"{tiled['peak_mb'] / whole['peak_mb']:.2f}x" if whole else "-",
            f"{tiled['per_step'] / (width * height) * 1e6:.1f}",
        ])  # fmt: skip
    print(table(["size", "whole s/step", "whole peak MB", "tiled with budget", "tiled s/step", "tiled peak MB",
                 "time tiled/whole", "peak tiled/whole", "tiled s/step per megapixel"], rows))  # fmt: skip


def _memory_mb() -> float:
    with open("/proc/meminfo") as info:
        return next(int(line.split()[1]) for line in info if line.startswith("MemTotal")) / 1024


if __name__ == "__main__":
    main()
