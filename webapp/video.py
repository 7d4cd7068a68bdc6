"""The Video tab: drop a short clip, stylise it frame by frame without flicker, download it.

The style is the one chosen for pictures (the style column); the sidebar's weights and
layers apply too. The clip's own knobs are here: the frame size (video is many pictures,
so it is smaller than a picture's by default), the steps of the frames after the first,
the temporal weight and the earlier frames each frame keeps (``nst.video``) and how many
frames to stylise. The run takes its turn
in the device's queue like every other run (on a cluster: the clip goes to one worker, in
order); the page shows the frame being formed and the frames done. Every finished frame is
kept in the session before anything is drawn, so Stop, or a rerun (a widget moved), never
loses them: Stop offers the frames done as a playable clip, and a rerun goes on from the
next frame.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import streamlit as st

from nst import NSTError, Settings
from nst.chunks import stylize_video_chunks
from nst.settings import TEMPORAL_WEIGHTS, help_text
from nst.video import VideoProgress, check_clip, frame_size
from nst.videoio import probe
from webapp.display import DISPLAY_SIDE, slug
from webapp.resources import LIMITS
from webapp.sidebar import BIND
from webapp.state import Picture, VideoJob, session
from webapp.turns import runs_executor

VIDEO_TYPES = ["mp4", "mov", "m4v", "mkv", "webm", "avi", "gif", "webp"]
FRAME_SIZES = [128, 192, 256, 320, 384, 512]
FRAMES_BACK = {  # Settings.temporal_frames, as the page's URL carries it
    "1": "the previous one",
    "1,2,4,8": "1, 2, 4 and 8 back",
    "1,10,20,40": "1, 10, 20 and 40 back (the paper's)",
}
PREVIEW_SECONDS = 0.5
STRIP_FRAMES = 6  # the latest frames done, shown under the forming one


def video_ui(settings: Settings | None, style: Picture | None) -> None:
    """The tab: upload, knobs, Stylize/Stop, the run and the result."""
    st.markdown(
        "Drop a short clip: every frame is repainted in the style chosen above. Each frame after the first starts "
        "from the previous painted frame carried along the motion (optical flow), and a **temporal** term keeps it "
        "close to that where the motion is known (Ruder et al., 2016), so the brush strokes move with the scene "
        "instead of flickering."
    )
    upload = st.file_uploader(
        f"Video clip (up to {LIMITS.max_video_seconds:g} s; MP4, MOV, WebM, MKV, AVI, animated GIF or WebP)",
        type=VIDEO_TYPES,
        key="video_upload",
    )
    job = _job(upload)
    if job is None:
        return
    if job.problem or job.clip is None:
        st.error(job.problem)
        return
    clip = job.clip
    st.caption(
        f"{job.name}: {clip.size[0]}×{clip.size[1]} px, {float(clip.fps):.3g} frames a second, {clip.frames} frames "
        f"({clip.seconds:.1f} s){', with sound (kept)' if clip.audio else ''}."
    )
    left, middle, right = st.columns(3)
    size = left.select_slider("Frame size (px)", FRAME_SIZES, value=256, key="video_size", bind=BIND)
    frames = middle.slider("Frames to stylise", 1, max(clip.frames, 2), min(clip.frames, 24), key="video_frames")
    base = settings or Settings()
    steps = right.slider("Steps per frame after the first", 5, 100, base.frame_iterations, 5,
                         key="video_steps", help=help_text("frame_iterations"), bind=BIND)  # fmt: skip
    temporal = left.select_slider("Temporal weight", list(TEMPORAL_WEIGHTS), value=base.temporal_weight,
                                  key="video_temporal", help=help_text("temporal_weight"), bind=BIND)  # fmt: skip
    kept = right.selectbox("Earlier frames kept", list(FRAMES_BACK), format_func=FRAMES_BACK.__getitem__,
                           index=_frames_back_index(base.temporal_frames), key="video_frames_back",
                           help=help_text("temporal_frames"), bind=BIND)  # fmt: skip
    width, height = frame_size(clip.size, size)
    middle.caption(f"Frames of {width}×{height} px; the first takes {base.iterations} steps (the sidebar's).")
    ready = settings is not None and style is not None
    buttons = st.columns(2)
    buttons[0].button("Stylize video", key="video_go", type="primary", disabled=not ready or job.pending,
                      on_click=_request, args=(job, True), icon=":material/movie:")  # fmt: skip
    buttons[1].button("Stop video", key="video_stop", disabled=not job.pending, on_click=_request, args=(job, False))
    if not ready:
        st.info("Choose a style picture above first (and a photo's settings in the sidebar).")
    status, forming, strip = st.empty(), st.empty(), st.empty()
    if job.pending and settings is not None and style is not None:
        run_settings = settings.replace(output_size=size, frame_iterations=steps, temporal_weight=temporal,
                                        temporal_frames=kept)  # fmt: skip
        _run(job, run_settings, style, frames, status, forming, strip)
    _show(job, status, forming, strip)


def _frames_back_index(frames: tuple[int, ...]) -> int:
    text = ",".join(map(str, frames))
    return list(FRAMES_BACK).index(text) if text in FRAMES_BACK else 0


def _job(upload: Any) -> VideoJob | None:
    """This session's job for the uploaded clip (a new one when the upload changed)."""
    record = session()
    if upload is None:
        record.video = None
        return None
    job: VideoJob | None = record.video
    if job is not None and job.upload_id == upload.file_id:
        return job
    suffix = Path(upload.name).suffix.lower() or ".mp4"
    with tempfile.NamedTemporaryFile(prefix="nst-clip-", suffix=suffix, delete=False) as file:
        file.write(upload.getbuffer())
    job = VideoJob(upload.file_id, upload.name, Path(file.name))
    try:
        job.clip = probe(job.path)
        check_clip(job.clip, LIMITS, app=True)
    except NSTError as error:
        job.problem = str(error).replace(job.path.name, upload.name)
    record.video = job
    return job


