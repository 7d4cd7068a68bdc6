"""Float32 fast paths on a laptop-class CPU: oneDNN, channels-last and threads, side by side.

    python benchmarks/float32_paths.py [--sizes 256 512] [--steps 6]

Seconds per L-BFGS step (single scale, float32, median of ``--steps`` after a warm-up), each
configuration in its own process, on this machine's CPU as it is and limited to AVX2
(``ONEDNN_MAX_CPU_ISA=AVX2``, ``ATEN_CPU_CAPABILITY=avx2``: what a laptop without AVX-512
runs). The configurations:

- default: what nst does (oneDNN convolutions, contiguous NCHW activations, all cores);
- channels-last: VGG19's weights and the picture, as it enters the network, in channels-last
  memory (oneDNN's own layout, so no reordering around each convolution; the optimised
  picture itself stays flat, as L-BFGS needs);
- no oneDNN: ``torch.backends.mkldnn.enabled = False`` (PyTorch's own convolutions);
- one thread fewer: ``torch.set_num_threads(cores - 1)`` (a core left for the browser).
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
elif config == "no oneDNN":
    torch.backends.mkldnn.enabled = False
elif config == "one thread fewer":
    torch.set_num_threads(max(1, torch.get_num_threads() - 1))
settings = Settings(output_size=size, iterations=steps + 1, preview_every=0, scales=1, precision="float32")
per_step, progress = median_step(content, style, settings, extractor)
print(json.dumps({"per_step": per_step, "loss": progress.loss, "threads": torch.get_num_threads()}))
"""

CONFIGS = ("default", "channels-last", "no oneDNN", "one thread fewer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    rows = []
    saved = {key: os.environ.get(key) for key in AVX2}
    for isa, env in (("as it is", {}), ("AVX2 only", AVX2)):
        for key in AVX2:
            os.environ.pop(key, None)
        os.environ.update(env)
        for size in args.sizes:
            results = {config: run_child(CHILD, config, str(size), str(args.steps)) for config in CONFIGS}
            base = results["default"]["per_step"]
            rows.append(
                [isa, str(size)]
                + [f"{r['per_step']:.3f} ({r['per_step'] / base:.2f}x)" for r in results.values()]
                + [f"{results['default']['loss']:.3f} / {results['channels-last']['loss']:.3f}"]
            )
    for key, value in saved.items():
        os.environ.pop(key, None)
        if value is not None:
            os.environ[key] = value
    print(f"# float32, L-BFGS, single scale, median s/step of {args.steps} after a warm-up; {machine()}")
    print(table(["CPU", "size", *CONFIGS, "loss after the steps: default / channels-last"], rows))


if __name__ == "__main__":
    main()
