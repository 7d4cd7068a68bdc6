"""VGG19's convolutions one by one: NNPACK's Winograd against oneDNN, forward and the input's gradient.

    python benchmarks/winograd_layers.py [--size 512] [--repeats 5]

For each distinct 3x3 convolution of VGG19 up to conv5_1 at the map size it has for a
``--size`` picture (4:3), the median seconds of the forward pass plus the gradient with
respect to its input (what a step of nst needs: the weights are frozen), by oneDNN
(``torch.nn.functional.conv2d`` and autograd) and by :func:`nst.winograd.convolve` (the
gradient as the convolution with the turned kernel), and how far the two gradients differ.
Random inputs and weights of VGG19's shapes; the same process, one after the other.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from nst import winograd  # noqa: E402

from common import machine, table  # noqa: E402

# (in, out channels, pools before it, how many such convolutions up to conv5_1)
SHAPES = ((3, 64, 0, 1), (64, 64, 0, 1), (64, 128, 1, 1), (128, 128, 1, 1), (128, 256, 2, 1),
          (256, 256, 2, 3), (256, 512, 3, 1), (512, 512, 3, 3), (512, 512, 4, 1))  # fmt: skip


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    work()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not winograd.nnpack_ready():
        sys.exit("this PyTorch has no NNPACK")
    height, width = args.size * 3 // 4, args.size
    rows, totals = [], [0.0, 0.0]
    generator = torch.Generator().manual_seed(0)
    for c_in, c_out, pools, count in SHAPES:
        h, w = height >> pools, width >> pools
        x = torch.randn(1, c_in, h, w, generator=generator).requires_grad_(True)
        weight = torch.randn(c_out, c_in, 3, 3, generator=generator) * (2 / (9 * c_in)) ** 0.5
        grad = torch.randn(1, c_out, h, w, generator=generator)
        turned = winograd.turned(weight)

        def onednn(x: torch.Tensor = x, weight: torch.Tensor = weight, grad: torch.Tensor = grad) -> torch.Tensor:
            return torch.autograd.grad(F.conv2d(x, weight, padding=1), x, grad)[0]

        def nnpack(x: torch.Tensor = x, weight: torch.Tensor = weight, grad: torch.Tensor = grad,
                   turned: torch.Tensor = turned) -> torch.Tensor:  # fmt: skip
            winograd.convolve(x.detach(), weight, None)
            return winograd.convolve(grad, turned, None)

        theirs, ours = median_seconds(onednn, args.repeats), median_seconds(nnpack, args.repeats)
        error = float((nnpack() - onednn()).norm() / onednn().norm())
        totals[0] += count * theirs
        totals[1] += count * ours
        rows.append([f"{c_in}->{c_out}", f"{w}x{h}", str(count), f"{theirs:.3f}", f"{ours:.3f}",
                     f"{ours / theirs:.2f}", f"{error:.1e}"])  # fmt: skip
    ratio = totals[1] / totals[0]
    rows.append(["all up to conv5_1", "", "13", f"{totals[0]:.3f}", f"{totals[1]:.3f}", f"{ratio:.2f}", ""])
    print(f"# {args.size} px picture, float32, forward + input gradient, median of {args.repeats}; {machine()}")
    print("# (the nst default uses Winograd only for maps of at least "
          f"{winograd.MIN_PIXELS} positions; this table times both everywhere)")  # fmt: skip
    headers = ["channels", "map", "such convs", "oneDNN s", "Winograd s", "ratio", "gradient's relative difference"]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