def _request(job: VideoJob, go: bool) -> None:
    job.pending = go
    if not go and job.status == "running":
        job.status = "stopped"


def _run(job: VideoJob, settings: Settings, style: Picture, frames: int, status: Any, forming: Any,
         strip: Any) -> None:  # fmt: skip
    key = (style.digest, settings.output_size)
    if job.key != key:  # another style or frame size: start again (other changes apply from the next frame)
        job.key, job.frames, job.output, job.seconds = key, [], b"", 0.0
    job.status, job.message = "running", ""
    out = job.path.with_name(job.path.stem + "-styled.mp4")
    with runs_executor(status, settings) as executor:
        if executor is None:
            job.status, job.message, job.pending = "failed", "The device is not usable.", False
            return
        if executor.remote:
            status.info("Sent to the cluster's queue: the clip starts on the next free worker.",
                        icon=":material/hourglass_top:")  # fmt: skip
        # The whole clip in order on one worker (on a cluster the others keep theirs), going on from the frames done.
        run = stylize_video_chunks(executor, job.path, style.images, out, settings, max_frames=frames, limits=LIMITS,
                                   app=True, preview_seconds=PREVIEW_SECONDS,
                                   preview_size=DISPLAY_SIDE, done=list(job.frames),
                                   parallel=1, owner=session().tag)  # fmt: skip
        started = time.perf_counter() - job.seconds
        try:
            for progress in run:
                job.seconds = time.perf_counter() - started
                if progress.frame_done and progress.image is not None:
                    job.frames.append(progress.image)  # kept before anything is drawn
                _draw(progress, status, forming, strip, job)
            job.status, job.pending = "done", False
        except NSTError as error:
            job.status, job.message, job.pending = "failed", str(error), False
        finally:
            run.close()  # writes the frames done, also when Stop or a rerun ends the run here
            if out.is_file():
                job.output = out.read_bytes()
                out.unlink()
    st.rerun()  # draw the tab again as it is now: the buttons, the clip, the download


def _draw(progress: VideoProgress, status: Any, forming: Any, strip: Any, job: VideoJob) -> None:
    step = progress.step
    done = len(job.frames)
    status.progress(
        min(1.0, (done + step.step / step.total) / progress.frames),
        text=f"Frame {progress.frame} of {progress.frames}: step {step.step} of {step.total} · {done} done · "
        f"{progress.elapsed:.0f} s · about {progress.eta:.0f} s left",
    )
    if progress.image is not None and not progress.frame_done:
        forming.image(progress.image, caption=f"frame {progress.frame}, forming", width="content")
    if progress.frame_done:
        _strip(strip, job)


def _strip(strip: Any, job: VideoJob) -> None:
    latest = job.frames[-STRIP_FRAMES:]
    first = len(job.frames) - len(latest) + 1
    strip.image(latest, caption=[f"frame {first + k}" for k in range(len(latest))], width=160)


def _show(job: VideoJob, status: Any, forming: Any, strip: Any) -> None:
    if job.pending or job.status in (None, "running"):
        return
    if job.status == "failed":
        status.error(job.message or "The video run failed.")
    elif job.status == "stopped":
        status.info(f"Stopped after {len(job.frames)} frames; they are kept below as a clip.")
    else:
        status.success(f"Done: {len(job.frames)} frames in {job.seconds:.0f} s.")
    if job.frames:
        _strip(strip, job)
    if job.output:
        forming.video(job.output, format="video/mp4", loop=True)
        st.download_button(
            f"Download video ({len(job.frames)} frames, MP4)",
            job.output,
            file_name=f"{slug(job.name, 'clip')}-styled-{len(job.frames)}frames.mp4",
            mime="video/mp4",
            icon=":material/download:",
            on_click="ignore",
            key="download_video",
        )
