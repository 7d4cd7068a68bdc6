"""The main run: Stylize, Stop and Continue, the live preview and chart, and the result.

Pressing Stylize iterates the engine's records (``nst.transfer`` here, or a cluster
worker's stream: ``webapp.turns.run_turn``) in the script's own thread, and every Progress
record updates placeholders: a progress bar, the picture, a loss chart. The latest
picture is kept in the session before anything is drawn, so a rerun (Stop pressed, a
slider moved) never loses it. A rerun that interrupts a run goes
on from the latest picture with the settings as they are now (live tuning): the engine's
:class:`nst.Resume` keeps the step count and the picture's size.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from PIL import Image

from nst import DivergedError, NSTError, Progress, Resume, Settings
from nst.execution import Run
from nst.jobs.picture import PictureJob
from nst.settings import safer_after_divergence
from nst.timelapse import timelapse
from webapp.display import DISPLAY_SIDE, file_name, fit, png, settings_table
from webapp.gallery import remember
from webapp.regions import Regions
from webapp.resources import backend
from webapp.sidebar import write_settings
from webapp.state import Action, Picture, Result, session
from webapp.turns import run_turn, stop_point

log = logging.getLogger(__name__)

# Every update is work for the browser, which on a laptop shares the cores the run uses: a
# progress bar drawn at every step (ten a second at the coarse scales), two pictures and a chart
# a second made the default run 14% slower than the command line (benchmarks/app_speed.py).
PREVIEW_SECONDS = 1.0  # at most one preview picture and one progress bar a second reach the browser
CHART_SECONDS = 2.0  # and a loss chart every two seconds
TIMELAPSE_SIDE, MAX_FRAMES = 384, 120  # the timelapse's size and length (about 50 MB per session at most)
STATUS_WORDS = {
    "done": "Done",
    "stopped": "Stopped",
    "diverged": "Stopped: the run diverged",
    "failed": "Failed",
    "running": "Interrupted",
}


@dataclass(frozen=True)
class Live:
    """Placeholders that a run updates."""

    status: Any
    picture: Any
    chart: Any


def stylize_panel(
    settings: Settings | None, content: Picture | None, style: Picture | None, regions: Regions | None = None
) -> Result | None:
    """The result column: buttons, the run (when one is due) and the result. Returns the result.

    ``regions``: masks painted or uploaded for the style pictures; every run uses the ones
    shown now, so Continue and live tuning keep them (and a stroke painted during a run
    takes effect at once).
    """
    record = session()
    st.subheader("3 · Result")
    chosen = backend()
    st.caption(f"Runs on {chosen.describe()}.", help="NST_CLUSTER chooses: unset or local, auto, HOST:PORT.")
    if chosen.problem and not chosen.blocked:
        st.warning(chosen.problem, icon=":material/cloud_off:")
    ready = settings is not None and content is not None and style is not None
    action = controls_ui(ready, record.result is not None)
    live = Live(status=st.empty(), picture=st.empty(), chart=st.empty())
    result = record.result
    if action == "stop" or (action is not None and not ready):
        record.pending = None
        if result is not None and result.status == "running":
            result.status = "stopped"
            remember(result)
    elif action is not None and settings is not None and content is not None and style is not None:
        same_inputs = result is not None and result.content.same_as(content) and result.style.same_as(style)
        if action == "start" or result is None or not same_inputs:
            run_ui(live, settings, content, style, regions=regions)
        else:  # Continue, or a widget changed during a run: go on from the latest picture
            run_ui(live, settings, content, style, regions=regions, resume=result, live_tuning=action == "resume")
    result_ui(live, record.result)
    return record.result


def controls_ui(ready: bool, has_result: bool) -> Action | None:
    """Stylize, Stop and Continue. Returns what this script run should do with the main run.

    The buttons record their click in a callback, which Streamlit runs before the script,
    so Stop can be drawn enabled for the run that is about to start. A run that was waiting
    or going when the script reran is still pending: it is asked for again.
    """
    action = session().pending
    will_run = ready and action in ("start", "continue", "resume")
    buttons = [  # label, key, the action it requests, disabled, help
        ("Stylize", "stylize", "start", not ready, "Start a new run from the settings' starting picture"),
        ("Stop", "stop", "stop", not will_run, "Stop now and keep the latest picture"),
        (
            "Continue",
            "continue",
            "continue",
            not (ready and (has_result or will_run)),
            "Go on from the current picture with the settings as they are now (change α/β first)",
        ),
    ]
    for column, (label, key, requested, disabled, help) in zip(st.columns(3), buttons, strict=True):
        column.button(
            label,
            key=key,
            type="primary" if key == "stylize" else "secondary",
            disabled=disabled,
            width="stretch",
            on_click=request,
            args=(requested,),
            help=help,
        )
    return action


def request(action: Action) -> None:
    """What a button asks of the next script run (a callback)."""
    session().pending = action


def run_ui(
    live: Live,
    settings: Settings,
    content: Picture,
    style: Picture,
    *,
    regions: Regions | None = None,
    resume: Result | None = None,
    live_tuning: bool = False,
) -> None:
    """Iterate the engine and show its progress; the latest picture is kept in the session.

    ``resume`` continues from that result's picture: for ``settings.iterations`` more
    steps (Continue), or to its own planned end (``live_tuning``). A rerun (Stop, a widget
    change) raises Streamlit's control exception inside this loop; the engine's ``finally``
    releases the run, and the session keeps the latest picture.
    """
    record = session()
    if regions is not None:
        settings = regions.applied(settings)
    if live_tuning and resume is not None and resume.step >= resume.total:  # interrupted after its last step
        resume.status, record.pending = "done", None
        remember(resume)
        return
    # While it waits for the device, a rerun (a slider moved) asks for the same run again.
    record.pending = "start" if resume is None else ("resume" if live_tuning else "continue")
    with run_turn(live.status, settings, record.cache) as turn:
        if turn is None:
            record.pending = None
            return
        where = None if resume is None else Resume(resume.image, resume.step, resume.total if live_tuning else None)
        total = where.end(settings) if where is not None else settings.iterations
        result = Result(
            image=resume.image if resume is not None else content.image,
            step=where.step if where is not None else 0,
            total=total,
            settings=settings,
            content=content,
            style=style,
            history=list(resume.history) if resume is not None else [],
            frames=list(resume.frames) if resume is not None else [],
            queue_seconds=turn.waited,
            run_number=turn.number,
            regions=regions.masks if regions is not None else (),
        )
        record.result, record.pending = result, "resume"
        engine = turn.start(
            PictureJob(
                content.image,
                style.images,
                settings.replace(preview_every=0),
                init_image=_start_image(settings),
                preview_seconds=PREVIEW_SECONDS,
                resume=where,
                masks=list(regions.masks) if regions is not None else None,
                style_masks=list(regions.style_masks) if regions is not None and regions.style_masks else None,
                coarse_styles=list(style.coarse) or None,
                preview_size=DISPLAY_SIDE if turn.remote else None,  # the network carries display-sized previews
                checkpoint=None if turn.remote else stop_point,  # a worker stops on cancel(), between its records
            )
        )
        result.worker = engine.worker
        if style.coarse:
            live.status.info("First the painting of the large shapes is repainted with this painting's strokes "
                             "(once per pair of pictures and size)…", icon=":material/brush:")  # fmt: skip
        _follow(live, engine, result)
        record.pending = None
        remember(result)
    st.rerun()  # draw the page again as it is now: Stop disabled, the result and gallery up to date


def _follow(live: Live, engine: Run[Progress], result: Result) -> None:
    """Show each record of ``engine`` and keep the latest picture in ``result``."""
    started, last_chart, last_status = time.perf_counter(), 0.0, 0.0
    weights = {"content": result.settings.content_weight, "style": result.settings.style_weight}
    try:
        for progress in engine:
            result.history.append(
                {
                    "step": progress.step,
                    "α·content": weights["content"] * progress.content_loss,
                    "β·style": weights["style"] * progress.style_loss,
                    "total": progress.loss,
                }
            )
            result.step, result.seconds = progress.step, time.perf_counter() - started
            for note in engine.notes[len(result.notes) :]:  # a cluster's worker was lost
                result.notes.append(note)
                st.toast(note, icon=":material/sync_problem:")
            result.worker = engine.worker
            if progress.image is not None:
                result.image = progress.image  # kept before anything is drawn: a rerun loses nothing
                result.previews += 1
                _add_frame(result.frames, progress.step, progress.image)
                if result.first_preview_seconds is None:
                    result.first_preview_seconds = result.seconds
                live.picture.image(
                    fit(progress.image, DISPLAY_SIDE),
                    output_format="JPEG",
                    width="stretch",
                    caption=f"step {progress.step} of {result.total}",
                )
            now = time.perf_counter()
            if progress.image is not None or now - last_status >= PREVIEW_SECONDS or progress.done:
                last_status = now
                live.status.progress(min(1.0, progress.step / result.total), text=_status_text(progress))
            if now - last_chart >= CHART_SECONDS or progress.done:
                last_chart = now
                live.chart.altair_chart(loss_chart(result.history), width="stretch")
        result.status = "done"
    except DivergedError as error:
        result.status, result.message = "diverged", str(error)
        if error.last_image is not None:
            result.image = error.last_image
    except NSTError as error:
        result.status, result.message = "failed", str(error)
        last = getattr(error, "last_image", None)  # a cluster with no worker left keeps the latest picture
        if last is not None:
            result.image = last
    except Exception as error:
        log.exception("run failed")
        result.status, result.message = "failed", f"the run failed unexpectedly: {error}"
    finally:
        engine.close()


def result_ui(live: Live, result: Result | None) -> None:
    """The finished (or stopped) picture, its download and the settings that made it."""
    if result is None:
        live.picture.info("Pick or drop a content photo and a style picture, then press **Stylize**.")
        return
    live.status.progress(
        min(1.0, result.step / max(1, result.total)),
        text=f"{STATUS_WORDS[result.status]} at step {result.step} of {result.total} ({result.seconds:.0f} s)",
    )
    if result.message:
        st.error(result.message)
    for note in result.notes:
        st.info(note, icon=":material/sync_problem:")
    if result.status == "diverged":
        label, changes = safer_after_divergence(result.settings)
        st.button(
            f"Continue with a safer setting ({label})",
            key="continue_safer",
            on_click=_continue_safer,
            args=(result.settings.replace(**changes), tuple(changes)),
            icon=":material/healing:",
            help="Goes on from the last good picture with this change made in the sidebar.",
        )
    live.picture.image(
        fit(result.image, DISPLAY_SIDE),
        width="stretch",
        caption=f"{result.content.name} in the style of {result.style.name}"
        f"{' in painted regions' if result.regions else ''}, step {result.step}",
    )
    if result.history:
        live.chart.altair_chart(loss_chart(result.history), width="stretch")
    st.download_button(
        f"Download PNG ({result.image.width}×{result.image.height})",
        png(result.image, result.settings.dpi),
        file_name=file_name(result),
        mime="image/png",
        type="primary",
        icon=":material/download:",
        on_click="ignore",
        key="download",
    )
    if len(result.frames) > 1:
        st.download_button(
            f"Download timelapse (animated WebP, {len(result.frames)} frames)",
            functools.partial(timelapse, list(result.frames), format="webp"),  # made when clicked
            file_name=file_name(result).removesuffix(".png") + "-timelapse.webp",
            mime="image/webp",
            icon=":material/animated_images:",
            on_click="ignore",
            key="download_timelapse",
        )
    if result.first_preview_seconds is not None:
        st.caption(
            f"Run {result.run_number} on {result.worker or 'this server'}; waited {result.queue_seconds:.1f} s for it; "
            f"first picture after {result.first_preview_seconds:.1f} s; {result.previews} previews shown."
        )
    with st.expander("Settings that made this picture"):
        st.dataframe(settings_table(result.settings), hide_index=True, width="stretch")


def _continue_safer(settings: Settings, fields: tuple[str, ...]) -> None:
    """Set the safer values on the sidebar's widgets (callbacks run before them), then Continue."""
    write_settings(settings, fields)
    session().pending = "continue"


