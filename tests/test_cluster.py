"""Runs on a real Ray cluster: several Ray nodes started on this machine by the tests, torn down at the end.

The head node only coordinates (no CPU to offer); each worker node offers one CPU, so each
holds one nst worker. Pictures are tiny and runs short; every wait is bounded.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import ray
import torch
from PIL import Image
from ray.cluster_utils import Cluster

from nst.batch import plan_batch, run_batch
from nst.chunks import Chunk, plan_chunks, stylize_video_chunks
from nst.execution import LocalExecutor
from nst.execution.cluster import RayExecutor
from nst.execution.wire import project_version
from nst.jobs.picture import PictureJob
from nst.settings import Settings
from nst.videoio import probe
from tests.conftest import make_content, make_style

ROOT = Path(__file__).resolve().parent.parent
TINY = Settings(output_size=48, start_size=48, iterations=6, precision="float32", seed=5)


def _node_env(path: Path) -> dict[str, str]:
    # What a lab PC's `ray start` is run with (README): the project's checkout on the path.
    return {"PYTHONPATH": str(path)}


def _cluster(workers: int, env: dict[str, str] | None = None) -> Cluster:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "env_vars": env or _node_env(ROOT)})
    for _ in range(workers):
        cluster.add_node(num_cpus=1, env_vars=env or _node_env(ROOT))
    cluster.wait_for_nodes()
    return cluster


@pytest.fixture(scope="module")
def cluster():
    started = _cluster(2)
    yield started
    if ray.is_initialized():
        ray.shutdown()
    started.shutdown()


@pytest.fixture(scope="module")
def executor(cluster):
    running = RayExecutor(cluster.address)
    yield running
    running.close()


def _job(steps: int = 6, every: float | None = 0.0, **changes) -> PictureJob:
    settings = TINY.replace(iterations=steps, **changes)
    return PictureJob(make_content(64, 48), make_style(48, 48), settings, preview_seconds=every)


def _start(executor, job, owner: str):
    ticket = executor.join(owner)
    assert executor.wait(ticket, timeout=30) == 0
    executor.queue.begin(ticket)
    return ticket, executor.start(ticket, job)


def test_a_worker_with_other_code_is_refused_with_a_message(tmp_path) -> None:
    # One node runs this checkout; the other an older copy (one line of nst/ differs).
    old = tmp_path / "old-checkout"
    shutil.copytree(ROOT / "nst", old / "nst", ignore=shutil.ignore_patterns("__pycache__"))
    engine = old / "nst" / "engine.py"
    engine.write_text(engine.read_text() + "\n# an older checkout\n")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "env_vars": _node_env(ROOT)})
    cluster.add_node(num_cpus=1, env_vars=_node_env(ROOT))
    cluster.add_node(num_cpus=1, env_vars=_node_env(old))
    cluster.wait_for_nodes()
    try:
        # The command line from another folder, as a user runs it: the workers import their own nst.
        photo, painting = tmp_path / "photo.png", tmp_path / "painting.png"
        make_content(64, 48).save(photo)
        make_style(48, 48).save(painting)
        done = subprocess.run(
            [sys.executable, "-m", "nst", str(photo), str(painting), "-o", "out.png", "--cluster", cluster.address,
             "--size", "48", "-n", "3", "--precision", "float32"],
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert f"runs nst {project_version()[:6]}" in done.stderr  # the refused worker's version, and ours
        assert f"this is {project_version()}" in done.stderr
        assert "install the same checkout on every node" in done.stderr
        assert "1 worker, 1 free" in done.stderr  # the run went to the worker with the same code
        assert Image.open(tmp_path / "out.png").size == (48, 36)
    finally:
        cluster.shutdown()


def test_only_the_cluster_module_imports_ray() -> None:
    importing = sorted(
        str(path.relative_to(ROOT))
        for path in [*ROOT.glob("nst/**/*.py"), *ROOT.glob("webapp/*.py"), ROOT / "streamlit_app.py"]
        if re.search(r"^\s*(import ray|from ray)\b", path.read_text(), re.MULTILINE)
    )
    assert importing == ["nst/execution/cluster.py"]


def test_with_no_worker_left_the_fallback_finishes_the_run_here() -> None:
    # Its own cluster of one worker node, before this module's shared one starts.
    alone = _cluster(1)
    try:
        executor = RayExecutor(alone.address, fallback_local=True)
        try:
            ticket, run = _start(executor, _job(steps=30, every=None, preview_every=5), "last")
            steps = []
            for progress in run:
                steps.append(progress.step)
                if progress.step == 6 and len(steps) == 6:
                    alone.remove_node(next(iter(alone.worker_nodes)), allow_graceful=False)
            executor.leave(ticket)
            assert steps[-1] == 30 and progress.image is not None
            assert len(run.notes) == 1, run.notes
            latest = int(re.search(r"none is left; the run continued from step (\d+) here", run.notes[0]).group(1))
            k = len(steps) - (30 - latest)  # steps 1..k on the worker, then latest+1..30 here
            assert k >= 6 and steps == list(range(1, k + 1)) + list(range(latest + 1, 31)), steps
            assert run.worker == "this process"
        finally:
            executor.close()
    finally:
        if ray.is_initialized():
            ray.shutdown()
        alone.shutdown()


def test_two_runs_at_once_run_on_two_workers_and_stream_in_order(executor) -> None:
    assert executor.workers == 2
    records: dict[str, list[tuple[int, float, bool]]] = {"a": [], "b": []}
    where: dict[str, str] = {}

    def follow(owner: str, steps: int = 8) -> None:
        ticket, run = _start(executor, _job(steps=steps), owner)
        try:
            where[owner] = run.worker
            for progress in run:
                records[owner].append((progress.step, time.monotonic(), progress.image is not None))
        finally:
            executor.leave(ticket)

    def both(steps: int) -> None:
        threads = [threading.Thread(target=follow, args=(owner, steps)) for owner in records]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    # First a step on each worker, so that both have loaded VGG19: a worker still loading it
    # started its run after the other had finished its 8 steps (seen in CI).
    both(steps=1)
    assert where["a"] != where["b"]
    records = {"a": [], "b": []}
    both(steps=8)
    assert where["a"] != where["b"]  # two workers
    for owner, steps in records.items():
        assert [step for step, _, _ in steps] == list(range(1, 9)), owner
        assert all(has_picture for _, _, has_picture in steps), owner  # previews came with the stream
    a, b = records["a"], records["b"]
    assert a[0][1] < b[-1][1] and b[0][1] < a[-1][1]  # at the same time, not one after the other
    assert executor.free == 2


def test_stop_frees_the_worker_within_seconds(executor) -> None:
    ticket, run = _start(executor, _job(steps=500), "stopper")
    try:
        assert next(run).step == 1
        time.sleep(1)  # the worker runs ahead until backpressure holds it
        asked = time.monotonic()
        run.cancel()
        assert time.monotonic() - asked < 5
        assert run.notes == []  # it stopped by itself: not killed
    finally:
        executor.leave(ticket)
    assert executor.free == 2 and executor.workers == 2
    ticket, run = _start(executor, _job(steps=2), "next")  # the next run starts at once, on a free worker
    try:
        assert [progress.step for progress in run] == [1, 2]
    finally:
        executor.leave(ticket)


def test_a_reader_that_pauses_finds_the_worker_at_most_a_few_records_ahead(executor) -> None:
    from nst.execution.cluster import BACKPRESSURE

    ticket, run = _start(executor, _job(steps=400, every=None), "slow reader")
    try:
        first = next(run)
        time.sleep(4)  # far longer than 400 tiny steps take
        later = [next(run) for _ in range(2 * BACKPRESSURE)]
        # Made while the reader slept: the records made less than 4 s after the first.
        ahead = [p.step for p in later if p.elapsed < first.elapsed + 3.5]
        assert len(ahead) <= BACKPRESSURE + 2, (ahead, [(p.step, p.elapsed) for p in later])
        assert later[-1].step == first.step + 2 * BACKPRESSURE  # none lost
    finally:
        run.cancel()
        executor.leave(ticket)


def test_a_worker_stuck_in_a_step_is_stopped_within_seconds_and_replaced(executor) -> None:
    import signal

    ticket, run = _start(executor, _job(steps=500, every=None), "stuck")
    try:
        next(run)
        worker = run._worker  # its process, frozen as if in an endless step
        os.kill(worker.pid, signal.SIGSTOP)
        asked = time.monotonic()
        run.cancel()
        assert time.monotonic() - asked < 10
        assert run.notes and "stopped by force" in run.notes[-1], run.notes
    finally:
        executor.leave(ticket)
    deadline = time.monotonic() + 120
    while executor.workers < 2 and time.monotonic() < deadline:  # a new worker starts in its place
        time.sleep(0.5)
    assert executor.workers == 2
    ticket, after = _start(executor, _job(steps=2), "after")
    try:
        assert [p.step for p in after] == [1, 2]
    finally:
        executor.leave(ticket)


def _command(args: list[str], folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m nst ARGS`` as a user runs it, from another folder, with these variables."""
    return subprocess.run([sys.executable, "-m", "nst", *args], cwd=folder, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, timeout=300)  # fmt: skip


