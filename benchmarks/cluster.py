"""The Ray cluster backend against this process, in one run on one machine.

    python benchmarks/cluster.py [--size 256] [--steps 30] [--pictures 4] [--precision auto]

Starts a Ray cluster on this machine (a head that only coordinates and two worker nodes of
one CPU each, as the tests do) and measures:

- **one run**: the same picture in this process with one thread and on one cluster worker
  (one CPU): wall time, the first step's arrival, the overhead of going through the cluster
  (the job's pictures sent as file bytes, each step's record and the previews streamed back
  as PNG);
- **a batch**: ``--pictures`` photos x The Starry Night, one after another in this process
  with all its cores, and on the two workers at once (one core each);
- **Stop**: from ``cancel()`` until the worker is free again;
- **a lost worker**: from killing the node that runs a picture until the next step arrives
  from the other worker;
A clip on the two workers (the multi-pass algorithm against one sequential pass) is
``benchmarks/multipass.py``.

On a single machine the cluster cannot add cores; what the batch row shows is how two
single-threaded workers compare with one two-threaded process on the same two cores. On a
lab of N machines the batch's throughput grows with N (one picture per machine at a time).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nst import Settings
from nst.batch import plan_batch, run_batch
from nst.execution import LocalExecutor
from nst.execution.cluster import RayExecutor
from nst.jobs.picture import PictureJob

from common import SHARED_IMAGES, inputs, local_cluster, machine, table

PHOTOS = ("tubingen.jpg", "shipwreck.jpg", "the_scream.jpg", "woman-with-hat-matisse.jpg")


def timed_run(executor, job: PictureJob) -> tuple[float, float]:
    """(seconds to the first step, seconds to the last) of one run."""
    started = time.perf_counter()
    first = None
    for _ in executor.run(job):
        if first is None:
            first = time.perf_counter() - started
    return first or 0.0, time.perf_counter() - started


def main() -> None:  # noqa: PLR0915  # one benchmark, its steps in order
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--pictures", type=int, default=4)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    settings = Settings(output_size=args.size, iterations=args.steps, precision=args.precision, seed=0)
    content, style, names = inputs()
    job = PictureJob(content, style, settings, preview_seconds=0.5)
    print(f"{machine()}; {names}; {args.size} px, {args.steps} steps, precision {args.precision}\n")

    cluster = local_cluster(2)
    remote = RayExecutor(cluster.address)
    local = LocalExecutor()
    try:
        # Warm both: the model loaded, the style's targets cached on each side.
        for executor in (local, remote, remote):
            timed_run(executor, job.__class__(content, style, settings.replace(iterations=2)))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        here = timed_run(local, job)
        torch.set_num_threads(threads)
        there = timed_run(remote, job)
        rows = [
            ["one run, this process (1 thread)", f"{here[0]:.2f}", f"{here[1]:.1f}", "1.00"],
            ["one run, a cluster worker (1 CPU)", f"{there[0]:.2f}", f"{there[1]:.1f}", f"{there[1] / here[1]:.2f}"],
        ]
        print(table(["", "first step (s)", "whole run (s)", "ratio"], rows), "\n")

        photos = [SHARED_IMAGES / name for name in PHOTOS if (SHARED_IMAGES / name).exists()][: args.pictures]
        paintings = [SHARED_IMAGES / "starry_night.jpg"]
        batch_rows = []
        if photos and paintings[0].exists():
            seconds = {}
            for label, executor in (
                (f"this process ({threads} threads), in order", local),
                ("2 cluster workers (1 CPU each), at once", remote),
            ):
                with tempfile.TemporaryDirectory() as folder:
                    started = time.perf_counter()
                    kinds = [e.kind for e in run_batch(plan_batch(photos, paintings, Path(folder)), settings, executor)]
                    seconds[label] = time.perf_counter() - started
                    assert kinds.count("done") == len(photos), kinds
            base = next(iter(seconds.values()))
            batch_rows = [
                [label, f"{s:.1f}", f"{s / len(photos):.1f}", f"{s / base:.2f}"] for label, s in seconds.items()
            ]
            print(table([f"batch of {len(photos)}", "wall (s)", "per picture (s)", "ratio"], batch_rows), "\n")

        long = PictureJob(content, style, settings.replace(iterations=500), preview_seconds=0.5)
        ticket = remote.join()
        remote.wait(ticket, 60)
        remote.queue.begin(ticket)
        run = remote.start(ticket, long)
        next(run)
        next(run)
        asked = time.perf_counter()
        run.cancel()
        stop = time.perf_counter() - asked
        remote.leave(ticket)

        ticket = remote.join()
        remote.wait(ticket, 60)
        remote.queue.begin(ticket)
        run = remote.start(ticket, long)
        lost_at = recovered = None
        for progress in run:
            if lost_at is None and progress.step >= 5 and progress.image is not None:
                node = next(n for n in cluster.worker_nodes if n.node_id == run.node)
                lost_at = time.perf_counter()
                cluster.remove_node(node, allow_graceful=False)
            elif lost_at is not None and run.notes:
                recovered = time.perf_counter() - lost_at
                break
        run.cancel()
        remote.leave(ticket)
        events = [["Stop: cancel() until the worker is free", f"{stop:.2f}"],
                  ["a node killed mid-run: until the next step from the other worker", f"{recovered:.1f}"],
                  ["the note", run.notes[0] if run.notes else "(none)"]]  # fmt: skip
        print(table(["event", "seconds"], events), "\n")
    finally:
        remote.close()
        cluster.shutdown()


if __name__ == "__main__":
    main()
