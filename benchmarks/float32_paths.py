"""Float32 paths on a laptop-class CPU: Winograd, oneDNN, channels-last, compile, threads, side by side.

    python benchmarks/float32_paths.py [--sizes 256 512] [--steps 6] [--configs ...]

Seconds per L-BFGS step (single scale, float32, median of ``--steps`` after a warm-up), each
configuration in its own process, on this machine's CPU as it is and limited to AVX2
(``ONEDNN_MAX_CPU_ISA=AVX2``, ``ATEN_CPU_CAPABILITY=avx2``: what a laptop without AVX-512
runs; on a CPU without AVX-512 the two rows measure the same thing twice). The configurations:

- default: what nst does (on an AVX2 CPU: NNPACK's Winograd convolutions where the map is
  large enough, :mod:`nst.winograd`; oneDNN for the rest; contiguous NCHW; all cores);
- oneDNN only: ``NST_WINOGRAD=0``, every convolution by oneDNN (nst before Winograd);
- channels-last: oneDNN only, with VGG19's weights and the picture, as it enters the
  network, in channels-last memory (oneDNN's own layout; the optimised picture itself stays
  flat, as L-BFGS needs);
- torch.compile: the extractor's forward compiled by TorchInductor (its compile time, a
  minute or more, is in the warm-up step and not counted); NNPACK cannot be traced, so
  compiled code convolves with oneDNN;
- no oneDNN: ``torch.backends.mkldnn.enabled = False`` and ``NST_WINOGRAD=0`` (PyTorch's
  own convolutions);
- one thread fewer: the default with ``torch.set_num_threads(cores - 1)`` (a core left for
  the browser).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, run_child, table

AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}

CHILD = r"""
import json, os, sys
import torch
sys.path.insert(0, "benchmarks")
from common import inputs, median_step
from nst import Settings, build_extractor
config, size, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
content, style, _ = inputs()
extractor = build_extractor("caffe", last_layer="relu5_1")
if config == "channels-last":  # the weights, and the picture as it enters the network (L-BFGS needs it flat)
    network = extractor.to(memory_format=torch.channels_last)

    class ChannelsLast:
        device, source, pooling = network.device, network.source, network.pooling

        def __call__(self, image, layers, visit=None):
            return network(image.contiguous(memory_format=torch.channels_last), layers, visit=visit)

    extractor = ChannelsLast()
elif config == "torch.compile":
    extractor.forward = torch.compile(extractor.forward)
elif config == "no oneDNN":
    torch.backends.mkldnn.enabled = False
elif config == "one thread fewer":
    torch.set_num_threads(max(1, torch.get_num_threads() - 1))
settings = Settings(output_size=size, iterations=steps + 1, preview_every=0, scales=1, precision="float32")
per_step, progress = median_step(content, style, settings, extractor)
print(json.dumps({"per_step": per_step, "loss": progress.loss, "threads": torch.get_num_threads()}))
"""

CONFIGS = ("default", "oneDNN only", "channels-last", "torch.compile", "no oneDNN", "one thread fewer")
ONEDNN_ONLY = ("oneDNN only", "channels-last", "no oneDNN")  # run with NST_WINOGRAD=0


def _measure(config: str, size: int, steps: int) -> dict:
    winograd = "0" if config in ONEDNN_ONLY else "auto"
    return run_child(CHILD, config, str(size), str(steps), env={"NST_WINOGRAD": winograd})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--isa", nargs="+", choices=("as it is", "AVX2 only"), default=["as it is", "AVX2 only"])
    args = parser.parse_args()
    configs = ["default"] + [config for config in args.configs if config != "default"]
    rows = []
    saved = {key: os.environ.get(key) for key in AVX2}
    for isa, env in (("as it is", {}), ("AVX2 only", AVX2)):
        if isa not in args.isa:
            continue
        for key in AVX2:
            os.environ.pop(key, None)
        os.environ.update(env)
        for size in args.sizes:
            results = {config: _measure(config, size, args.steps) for config in configs}
            base = results["default"]["per_step"]
            rows.append(
                [isa, str(size)]
                + [f"{r['per_step']:.3f} ({r['per_step'] / base:.2f}x)" for r in results.values()]
                + [" / ".join(f"{r['loss']:.3f}" for r in results.values())]
            )
    for key, value in saved.items():
        os.environ.pop(key, None)
        if value is not None:
            os.environ[key] = value
    print(f"# float32, L-BFGS, single scale, median s/step of {args.steps} after a warm-up; {machine()}")
    print(table(["CPU", "size", *configs, "loss after the steps, in the same order"], rows))


if __name__ == "__main__":
    main()