def test_a_second_driver_shares_the_workers_batch_and_video_follow_nst_cluster(cluster, executor, tmp_path) -> None:
    from tests.test_video import sliding_frames, write_clip

    # This process stands for the app's server: a long run on one worker...
    ticket, run = _start(executor, _job(steps=100000, every=None), "the app")
    try:
        next(run)
        photos = tmp_path / "photos"
        photos.mkdir()
        for index in range(2):
            make_content(64, 48).rotate(90 * index, expand=True).save(photos / f"p{index}.png")
        make_style(40, 40).save(tmp_path / "style.png")
        small = ["--size", "48", "-n", "4", "--precision", "float32"]
        # ...while a batch from a terminal, pointed at the cluster by NST_CLUSTER alone, uses the other.
        batch = _command(["batch", "photos", "--style", "style.png", "-o", "styled", *small], tmp_path,
                         NST_CLUSTER=cluster.address)  # fmt: skip
        assert batch.returncode == 0, batch.stderr
        assert "running on Ray cluster" in batch.stderr and "made 2, skipped 0" in batch.stderr
        assert sorted(p.name for p in (tmp_path / "styled").iterdir()) == ["p0--style.png", "p1--style.png"]
        write_clip(tmp_path / "pan.mp4", sliding_frames(3, (64, 48)), fps=12)
        video = _command(["video", "pan.mp4", "style.png", "-o", "out.mp4", *small, "--frame-iterations", "2"],
                         tmp_path, NST_CLUSTER=cluster.address)  # fmt: skip
        assert video.returncode == 0, video.stderr
        assert "running on Ray cluster" in video.stderr and probe(tmp_path / "out.mp4").frames == 3
        assert next(run).step > 1  # the app's run went on all the while
    finally:
        run.cancel()
        executor.leave(ticket)
    refused = _command(["batch", "photos", "--style", "style.png", "-o", "x", *small], tmp_path,
                       NST_CLUSTER="127.0.0.1:9")  # fmt: skip
    assert refused.returncode == 2 and "cannot reach the Ray cluster at 127.0.0.1:9" in refused.stderr
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_batch_on_the_cluster_makes_the_same_pictures_as_here(executor, tmp_path) -> None:
    contents = []
    for index, (width, height) in enumerate([(64, 48), (48, 64), (56, 56)]):
        contents.append(tmp_path / f"photo{index}.png")
        make_content(width, height).rotate(index * 90, expand=True).save(contents[-1])
    styles = []
    for seed in (1, 2):
        styles.append(tmp_path / f"style{seed}.png")
        make_style(40, 40, seed=seed).save(styles[-1])
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    # The same pixels need the same order of floating-point sums: here as many threads as a worker has.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = [e.kind for e in run_batch(plan_batch(contents, styles, here), TINY, LocalExecutor())]
    finally:
        torch.set_num_threads(threads)
    assert local.count("done") == 6
    kinds = [event.kind for event in run_batch(plan_batch(contents, styles, there), TINY, executor)]
    assert kinds.count("done") == 6 and "failed" not in kinds
    for made in here.iterdir():
        ours, theirs = np.asarray(Image.open(made)), np.asarray(Image.open(there / made.name))
        assert ours.shape == theirs.shape and np.array_equal(ours, theirs), made.name
    again = [event.kind for event in run_batch(plan_batch(contents, styles, there), TINY, executor)]
    assert again == ["skipped"] * 6