def loss_chart(history: list[dict[str, float]]) -> alt.Chart:
    """The weighted loss terms against the step, on a log scale."""
    frame = pd.DataFrame(history).melt("step", var_name="term", value_name="loss")
    frame = frame[frame["loss"] > 1e-3 * frame["loss"].max()]  # e.g. the content term is 0 at step 1
    chart: alt.Chart = (
        alt.Chart(frame, height=220, title="Loss (log scale)")
        .mark_line()
        .encode(
            x=alt.X("step:Q", title="step"),
            y=alt.Y("loss:Q", scale=alt.Scale(type="log"), title=None),
            color=alt.Color("term:N", title=None, sort=["total", "α·content", "β·style"]),
        )
    )
    return chart


def _start_image(settings: Settings) -> Image.Image | None:
    """The uploaded starting picture, when the run starts from one."""
    start = session().start_picture
    return start.image if settings.init == "image" and start is not None else None


def _add_frame(frames: list[tuple[int, Image.Image]], step: int, image: Image.Image) -> None:
    """Keep a small copy of a preview for the timelapse; past MAX_FRAMES, every other one."""
    frames.append((step, fit(image, TIMELAPSE_SIDE)))
    if len(frames) > MAX_FRAMES:
        frames[:] = frames[:-1][::2] + frames[-1:]


def _status_text(progress: Progress) -> str:
    scale = f" · scale {progress.scale}/{progress.scales} ({progress.size[0]}×{progress.size[1]})"
    return (
        f"Step {progress.step} of {progress.total}{scale} · {progress.elapsed:.0f} s · about {progress.eta:.0f} s left"
    )
