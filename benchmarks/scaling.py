"""How time per step, peak memory and arithmetic speed grow with the output size.

    python benchmarks/scaling.py [--sizes 128 256 512 768 1024] [--steps 22] [--optimizer lbfgs]
        [--precisions float32 bfloat16] [--baseline GIT-REVISION]

Each size runs single-scale in its own process (so its peak resident memory is its own;
it includes Python, torch and the model). GFLOP/s counts the convolutions of one forward
pass to relu5_1 plus the backward pass to the pixels (the same again: the network's
weights take no gradients), and is set beside a plain float32 matrix multiply measured in
the same run. Each size runs in float32 and in bfloat16 (autocast; the default on
processors with fast bfloat16 units).

``--baseline REV`` also runs every size in a temporary git worktree of REV, alternating
with the current code (so drift on a shared machine hits both alike), and prints a
before/after table with ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import checkout, machine, run_child, table

# Its own timing loop, not common.median_step(): with --baseline it runs in an older checkout's benchmarks/.
CHILD = r"""
import json, sys
sys.path.insert(0, "benchmarks")
from common import inputs, peak_rss_mb
from nst import Settings, build_extractor, transfer
optimizer, size, steps, precision = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
content, style, _ = inputs()
extractor = build_extractor("caffe", last_layer="relu5_1")
settings = Settings(
    optimizer=optimizer, output_size=size, iterations=steps + 1, preview_every=0, scales=1, precision=precision
)
times, last = [], None
for progress in transfer(content, style, settings, extractor=extractor):
    if last is not None:
        times.append(progress.elapsed - last)
    last = progress.elapsed
times.sort()
print(json.dumps({"per_step": times[len(times) // 2], "peak_mb": peak_rss_mb(), "size": progress.size}))
"""


def conv_flops(width: int, height: int) -> float:
    """Multiply-adds x 2 of VGG19's convolutions up to conv5_1 for one picture."""
    channels = [(3, 64), (64, 64), (64, 128), (128, 128)] + [(128, 256)] + [(256, 256)] * 3 + [(256, 512)]
    channels += [(512, 512)] * 3 + [(512, 512)]
    blocks = [0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4]  # the pooling level of each conv
    return sum(
        2 * cin * cout * 9 * (width >> b) * (height >> b) for (cin, cout), b in zip(channels, blocks, strict=True)
    )


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    import torch

    a, b = torch.rand(n, n), torch.rand(n, n)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - started) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 768, 1024])
    parser.add_argument("--steps", type=int, default=22, help="timed steps after a warm-up; >20 fills L-BFGS")
    parser.add_argument("--optimizer", default="lbfgs", choices=["lbfgs", "adam"])
    parser.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    parser.add_argument("--baseline", metavar="REV", help="also measure this git revision, side by side")
    args = parser.parse_args()
    if args.baseline:
        with checkout(args.baseline) as before:
            compare(args, before)
        return
    results = {
        (size, precision): run_child(CHILD, args.optimizer, str(size), str(args.steps), precision)
        for size in args.sizes
        for precision in args.precisions
    }
    reference = matmul_gflops()
    rows = []
    for size in args.sizes:
        width, height = results[size, args.precisions[0]]["size"]
        row = [f"{width}x{height}"]
        for precision in args.precisions:
            result = results[size, precision]
            gflops = 2 * conv_flops(width, height) / result["per_step"] / 1e9
            row += [f"{result['per_step']:.2f}", f"{result['peak_mb']:.0f}", f"{gflops:.0f} ({gflops / reference:.2f})"]
        if len(args.precisions) == 2:
            first, second = (results[size, p]["per_step"] for p in args.precisions)
            row.append(f"{second / first:.2f}x")
        rows.append(row)
    headers = ["size"]
    for precision in args.precisions:
        headers += [f"{precision} s/step", f"{precision} peak MB", f"{precision} GFLOP/s (of matmul)"]
    if len(args.precisions) == 2:
        headers.append(f"{args.precisions[1]} / {args.precisions[0]} time")
    print(
        f"# {args.optimizer}, single scale, median of {args.steps} steps; {machine()}; "
        f"float32 matmul 2048^3: {reference:.0f} GFLOP/s"
    )
    print(table(headers, rows))
    print(json.dumps({f"{k[0]} {k[1]}": v for k, v in results.items()}))


def compare(args: argparse.Namespace, before: Path) -> None:
    """Each size and precision measured at the baseline and now, one after the other."""
    rows = []
    for size in args.sizes:
        for precision in args.precisions:
            measure = (CHILD, args.optimizer, str(size), str(args.steps), precision)
            old, new = run_child(*measure, root=before), run_child(*measure)
            rows.append([
                "{}x{}".format(*new["size"]), precision,
                f"{old['per_step']:.2f}", f"{new['per_step']:.2f}", f"{new['per_step'] / old['per_step']:.2f}",
                f"{old['peak_mb']:.0f}", f"{new['peak_mb']:.0f}", f"{new['peak_mb'] / old['peak_mb']:.2f}",
            ])  # fmt: skip
    print(f"# {args.optimizer}, single scale, median of {args.steps} steps; {machine()}; baseline {args.baseline}")
    headers = ["size", "precision", "s/step before", "s/step now", "ratio", "peak MB before", "peak MB now", "ratio"]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