def test_one_pass_pictures_go_to_the_workers_and_are_the_ones_made_here(executor, tmp_path) -> None:
    """batch --instant on the cluster: each photo on a worker, the same pixels as in this process."""
    contents = []
    for index, size in enumerate([(64, 48), (48, 64)]):
        contents.append(tmp_path / f"photo{index}.png")
        make_content(*size).save(contents[-1])
    style = tmp_path / "style.png"
    make_style(48, 48).save(style)
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    settings = Settings(output_size=64)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as many threads as a worker of one CPU has
    try:
        events = run_batch(plan_batch(contents, [style], here), settings, LocalExecutor(), instant=True)
        local = [event.kind for event in events]
    finally:
        torch.set_num_threads(threads)
    remote = [e.kind for e in run_batch(plan_batch(contents, [style], there), settings, executor, instant=True)]
    assert local.count("done") == remote.count("done") == 2 and "failed" not in remote
    for made in here.iterdir():
        ours, theirs = np.asarray(Image.open(made), np.int16), np.asarray(Image.open(there / made.name), np.int16)
        assert ours.shape == theirs.shape and np.abs(ours - theirs).max() <= 1, made.name


def test_a_clip_in_passes_on_two_workers_has_every_frame_the_audio_no_seam_and_flickers_as_one_pass(
    executor, tmp_path
) -> None:
    from nst.passes import plan_runs, stylize_clip
    from tests.test_video import SHIFT, decoded, flicker, sliding_frames, write_clip

    clip = write_clip(tmp_path / "pan.mp4", sliding_frames(12, (96, 64)), fps=12, audio=True)
    style = make_style(64, 64, seed=3)
    settings = Settings(output_size=96, iterations=20, frame_iterations=8, precision="float32", seed=1)
    assert plan_runs(12, executor.workers) == [range(0, 6), range(6, 12)]
    records = list(stylize_clip(executor, clip, style, tmp_path / "out.mp4", settings))  # 2 workers: multi-pass
    passes = records[0].sweeps
    assert passes > 1 and {r.sweep for r in records} == set(range(1, passes + 1))
    first = [r.frame for r in records if r.sweep == 1 and r.frame_done]
    assert sorted(first) == list(range(1, 13))
    assert first.index(7) < first.index(6)  # at once: the second run began before the first reached frame 6
    made = probe(tmp_path / "out.mp4")
    assert made.frames == 12 and made.fps == 12 and made.audio
    frames = decoded(tmp_path / "out.mp4")
    steps = [np.abs(b[:, :-SHIFT] - a[:, SHIFT:]).mean() for a, b in zip(frames[:-1], frames[1:], strict=True)]
    assert steps[5] < 2 * float(np.median(steps)), steps  # frame 6 to 7, where the two runs meet: no seam
    alone = [np.asarray(r.image, dtype=np.float32) for r in records if r.sweep == 1 and r.frame_done]
    alone = [alone[first.index(k)] for k in range(1, 13)]  # the first pass, each frame on its own, in order
    assert flicker(frames) < 0.5 * flicker(alone), (flicker(frames), flicker(alone))
    one_pass = tmp_path / "one.mp4"
    assert _whole(stylize_clip(executor, clip, style, one_pass, settings.replace(passes=1))) == one_pass
    assert flicker(frames) <= 1.2 * flicker(decoded(one_pass)), (flicker(frames), flicker(decoded(one_pass)))


