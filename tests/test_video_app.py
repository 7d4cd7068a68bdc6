"""The app's Video tab through Streamlit's AppTest: upload, stylise, stop, a rerun mid-run, bad clips."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import webapp.video
from nst.videoio import probe
from tests.test_video import sliding_frames, write_clip

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


def clip_bytes(tmp_path: Path, frames: int = 4, fps: int = 12) -> bytes:
    return write_clip(tmp_path / "pan.mp4", sliding_frames(frames, (64, 48)), fps=fps).read_bytes()


def video_app(tmp_path: Path, frames: int = 3) -> AppTest:
    """The app with a tiny clip uploaded in the Video tab and tiny runs chosen."""
    app = AppTest.from_file(APP, default_timeout=240).run()
    app.slider(key="iterations").set_value(10)
    app.file_uploader(key="video_upload").set_value(("pan.mp4", clip_bytes(tmp_path), "video/mp4"))
    app.run()
    app.select_slider(key="video_size").set_value(128)
    app.slider(key="video_frames").set_value(frames)
    app.slider(key="video_steps").set_value(5)
    return app.run()


def output_frames(app: AppTest, tmp_path: Path) -> int:
    job = app.session_state.session.video
    path = tmp_path / "downloaded.mp4"
    path.write_bytes(job.output)
    return probe(path).frames


def interrupting(monkeypatch, after_frame: int, then) -> dict:
    """Make the tab's video run call ``then()`` once, right after frame ``after_frame`` is finished."""
    real, seen = webapp.video.stylize_video_chunks, {"runs": [], "interrupted": False}

    def wrapped(*args, **kwargs):
        seen["runs"].append(len(kwargs.get("done", ())))
        run = real(*args, **kwargs)
        try:
            for progress in run:
                yield progress
                if not seen["interrupted"] and progress.frame == after_frame and progress.frame_done:
                    seen["interrupted"] = True
                    then()
        finally:
            run.close()

    monkeypatch.setattr(webapp.video, "stylize_video_chunks", wrapped)
    return seen


def test_the_video_tab_stylises_a_clip_and_offers_it_for_download(tmp_path) -> None:
    app = video_app(tmp_path)
    assert not app.exception and not app.error
    assert any("64×48 px, 12 frames a second, 4 frames" in c.value for c in app.caption)
    app.button(key="video_go").click()
    app.run()
    assert not app.exception and not app.error
    job = app.session_state.session.video
    assert job.status == "done" and len(job.frames) == 3 and job.frames[0].size == (128, 96)
    assert output_frames(app, tmp_path) == 3
    assert any("Download video (3 frames, MP4)" in b.label for b in app.get("download_button"))
    assert not app.button(key="video_go").disabled and app.button(key="video_stop").disabled


def test_stop_keeps_the_frames_done_as_a_clip(tmp_path, monkeypatch) -> None:
    def press_stop() -> None:
        job = st.session_state.session.video
        job.pending, job.status = False, "stopped"  # what the Stop button's callback records
        st.rerun()

    interrupting(monkeypatch, after_frame=2, then=press_stop)
    app = video_app(tmp_path, frames=4)
    app.button(key="video_go").click()
    app.run()
    assert not app.exception and not app.error
    job = app.session_state.session.video
    assert job.status == "stopped" and len(job.frames) == 2 and output_frames(app, tmp_path) == 2
    assert any("Stopped after 2 frames" in i.value for i in app.info)


def test_a_rerun_mid_run_goes_on_from_the_next_frame(tmp_path, monkeypatch) -> None:
    seen = interrupting(monkeypatch, after_frame=2, then=st.rerun)  # e.g. a slider moved
    app = video_app(tmp_path, frames=4)
    app.button(key="video_go").click()
    app.run()
    assert not app.exception and not app.error
    job = app.session_state.session.video
    assert job.status == "done" and len(job.frames) == 4 and output_frames(app, tmp_path) == 4
    assert seen["runs"] == [0, 2]  # the second run was handed the two frames done, not started again


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("notes.mp4", b"not a video at all", "is not a video that can be read"),
        ("empty.mp4", b"", "is empty"),
        ("long.mp4", None, "runs 1.0 s; the limit is 0.5 s: cut it shorter"),
    ],
)
def test_a_bad_clip_is_a_message_in_the_tab(tmp_path, monkeypatch, name, data, words) -> None:
    monkeypatch.setenv("NST_MAX_VIDEO_SECONDS", "0.5")
    monkeypatch.setattr(webapp.video, "LIMITS", webapp.video.LIMITS.from_env())
    app = AppTest.from_file(APP, default_timeout=240).run()
    upload = data if data is not None else clip_bytes(tmp_path, frames=12, fps=12)
    app.file_uploader(key="video_upload").set_value((name, upload, "video/mp4"))
    app.run()
    assert not app.exception
    assert any(words in e.value and name in e.value for e in app.error), [e.value for e in app.error]
    assert "video_go" not in [button.key for button in app.button]  # nothing to stylise
