"""Video: the multi-pass algorithm on two cluster workers against one sequential pass.

    python benchmarks/multipass.py [--size 192] [--frames 16] [--steps 30] [--passes 2 3 4] [--strip FILE]
    python benchmarks/multipass.py --variants [--size 128] [--frames 12] [--steps 20] [--frame-steps 10]

Starts a Ray cluster on this machine (a head that only coordinates and two worker nodes of one
CPU each, as the tests do) and makes one clip, a camera panning right by 2 px a frame across
Tuebingen (else scikit-image's cat), in the style of The Starry Night, ``--steps`` steps for a
frame made on its own and the default steps (``Settings.frame_iterations``) for the others:

- one sequential pass in this process (all its threads) and on one worker (1 CPU): today's default;
- the multi-pass algorithm on the two workers, for each of ``--passes``;
- every frame on its own (temporal weight 0), for scale.

Columns, in 0-255 levels of the output frames over the pixels in view in both frames compared:
*flicker*, the mean change from a frame to the next moved by the pan; *long-term*, the same
between frames 8 apart (a texture that drifts along the clip); *largest step*, the largest
frame-to-frame change (a seam where two workers' runs meet shows here); wall time and its ratio
to the sequential pass on one worker. ``--strip`` saves frames of each clip side by side.

``--variants`` measures, in this process and without a cluster, the choices the design made
against the reference's: the blend weight 3 against its 1 (``nst.multipass.BLEND_WEIGHT``), and
later passes swept as one run over the clip against split into two runs like the first pass
(their meeting point: the *step where runs meet* column); flicker and long-term as above.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from video import SHIFT, pan  # noqa: E402

from nst import Settings  # noqa: E402
from nst.execution import LocalExecutor  # noqa: E402
from nst.execution.cluster import RayExecutor  # noqa: E402
from nst.passes import stylize_clip  # noqa: E402
from nst.videoio import probe, read_frames  # noqa: E402

from common import inputs, local_cluster, machine, table  # noqa: E402

APART = 8  # frames apart for the long-term error


def errors(frames: list[np.ndarray], apart: int) -> list[float]:
    """Mean change between frames ``apart`` apart, the later moved back by the pan."""
    shift = SHIFT * apart
    pairs = zip(frames[:-apart], frames[apart:], strict=True)
    return [float(np.abs(b[:, :-shift] - a[:, shift:]).mean()) for a, b in pairs]


def measure(clip: Path, style: Image.Image, out: Path, settings: Settings, executor) -> tuple[float, list[np.ndarray]]:
    started = time.perf_counter()
    for _ in stylize_clip(executor, clip, style, out, settings):
        pass
    seconds = time.perf_counter() - started
    return seconds, [np.asarray(frame, dtype=np.float32) for frame in read_frames(probe(out))]


def variants(args: argparse.Namespace) -> None:
    """The design's choices against the reference's, in this process (module constants patched)."""
    import nst.multipass
    import nst.passes

    photo, style, names = inputs()
    settings = Settings(output_size=args.size, iterations=args.steps, frame_iterations=args.frame_steps,
                        precision="float32", seed=0)  # fmt: skip
    print(f"{machine()}; {names}; {args.frames} frames of {args.size} px, {args.steps} and {args.frame_steps} "
          "steps, float32, this process\n")  # fmt: skip
    whole = nst.passes.plan_runs
    split = lambda frames, workers: whole(frames, 2)  # noqa: E731  # later passes in two runs, as the first
    cases = [("one pass", 1, 3.0, whole), ("3 passes, weight 1 (the reference's)", 3, 1.0, whole),
             ("3 passes, weight 3", 3, 3.0, whole), ("2 passes, weight 3", 2, 3.0, whole),
             ("3 passes, weight 3, later passes in 2 runs", 3, 3.0, split),
             ("5 passes, weight 3, later passes in 2 runs", 5, 3.0, split)]  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        clip = pan(photo, args.frames, (args.size, args.size * 3 // 4), Path(folder) / "pan.mp4")
        for label, passes, weight, runs in cases:
            nst.multipass.BLEND_WEIGHT, nst.passes.plan_runs = weight, runs
            started = time.perf_counter()
            out = Path(folder) / f"{len(rows)}.mp4"
            case = settings.replace(passes=passes)
            if passes == 1:
                made = stylize_clip(LocalExecutor(), clip, style, out, case)
            else:  # the first pass in two runs, as on two workers
                made = nst.passes.stylize_video_passes(LocalExecutor(), clip, style, out, case, parallel=2)
            for _ in made:
                pass
            frames = [np.asarray(frame, dtype=np.float32) for frame in read_frames(probe(out))]
            steps = errors(frames, 1)
            rows.append([label, f"{np.mean(steps):.2f}", f"{np.mean(errors(frames, APART)):.2f}",
                         f"{steps[args.frames // 2 - 1]:.2f}", f"{max(steps):.2f}",
                         f"{time.perf_counter() - started:.0f}"])  # fmt: skip
            print(" | ".join(rows[-1]), flush=True)
    nst.passes.plan_runs = whole
    print(table(["clip", "flicker", f"long-term ({APART} apart)", "step where runs meet", "largest step", "s"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--passes", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--strip", type=Path)
    parser.add_argument("--variants", action="store_true")
    parser.add_argument("--frame-steps", type=int, default=10, help="--variants: steps of a later frame")
    args = parser.parse_args()
    if args.variants:
        variants(args)
        return
    photo, style, names = inputs()
    settings = Settings(output_size=args.size, iterations=args.steps, precision="float32", seed=0)
    print(f"{machine()}; {names}; {args.frames} frames of {args.size} px, {args.steps} steps for a frame made on "
          f"its own, {settings.frame_iterations} for the others, float32\n")  # fmt: skip
    cluster = local_cluster(2)
    remote = RayExecutor(cluster.address)
    threads = torch.get_num_threads()
    cases = [(f"one pass, this process ({threads} threads)", LocalExecutor(), settings.replace(passes=1)),
             ("one pass, one worker (1 CPU)", remote, settings.replace(passes=1))]  # fmt: skip
    cases += [(f"{n} passes, 2 workers", remote, settings.replace(passes=n)) for n in args.passes]
    cases += [("every frame on its own, one worker", remote, settings.replace(passes=1, temporal_weight=0))]
    rows, made = [], {}
    try:
        with tempfile.TemporaryDirectory() as folder:
            clip = pan(photo, args.frames, (args.size, args.size * 3 // 4), Path(folder) / "pan.mp4")
            warm = settings.replace(iterations=2, frame_iterations=1, passes=2)
            measure(clip, style, Path(folder) / "warm.mp4", warm, remote)  # both workers load VGG19
            base = None
            for label, executor, case in cases:
                seconds, frames = measure(clip, style, Path(folder) / f"{len(rows)}.mp4", case, executor)
                base = seconds if executor is remote and base is None else base
                steps = errors(frames, 1)
                ratio = f"{seconds / base:.2f}" if base else "-"
                rows.append([label, f"{np.mean(steps):.2f}", f"{np.mean(errors(frames, APART)):.2f}",
                             f"{max(steps):.2f}", f"{seconds:.0f}", ratio])  # fmt: skip
                made[label] = frames
                print(" | ".join(rows[-1]), flush=True)
    finally:
        remote.close()
        cluster.shutdown()
    print(table(["clip", "flicker", f"long-term ({APART} apart)", "largest step", "wall (s)", "vs one worker"], rows))
    if args.strip is not None:
        picks = range(0, args.frames, max(1, args.frames // 6))
        tiles = [np.concatenate([frames[k] for k in picks], axis=1) for frames in made.values()]
        Image.fromarray(np.concatenate(tiles, axis=0).clip(0, 255).astype(np.uint8)).save(args.strip)
        print(f"\nsaved {args.strip}: rows {list(made)}; frames {[k + 1 for k in picks]}")


if __name__ == "__main__":
    main()