def test_a_clip_painted_in_one_pass_goes_in_cross_faded_chunks_on_two_workers(executor, tmp_path) -> None:
    from tests.test_video import SHIFT, decoded, flicker, sliding_frames, write_clip

    clip = write_clip(tmp_path / "pan.mp4", sliding_frames(20, (96, 64)), fps=12)
    style = make_style(64, 64, seed=3)
    settings = Settings(output_size=96, precision="float32", seed=1)
    assert plan_chunks(20, 2) == [Chunk(0, 13), Chunk(7, 20)]  # 6 frames in both
    firsts, order = set(), []
    out = _whole(stylize_video_chunks(executor, clip, style, tmp_path / "out.mp4", settings, instant=True), firsts,
                 order)  # fmt: skip
    assert firsts == {1, 8}  # both chunks, each from its own first frame
    frames = decoded(out)
    assert len(frames) == 20
    steps = [np.abs(b[:, :-SHIFT] - a[:, SHIFT:]).mean() for a, b in zip(frames[:-1], frames[1:], strict=True)]
    alone = settings.replace(temporal_weight=0)  # every frame painted on its own, for scale
    jumpy = flicker(decoded(_whole(stylize_video_chunks(executor, clip, style, tmp_path / "j.mp4", alone,
                                                        instant=True))))  # fmt: skip
    seam = max(steps[6:13])  # the pairs into, across and out of the cross-faded frames 8 to 13
    assert seam < 0.8 * jumpy, (steps, jumpy)  # the second chunk's start does not show as a jump
    assert flicker(frames) < 0.6 * jumpy, (steps, jumpy)


