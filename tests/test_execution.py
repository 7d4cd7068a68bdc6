"""The execution layer in this process: job kinds' wire forms and resume rules, the local executor."""

from __future__ import annotations

from nst.execution import LocalExecutor
from nst.execution.base import Job, envelope, job_from_envelope
from nst.execution.wire import from_png, project_version
from nst.jobs.picture import PictureJob
from nst.settings import Settings
from tests.conftest import make_content, make_style

TINY = Settings(output_size=64, start_size=64, iterations=4, precision="float32", seed=5)


def test_a_picture_job_crosses_the_wire_and_comes_back_the_same() -> None:
    job = PictureJob(make_content(64, 48), [make_style(), make_style(seed=2)], TINY.replace(style_blend=(1, 3)),
                     preview_seconds=0.5, preview_size=32)  # fmt: skip
    back = job_from_envelope(envelope(job, project_version()))
    assert isinstance(back, PictureJob) and back.settings == job.settings and back.preview_size == 32
    assert isinstance(back.style, list) and len(back.style) == 2
    assert "picture" in Job.kinds and "video chunk" in Job.kinds


def test_display_sized_previews_still_leave_a_full_size_picture_to_go_on_from(local_executor) -> None:
    # On a worker a picture job sends previews shrunk for the display, and its full-size picture
    # now and then: a run that must go on elsewhere resumes from that, not from a preview.
    job = PictureJob(make_content(64, 48), make_style(), TINY, preview_seconds=0.0, preview_size=32)
    records = list(job.serve(local_executor.place))
    assert [r["progress"]["step"] for r in records] == [1, 2, 3, 4]
    assert from_png(records[0]["progress"]["image"]).size == (32, 24)  # the preview, display-sized
    assert from_png(records[0]["checkpoint"]).size == (64, 48)  # and the picture itself, once
    assert "checkpoint" not in records[1]  # not again within CHECKPOINT_SECONDS
    rest = job
    for record in records[:3]:
        rest = rest.after(record)
    assert rest.resume is not None and rest.resume.step == 1 and rest.resumes_from() == "step 1"
    assert from_png(rest.resume.image).size == (64, 48)
    assert not rest.finished() and rest.after(records[3]).finished()  # the last step's picture is full size


def test_a_local_executor_runs_any_job_kind_through_its_queue(local_executor) -> None:
    job = PictureJob(make_content(64, 48), make_style(), TINY)
    steps = [progress.step for progress in local_executor.run(job)]
    assert steps == [1, 2, 3, 4] and local_executor.free == 1


def test_executor_for_local_and_an_unreachable_cluster() -> None:
    import pytest

    from nst.errors import ClusterError
    from nst.execution import executor_for

    assert isinstance(executor_for("local"), LocalExecutor)
    with pytest.raises(ClusterError, match="cannot reach the Ray cluster at 127.0.0.1:9"):
        executor_for("127.0.0.1:9", fallback="")
    assert isinstance(executor_for("127.0.0.1:9", fallback="local"), LocalExecutor)
