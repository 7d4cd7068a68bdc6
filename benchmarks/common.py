"""Helpers shared by the benchmarks: inputs, child processes, tables.

Benchmarks are measurements, not tests. Each prints a small table whose columns are
measured side by side in one run, because absolute seconds drift on shared machines.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
SHARED_IMAGES = ROOT.parent / "shared" / "images"


def inputs() -> tuple[Image.Image, Image.Image, str]:
    """Tuebingen and The Starry Night when ../shared/images exists, else generated pictures."""
    content, style = SHARED_IMAGES / "tubingen.jpg", SHARED_IMAGES / "starry_night.jpg"
    if content.exists() and style.exists():
        return Image.open(content).convert("RGB"), Image.open(style).convert("RGB"), "tubingen.jpg + starry_night.jpg"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:768, 0:1024]
    photo = np.stack([xx / 4 % 256, yy / 3 % 256, (xx + yy) / 7 % 256], -1).astype(np.uint8)
    painting = (rng.random((640, 1024, 3)) * 255).astype(np.uint8)
    return Image.fromarray(photo), Image.fromarray(painting), "generated pictures (../shared/images not found)"


def median_step(content: Image.Image, style: Image.Image, settings, extractor) -> tuple[float, object]:
    """Seconds per step of a run (the median, the first step, a warm-up, not counted) and its last record.

    For child processes of this checkout only; ``scaling.py``'s children, which may run in an
    older checkout's ``benchmarks/``, keep their own copy.
    """
    from nst import transfer

    times, last, progress = [], None, None
    for progress in transfer(content, style, settings, extractor=extractor):
        if last is not None:
            times.append(progress.elapsed - last)
        last = progress.elapsed
    times.sort()
    return times[len(times) // 2], progress


def run_child(code: str, *args: str, root: Path = ROOT, env: dict[str, str] | None = None) -> dict:
    """Run ``code`` in a fresh Python (so peak memory is its own); it prints one JSON line.

    ``root``: the checkout whose ``nst`` it imports (another revision's, for a before/after);
    ``env``: variables set for the child only (``NST_WINOGRAD``, for one).
    """
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def checkout(revision: str) -> Iterator[Path]:
    """A temporary ``git worktree`` of ``revision`` of this repository, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="nst-baseline-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), revision], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, capture_output=True)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def local_cluster(workers: int = 2):
    """A Ray cluster on this machine, as the tests start one: a head that only coordinates and
    ``workers`` worker nodes of one CPU each, this checkout on their path."""
    from ray.cluster_utils import Cluster  # only the cluster benchmarks need ray

    env = {"PYTHONPATH": str(ROOT)}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "env_vars": env})
    for _ in range(workers):
        cluster.add_node(num_cpus=1, env_vars=env)
    cluster.wait_for_nodes()
    return cluster


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table, ready to paste into the README."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def machine() -> str:
    import platform

    import torch

    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        model = names[0] if names else model
    kernels = torch.backends.cpu.get_cpu_capability()
    return f"{model}, {os.cpu_count()} cores, PyTorch's {kernels} kernels, torch {torch.__version__}"


def labelled_strip(path: Path, tiles: list[tuple[str, Image.Image]], height: int = 240) -> None:
    """The pictures side by side at one height, each with its name above it, saved as a JPEG."""
    scaled = [(name, pic.resize((round(pic.width * height / pic.height), height))) for name, pic in tiles]
    sheet = Image.new("RGB", (sum(p.width + 8 for _, p in scaled), height + 20), "white")
    draw, x = ImageDraw.Draw(sheet), 0
    for name, pic in scaled:
        sheet.paste(pic, (x, 20))
        draw.text((x + 4, 4), name, fill="black")
        x += pic.width + 8
    sheet.save(path, quality=88)
