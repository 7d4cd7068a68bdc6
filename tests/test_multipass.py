"""Video by the multi-pass algorithm (nst.multipass, nst.passes) in this process: the blend a later
pass starts from, the order of the passes, less flicker than its first pass, a stop that loses nothing.
The clip on a real two-worker cluster is in tests/test_cluster.py."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nst import Settings, examples
from nst.errors import SettingsError
from nst.execution.base import envelope, job_from_envelope
from nst.execution.wire import png_bytes, project_version
from nst.jobs.sweep import SweepJob
from nst.multipass import BLEND_WEIGHT, blended
from nst.passes import passes_for, plan_runs, planned_steps, stylize_clip
from tests.test_video import decoded, flicker, sliding_frames, write_clip

SMALL = Settings(output_size=64, iterations=10, frame_iterations=5, precision="float32", seed=2)


def test_a_later_pass_starts_most_of_the_way_to_its_trusted_neighbour_and_is_kept_close_to_it() -> None:
    photo = examples.photo("chelsea the cat").resize((96, 64))
    own, neighbour = Image.new("RGB", photo.size, (0, 0, 0)), Image.new("RGB", photo.size, (200, 200, 200))
    start, temporal, trusted = blended(photo, own, (photo, neighbour))  # the same photo: no motion, all trusted
    assert temporal is not None and trusted is not None and trusted > 0.95
    share = BLEND_WEIGHT / (1 + BLEND_WEIGHT)  # (own + w c neighbour) / (1 + w c), c = 1
    assert BLEND_WEIGHT > 1 and abs(np.median(np.asarray(start, dtype=np.float32)) - 200 * share) <= 1
    assert np.asarray(temporal.previous).min() == 200  # the term pulls towards the neighbour itself
    alone, none, unknown = blended(photo, own, None)  # a pass's first frame at the clip's end
    assert none is None and unknown is None and np.asarray(alone).max() == 0


def test_passes_and_runs_follow_the_workers_unless_asked() -> None:
    assert passes_for(Settings(), 1) == 1 and passes_for(Settings(), 2) > 1 and passes_for(Settings(passes=2), 1) == 2
    assert plan_runs(5, 2) == [range(0, 3), range(3, 5)]
    assert planned_steps(4, SMALL.replace(passes=3), 2) == 4 * 10 + 2 * 4 * 5
    assert planned_steps(4, SMALL, 1) == 10 + 3 * 5
    with pytest.raises(SettingsError, match="passes must be at most 20"):
        Settings(passes=21)


def test_multi_pass_paints_every_frame_alone_then_sweeps_both_ways_and_steadies_them(tmp_path, local_executor) -> None:
    clip = write_clip(tmp_path / "pan.mp4", sliding_frames(6, (64, 48)))
    style = examples.style("swirls", 64)
    records = list(stylize_clip(local_executor, clip, style, tmp_path / "out.mp4", SMALL.replace(passes=3)))
    done = [(r.sweep, r.frame, r.certain is not None) for r in records if r.frame_done]
    assert [(s, f) for s, f, _ in done] == [(1, f) for f in range(1, 7)] + [(2, f) for f in range(6, 0, -1)] + [
        (3, f) for f in range(1, 7)
    ]
    assert [t for s, _, t in done if s == 1] == [False] * 6  # the first pass: each frame on its own
    assert [t for s, _, t in done if s > 1] == [False, *[True] * 5] * 2  # then each follows its neighbour
    assert all(r.sweeps == 3 for r in records) and len(records) == planned_steps(6, SMALL.replace(passes=3), 1)
    first_pass = [np.asarray(r.image, dtype=np.float32) for r in records if r.frame_done and r.sweep == 1]
    frames = decoded(tmp_path / "out.mp4")
    assert len(frames) == 6
    assert flicker(frames) < 0.5 * flicker(first_pass), (flicker(frames), flicker(first_pass))


def test_a_multi_pass_run_stopped_in_its_second_pass_keeps_every_frame_it_made(tmp_path, local_executor) -> None:
    clip = write_clip(tmp_path / "pan.mp4", sliding_frames(5, (64, 48)))
    run = stylize_clip(local_executor, clip, examples.style("swirls", 64), tmp_path / "out.mp4",
                       SMALL.replace(passes=2))  # fmt: skip
    made: dict[int, list[np.ndarray]] = {}  # each frame's pictures, pass by pass
    for progress in run:
        if progress.frame_done:
            made.setdefault(progress.frame, []).append(np.asarray(progress.image, dtype=np.float32))
        if progress.sweep == 2 and progress.frame == 3:  # frames 5 and 4 have their second picture
            break
    run.close()
    frames = decoded(tmp_path / "out.mp4")
    assert len(frames) == 5 and not (tmp_path / "out.part.mp4").exists()
    assert [len(made[index]) for index in range(1, 6)] == [1, 1, 1, 2, 2]
    for index, frame in enumerate(frames, start=1):  # each frame's latest picture (H.264 changes a few levels)
        distances = [float(np.abs(frame - picture).mean()) for picture in made[index]]
        assert distances[-1] < 8 and distances[-1] == min(distances), (index, distances)


def test_a_pass_job_crosses_the_wire_and_goes_on_after_a_frame_from_that_frame(local_executor) -> None:
    photos = [png_bytes(frame) for frame in sliding_frames(3, (64, 48))]
    earlier = [png_bytes(Image.new("RGB", (64, 48), (90, 60, 30)))] * 3
    job = SweepJob(2, (3, 2, 1), tuple(photos[::-1]), tuple(earlier), None, (png_bytes(examples.style("swirls", 64)),),
                   False, SMALL.replace(frame_iterations=2))  # fmt: skip
    back = job_from_envelope(envelope(job, project_version()))
    assert back == job
    records = list(back.serve(local_executor.place))
    assert [(r["frame"], r["progress"]["step"]) for r in records] == [(3, 1), (3, 2), (2, 1), (2, 2), (1, 1), (1, 2)]
    assert records[0]["trusted"] is None and records[2]["trusted"] is not None  # frame 2 follows frame 3
    rest = back.after(records[1])  # frame 3 done
    assert rest.indices == (2, 1) and rest.neighbour == (photos[2], records[1]["progress"]["image"])
    assert rest.resumes_from() == "frame 2 of pass 2" and rest.after(records[3]).after(records[5]).finished()