def _whole(run, firsts: set | None = None, order: list | None = None):
    """Run a video generator to its end; returns its output's path."""
    try:
        while True:
            progress = next(run)
            if order is not None and firsts is not None:
                order.append(progress.frame)
                if progress.certain is None:
                    firsts.add(progress.frame)  # a frame stylised on its own: the start of a chunk
    except StopIteration as stop:
        return stop.value


def test_a_race_on_the_cluster_runs_its_two_runners_at_once_each_on_its_own_worker(executor) -> None:
    from nst.race import race_on

    jobs = {"lbfgs": _job(steps=8), "adam": _job(steps=8, optimizer="adam")}
    laps = list(race_on(executor, jobs, parallel=2, owner="racer"))
    assert all(lap.error is None for lap in laps)
    for name in jobs:
        mine = [lap for lap in laps if lap.name == name]
        assert [lap.progress.step for lap in mine] == list(range(1, 9)), name
        assert [lap.seconds for lap in mine] == sorted(lap.seconds for lap in mine)  # the run's own time
        assert mine[-1].progress.image is not None
    order = [lap.name for lap in laps]
    assert order.index("adam") < len(order) - 1 - order[::-1].index("lbfgs")  # at once: adam began before lbfgs ended
    assert executor.free == 2


def test_a_clip_goes_on_from_its_frames_done_on_one_worker_as_it_would_here(executor, tmp_path) -> None:
    # The app's Video tab on a cluster: a stopped clip goes on, in order, on one worker.
    from nst.video import stylize_video
    from tests.test_video import sliding_frames, write_clip

    clip = write_clip(tmp_path / "pan.mp4", sliding_frames(5, (64, 48)), fps=12)
    style = make_style(48, 48, seed=3)
    settings = Settings(output_size=64, iterations=8, frame_iterations=4, precision="float32", seed=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as many as a worker has: the same order of sums, the same pixels
    try:
        here = [p.image for p in stylize_video(clip, style, tmp_path / "here.mp4", settings) if p.frame_done]
    finally:
        torch.set_num_threads(threads)
    records = list(stylize_video_chunks(executor, clip, style, tmp_path / "there.mp4", settings, done=here[:2],
                                        parallel=1))  # fmt: skip
    assert sorted({record.frame for record in records}) == [3, 4, 5]  # only the frames not done yet
    there = [record.image for record in records if record.frame_done]
    assert len(there) == 3 and records[0].certain is not None  # frame 3 followed frame 2 along the flow
    for made_here, made_there in zip(here[2:], there, strict=True):
        assert np.array_equal(np.asarray(made_here), np.asarray(made_there))
    assert probe(tmp_path / "there.mp4").frames == 5


def test_a_worker_lost_mid_run_hands_the_run_to_another_from_its_latest_full_size_picture(cluster, executor) -> None:
    # Last in this file: it takes a node away. Previews are display-sized (32 px of 48, as a print
    # size's are in the app); the run must go on from a full-size picture, not from a preview.
    job = dataclasses.replace(_job(steps=40, every=None, preview_every=5), preview_size=32)
    ticket, run = _start(executor, job, "survivor")
    try:
        steps, pictures = [], []
        for progress in run:
            steps.append(progress.step)
            if progress.image is not None:
                pictures.append(progress.step)
            if progress.step == 12 and len(steps) == 12:
                lost = next(node for node in cluster.worker_nodes if node.node_id == run.node)
                cluster.remove_node(lost, allow_graceful=False)  # the process and its node die at once
        assert steps[-1] == 40 and progress.image is not None and progress.image.size == (48, 36)
        assert len(run.notes) == 1 and "A worker was lost" in run.notes[0], run.notes
        latest = int(re.search(r"continued from step (\d+) on", run.notes[0]).group(1))
        # The worker sent its full-size picture with the first preview (and every 20 s after): step 5.
        assert latest == pictures[0] == 5
        # Steps 1..k came from the lost worker (k >= 12: records it had sent before it died
        # may still arrive), then latest+1..40 from the other: numbered on from that picture.
        k = len(steps) - (40 - latest)
        assert k >= 12 and steps == list(range(1, k + 1)) + list(range(latest + 1, 41)), steps
    finally:
        executor.leave(ticket)
    assert executor.workers == 1


def test_a_chunk_whose_worker_is_lost_goes_on_elsewhere_from_its_last_frame(cluster, executor, tmp_path) -> None:
    # After the test above: a fresh node joins, so two workers serve again.
    from nst.execution.wire import picture_bytes
    from nst.jobs.chunk import ChunkJob
    from tests.test_video import SHIFT, sliding_frames, write_clip

    cluster.add_node(num_cpus=1, env_vars=_node_env(ROOT))
    cluster.wait_for_nodes()
    executor.refresh()
    assert executor.workers == 2
    clip = write_clip(tmp_path / "pan.mp4", sliding_frames(10, (96, 64)), fps=12)
    settings = Settings(output_size=96, iterations=30, frame_iterations=15, precision="float32", seed=1)
    job = ChunkJob(clip.read_bytes(), ".mp4", 0, 10, (96, 64), (picture_bytes(make_style(64, 64, seed=3)),), False,
                   settings)  # fmt: skip
    made: dict[int, np.ndarray] = {}
    nodes, trusted = [], {}
    ticket, run = _start(executor, job, "chunk")
    try:
        for record in run:
            nodes.append(run.node)
            trusted[record.index] = record.trusted
            if record.step.done:
                made[record.index] = np.asarray(record.step.image, dtype=np.float32)
                if record.index == 3 and not run.notes:
                    cluster.remove_node(next(n for n in cluster.worker_nodes if n.node_id == run.node))
    finally:
        executor.leave(ticket)
    notes = run.notes
    assert len(notes) == 1 and "A worker was lost" in notes[0] and "continued from frame 4 (after frame 3" in notes[0]
    assert len(set(nodes)) == 2 and sorted(made) == list(range(1, 11))
    assert trusted[4] is not None  # frame 4 followed frame 3 along the flow: not stylised on its own
    frames = [made[index] for index in range(1, 11)]
    steps = [np.abs(b[:, :-SHIFT] - a[:, SHIFT:]).mean() for a, b in zip(frames[:-1], frames[1:], strict=True)]
    assert steps[2] < 2.5 * float(np.median(steps)), steps  # frame 3 to 4, across the change of worker
