"""The web app: drop a photo and a painting, tune alpha and beta, watch the picture form.

    streamlit run streamlit_app.py

UI only. The sidebar's widgets build an ``nst.Settings``; pressing Stylize iterates the
engine's generator (``nst.transfer``) in the script's own thread, and every Progress
record updates placeholders: a progress bar, the picture, a loss chart. Everything a
user made lives in ``st.session_state``, so a rerun (Stop pressed, a slider moved) never
loses it. A rerun that interrupts a run continues it from the latest picture with the
settings as they are now: that is live tuning. The VGG19 network is loaded once per
server process with ``st.cache_resource`` and shared, read-only, by every session.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from nst import (
    VGG19_LAYERS,
    DivergedError,
    FeatureExtractor,
    NSTError,
    Settings,
    SettingsError,
    TargetCache,
    build_extractor,
    examples,
    load_image,
    transfer,
)
from nst.device import resolve_device
from nst.grid import RATIOS, STYLE_DEPTHS, ratio_grid
from nst.images import resize_longest
from nst.insight import feature_map_pictures, features_at, gram, heatmap, strongest_channels
from nst.limits import Limits
from nst.presets import PRESETS, preset
from nst.race import race
from nst.reconstruct import what_each_layer_sees
from nst.runqueue import RunQueue
from nst.settings import help_text
from nst.targets import picture_digest
from nst.timelapse import timelapse

log = logging.getLogger("streamlit_app")

UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"]
PREVIEW_SECONDS = 0.5  # at most two preview pictures a second reach the browser
CHART_SECONDS = 1.0  # and at most one chart update
DISPLAY_SIDE = 768  # previews are sent at most this large; downloads are full size
THUMBNAIL_SIDE = 320
GALLERY_SIZE = 12  # finished pictures kept per session
TIMELAPSE_SIDE, MAX_FRAMES = 384, 120  # the timelapse's size and length (about 50 MB per session at most)
ALPHAS = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
BETAS = [0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0, 300.0, 500.0, 1000.0, 3000.0, 10000.0]
TV_WEIGHTS = [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
SIZES = [128, 192, 256, 320, 384, 448, 512, 640, 768, 1024, 1536, 2048]
ADAM_RATES = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]
WEIGHT_LABELS = {
    "caffe": "caffe: Gatys' original VGG19 (offline, 20 MB)",
    "torchvision": "torchvision: ImageNet VGG19 (downloads 548 MB once)",
}
COLOUR_LABELS = {"off": "no", "luminance": "style only the brightness", "histogram": "recolour the style first"}
INIT_LABELS = {
    "content": "the content photo",
    "noise": "white noise (as in the paper)",
    "style": "the style picture",
    "image": "a picture you upload",
}
APP_DEFAULTS = Settings()  # the engine's defaults are the app's defaults
LIMITS = Limits.from_env()  # upload size: server.maxUploadSize in .streamlit/config.toml
BIND = "query-params"  # every setting is mirrored in the page's URL: share a link, share the configuration


@dataclass(frozen=True)
class Picture:
    """An input picture, decoded once: where it came from, its pixels and their digest."""

    name: str
    image: Image.Image
    credit: str = ""
    digest: str = ""
    blended: tuple[Image.Image, ...] = ()  # more style pictures blended with this one

    @classmethod
    def of(cls, name: str, image: Image.Image, credit: str = "") -> Picture:
        return cls(name, image, credit, picture_digest(image))

    @property
    def images(self) -> Image.Image | list[Image.Image]:
        """What the engine takes: this picture, or it and the pictures blended with it."""
        return [self.image, *self.blended] if self.blended else self.image

    def same_as(self, other: Picture) -> bool:
        """Same pixels. (Not ==: each rerun of the script defines this class anew.)"""
        return self.digest == other.digest


@dataclass
class Result:
    """The latest picture of this session's run, and how it was made."""

    image: Image.Image
    step: int
    total: int
    settings: Settings
    content: Picture
    style: Picture
    status: str = "running"  # running, done, stopped, diverged, failed
    message: str = ""
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    first_preview_seconds: float | None = None
    previews: int = 0
    frames: list[tuple[int, Image.Image]] = field(default_factory=list)  # (step, small preview): the timelapse
    queue_seconds: float = 0.0  # waited for the device before the run began
    run_number: int = 0  # this server's count of runs on the device, in order of arrival


# -- shared, read-only resources ------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=4)
def shared_extractor(weights: str, pooling: str, device: str) -> FeatureExtractor:
    """One VGG19 per (weights, pooling, device) for the whole server; it holds no user data."""
    return build_extractor(weights, pooling=pooling, device=device)


@st.cache_resource(show_spinner=False)
def run_queue(device: str) -> RunQueue:
    """One fair queue per device for the whole server: runs take turns instead of competing."""
    return RunQueue(LIMITS.runs_per_device)


@st.cache_resource(show_spinner=False)
def example_style(name: str) -> Image.Image:
    return examples.style(name, size=512)


@st.cache_resource(show_spinner=False)
def example_photo(name: str) -> Image.Image:
    return examples.photo(name)


# -- widgets ---------------------------------------------------------------------------


def knob(widget, label: str, name: str, *args, **kwargs):
    """A widget for the Settings field ``name``: its help text, and ``name`` as its key and URL parameter."""
    return widget(label, *args, key=name, help=help_text(name), bind=BIND, **kwargs)


def settings_ui() -> Settings | None:
    """The sidebar: every knob of the engine. Returns the Settings, or None if invalid."""
    bar, d = st.sidebar, APP_DEFAULTS
    bar.header("Settings")
    bar.selectbox(
        "Preset",
        list(PRESETS),
        key="preset",
        on_change=_apply_preset,
        help="Sets every knob below to a named starting point: "
        + "; ".join(f"**{name}**: {text}" for name, (text, _) in PRESETS.items()),
    )
    values: dict = {}
    bar.subheader("Balance")
    values["content_weight"] = knob(
        bar.select_slider, "Content weight α", "content_weight", ALPHAS, value=d.content_weight, format_func=_number
    )
    values["style_weight"] = knob(
        bar.select_slider, "Style weight β", "style_weight", BETAS, value=d.style_weight, format_func=_number
    )
    if values["content_weight"] > 0:
        ratio = _number(values["style_weight"] / values["content_weight"])
        bar.caption(f"β/α = **{ratio}**: higher paints more, lower keeps more of the photo.")
    else:
        bar.caption("α = 0: the photo is ignored; the result is pure texture.")
    values["tv_weight"] = knob(
        bar.select_slider,
        "Smoothness (total variation)",
        "tv_weight",
        TV_WEIGHTS,
        value=d.tv_weight,
        format_func=_number,
    )

    values["preserve_colour"] = knob(
        bar.radio, "Keep the photo's colours", "preserve_colour", list(COLOUR_LABELS), format_func=COLOUR_LABELS.get
    )

    bar.subheader("Run")
    values["iterations"] = knob(
        bar.slider, "Iterations", "iterations", 10, LIMITS.max_iterations, d.iterations, step=10
    )
    sizes = [size for size in SIZES if size <= max(LIMITS.max_output_size_cpu, LIMITS.max_output_size_gpu)]
    values["output_size"] = knob(
        bar.select_slider, "Output size (longest side, px)", "output_size", sizes, value=d.output_size
    )
    coarse_to_fine = bar.toggle(
        "Coarse to fine",
        value=d.scales != 1,
        key="coarse_to_fine",
        bind=BIND,
        help="Optimise small first, then refine at larger sizes: the picture forms within seconds and the "
        "style's large structures come out. Off: one size throughout, as in the paper.",
    )
    values["scales"] = 0 if coarse_to_fine else 1
    values["optimizer"] = knob(
        bar.radio,
        "Optimiser",
        "optimizer",
        ["lbfgs", "adam"],
        horizontal=True,
        format_func={"lbfgs": "L-BFGS", "adam": "Adam"}.get,
    )
    if values["optimizer"] == "adam":
        values["learning_rate"] = knob(
            bar.select_slider, "Learning rate (Adam)", "learning_rate", ADAM_RATES, value=Settings(optimizer="adam").lr
        )
    values["init"] = knob(bar.selectbox, "Start from", "init", list(INIT_LABELS), format_func=INIT_LABELS.get)
    start_ready = _start_picture_ui(bar) if values["init"] == "image" else True
    values["seed"] = int(knob(bar.number_input, "Seed", "seed", 0, 2**31 - 1, d.seed))

    with bar.expander("Layers"):
        values["content_layers"] = knob(
            st.multiselect, "Content layers", "content_layers", VGG19_LAYERS, default=list(d.content_layers)
        )
        values["style_layers"] = knob(
            st.multiselect, "Style layers", "style_layers", VGG19_LAYERS, default=list(d.style_layers)
        )
        if values["style_layers"]:
            st.caption("Weight of each style layer (normalised to sum to 1):")
        values["style_layer_weights"] = tuple(
            st.slider(name, 0.0, 1.0, 1.0, 0.05, key=f"style_layer_weight_{name}", bind=BIND)
            for name in values["style_layers"]
        )
        values["pooling"] = knob(st.radio, "Pooling", "pooling", ["max", "avg"], horizontal=True)
    with bar.expander("Network and style scale"):
        values["weights"] = knob(
            st.selectbox, "VGG19 weights", "weights", list(WEIGHT_LABELS), format_func=WEIGHT_LABELS.get
        )
        values["style_scale"] = knob(st.slider, "Style scale", "style_scale", 0.25, 2.0, d.style_scale, 0.05)
        values["device"] = knob(st.selectbox, "Device", "device", _devices())
        values["precision"] = knob(st.radio, "Precision", "precision", ["auto", "float32", "bfloat16"], horizontal=True)
    try:
        settings = Settings(**values)
        _check_limits(settings)
        return settings if start_ready else None
    except NSTError as error:
        bar.error(str(error))
        return None


def _start_picture_ui(bar) -> bool:
    """The upload box for a picture of one's own to start from; True once there is one."""
    state = st.session_state
    state.start_picture = None
    upload = bar.file_uploader("Starting picture", type=UPLOAD_TYPES, key="start_upload")
    if upload is None:
        bar.info("Drop the picture to start from here.")
        return False
    try:
        state.start_picture = _decoded_upload("start", upload)
    except NSTError as error:
        bar.error(str(error))
        return False
    return True


def _check_limits(settings: Settings) -> None:
    """This server's limits (nst.limits), on top of what the engine itself accepts."""
    device = str(resolve_device(settings.device))
    largest = LIMITS.max_output_size(device)
    if settings.output_size > largest:
        raise SettingsError(f"this server makes pictures up to {largest} px on {device}; choose a smaller output size")
    if settings.iterations > LIMITS.max_iterations:
        raise SettingsError(f"this server runs at most {LIMITS.max_iterations} iterations at a time")


def picture_ui(role: str, title: str, choices: list[str], load_example) -> Picture | None:
    """An upload box (drag and drop), an example picker, and a thumbnail of the choice."""
    st.subheader(title)
    upload = st.file_uploader(
        f"Drop your own {role} picture here, or browse",
        type=UPLOAD_TYPES,
        key=f"{role}_upload",
        help="PNG, JPEG, WebP, BMP, GIF (first frame) or TIFF",
    )
    example = st.selectbox(f"…or use an example {role}", choices, key=f"{role}_example", disabled=upload is not None)
    if upload is not None:
        try:
            picture = _decoded_upload(role, upload)
        except NSTError as error:
            st.error(str(error))
            return None
    else:
        picture = _example_picture(role, example, load_example)
    st.image(_fit(picture.image, THUMBNAIL_SIDE), caption=picture.credit or picture.name, width="stretch")
    return picture


def blend_ui(style: Picture | None) -> tuple[Picture | None, tuple[float, ...] | None]:
    """More style pictures to blend with the first, one weight slider each.

    Returns the style (carrying the blended pictures, its digest covering all of them) and
    the blend weights, or ``(style, None)`` when only one picture is used.
    """
    with st.expander("Blend more styles"):
        uploads = st.file_uploader(
            "Drop more style pictures here", type=UPLOAD_TYPES, accept_multiple_files=True, key="blend_uploads"
        )
        if style is None or not uploads:
            st.caption("Each picture added here gets a weight; the styles mix in those proportions.")
            return style, None
        weights = [st.slider(f"Weight of {style.name}", 0.0, 1.0, 1.0, 0.05, key="blend_weight_0")]
        pictures = []
        for index, upload in enumerate(uploads, start=1):
            try:
                picture = _decoded_upload(f"blend{index}", upload)
            except NSTError as error:
                st.error(str(error))
                continue
            pictures.append(picture)
            st.image(_fit(picture.image, 96), width=96)
            weights.append(st.slider(f"Weight of {upload.name}", 0.0, 1.0, 1.0, 0.05, key=f"blend_weight_{index}"))
        if not pictures or sum(weights) <= 0:
            return style, None
        digest = "+".join([style.digest, *(p.digest for p in pictures)])
        name = f"{style.name} + {len(pictures)} more"
        blended = Picture(name, style.image, style.credit, digest, tuple(p.image for p in pictures))
        return blended, tuple(weights[: len(pictures) + 1])


def controls_ui(ready: bool, has_result: bool) -> str | None:
    """Stylize, Stop and Continue. Returns the button pressed in this rerun, if any.

    The buttons record their click in a callback, which Streamlit runs before the script,
    so Stop can be drawn enabled for the run that is about to start.
    """
    state = st.session_state
    waiting_for = state.pop("waiting_for", None)  # a run still waiting for the device when the rerun came
    action = state.pop("action", None) or waiting_for
    will_run = ready and (action in ("start", "continue") or (action is None and state.running))
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
            on_click=_request,
            args=(requested,),
            help=help,
        )
    return action


def _request(action: str) -> None:
    st.session_state.action = action


def _apply_preset() -> None:
    """Write a preset's values into the sidebar's widgets (a callback: it runs before them)."""
    state = st.session_state
    settings = APP_DEFAULTS.replace(**preset(state.preset))
    for name in ("content_weight", "style_weight", "tv_weight", "iterations", "output_size", "optimizer", "init",
                 "seed", "pooling", "weights", "style_scale", "precision"):  # fmt: skip
        state[name] = getattr(settings, name)
    state["content_layers"], state["style_layers"] = list(settings.content_layers), list(settings.style_layers)
    state["coarse_to_fine"] = settings.scales != 1
    if "learning_rate" in state:
        state["learning_rate"] = settings.lr if settings.optimizer == "adam" else Settings(optimizer="adam").lr
    for name, weight in zip(settings.style_layers, settings.normalised_style_layer_weights, strict=True):
        state[f"style_layer_weight_{name}"] = weight * len(settings.style_layers)


def _safer_change(settings: Settings) -> tuple[str, dict]:
    """What to change after a run diverged: a 10x smaller Adam step, or Adam instead of L-BFGS."""
    if settings.optimizer == "adam":
        rate = max([r for r in ADAM_RATES if r <= settings.lr / 10] or [ADAM_RATES[0]])
        return f"Adam learning rate {_number(rate)}", {"learning_rate": rate}
    return f"Adam, learning rate {_number(Settings(optimizer='adam').lr)}", {"optimizer": "adam"}


def _continue_safer(changes: dict) -> None:
    """Set the safer values on the sidebar's widgets (callbacks run before them), then Continue."""
    st.session_state.update(changes)
    st.session_state.action = "continue"


# -- the run -----------------------------------------------------------------------------


@dataclass
class Live:
    """Placeholders that a run updates."""

    status: st.delta_generator.DeltaGenerator
    picture: st.delta_generator.DeltaGenerator
    chart: st.delta_generator.DeltaGenerator


def run_ui(
    live: Live,
    settings: Settings,
    content: Picture,
    style: Picture,
    *,
    resume: Result | None = None,
    live_tuning: bool = False,
) -> None:
    """Iterate the engine and show its progress; the latest picture is kept in the session.

    ``resume`` continues from that result's picture: for all of ``settings.iterations``
    (Continue), or for the steps its interrupted run had left (``live_tuning``). A rerun
    (Stop, a widget change) raises Streamlit's control exception inside this loop; the
    engine's ``finally`` releases the run, and the session keeps the latest picture.
    """
    state = st.session_state
    offset = resume.step if resume is not None else 0
    steps = max(1, resume.total - resume.step) if (resume is not None and live_tuning) else settings.iterations
    history = list(resume.history) if resume is not None else []
    run_settings = settings.replace(iterations=steps, preview_every=0)
    if resume is not None:  # coarse to fine starts at the picture's current size, not below it
        run_settings = run_settings.replace(start_size=max(run_settings.start_size, max(resume.image.size)))
    device = _device_ui(live, settings)
    if device is None:
        return
    # A slider moved while waiting reruns the script: it asks for the same run again (controls_ui).
    state.waiting_for = "start" if resume is None else ("continue" if not live_tuning else None)
    # The queue comes before the model: places follow the order of the clicks, even while the
    # first click of a fresh server is still loading VGG19.
    with _device_turn_ui(live, device) as (waited, run_number):
        state.waiting_for = None
        extractor = _extractor_ui(live, settings)
        if extractor is None:
            return
        result = Result(
            image=resume.image if resume is not None else content.image,
            step=offset,
            total=offset + steps,
            settings=settings,
            content=content,
            style=style,
            history=history,
            frames=list(resume.frames) if resume is not None else [],
            queue_seconds=waited,
            run_number=run_number,
        )
        state.result = result
        state.running = True
        started = time.perf_counter()
        last_chart = 0.0
        engine = transfer(
            content.image,
            style.images,
            run_settings,
            extractor=extractor,
            cache=state.cache,
            init_image=resume.image if resume is not None else _start_image(settings),
            preview_seconds=PREVIEW_SECONDS,
        )
        try:
            for progress in engine:
                step = offset + progress.step
                history.append(
                    {
                        "step": step,
                        "α·content": settings.content_weight * progress.content_loss,
                        "β·style": settings.style_weight * progress.style_loss,
                        "total": progress.loss,
                    }
                )
                result.step, result.seconds = step, time.perf_counter() - started
                if progress.image is not None:
                    result.image = progress.image  # kept before anything is drawn: a rerun loses nothing
                    result.previews += 1
                    _add_frame(result.frames, step, progress.image)
                    if result.first_preview_seconds is None:
                        result.first_preview_seconds = result.seconds
                    live.picture.image(
                        _fit(progress.image, DISPLAY_SIDE),
                        output_format="JPEG",
                        width="stretch",
                        caption=f"step {step} of {result.total}",
                    )
                live.status.progress(min(1.0, step / result.total), text=_status_text(progress, step, result.total))
                if time.perf_counter() - last_chart >= CHART_SECONDS or progress.done:
                    last_chart = time.perf_counter()
                    live.chart.altair_chart(loss_chart(history), width="stretch")
            result.status = "done"
        except DivergedError as error:
            result.status, result.message = "diverged", str(error)
            if error.last_image is not None:
                result.image = error.last_image
        except NSTError as error:
            result.status, result.message = "failed", str(error)
        except Exception as error:  # noqa: BLE001 - the page shows a message, never a traceback
            log.exception("run failed")
            result.status, result.message = "failed", f"the run failed unexpectedly: {error}"
        finally:
            engine.close()
        state.running = False
        _remember(result)


@contextlib.contextmanager
def _device_turn_ui(live: Live, device: str) -> Iterator[tuple[float, int]]:
    """Wait for this session's turn on the device, showing its place; yields (seconds waited, run number).

    A Stop, a rerun or a closed tab ends the wait or the run with Streamlit's control
    exception; the ``finally`` then gives the place or the device to the next session.
    """
    queue = run_queue(device)
    ticket = queue.join(owner=st.session_state.session_tag)
    started = time.perf_counter()
    try:
        while (ahead := queue.wait(ticket, timeout=0.5)) > 0:
            live.status.info(  # an st call: a Stop or a rerun ends the wait here
                f"Waiting for the {device}: {ahead} run{'s' if ahead > 1 else ''} ahead of yours "
                f"({time.perf_counter() - started:.0f} s so far). It starts by itself; **Stop** leaves the queue.",
                icon=":material/hourglass_top:",
            )
        queue.begin(ticket)
        yield time.perf_counter() - started, ticket.number
    finally:
        queue.leave(ticket)


def _device_ui(live: Live, settings: Settings) -> str | None:
    """The device a run will use, or None after showing why it cannot be used."""
    try:
        return str(resolve_device(settings.device))
    except NSTError as error:
        live.status.error(str(error))
        return None


def _extractor_ui(live: Live, settings: Settings) -> FeatureExtractor | None:
    try:
        device = str(resolve_device(settings.device))
        with (
            live.status,
            st.spinner(
                f"Loading VGG19 ({WEIGHT_LABELS.get(settings.weights, settings.weights)}) "
                f"on {device}; this happens once per server…"
            ),
        ):
            return shared_extractor(settings.weights, settings.pooling, device)
    except NSTError as error:
        live.status.error(str(error))
        return None


def result_ui(live: Live, result: Result | None) -> None:
    """The finished (or stopped) picture, its download and the settings that made it."""
    if result is None:
        live.picture.info("Pick or drop a content photo and a style picture, then press **Stylize**.")
        return
    words = {
        "done": "Done",
        "stopped": "Stopped",
        "diverged": "Stopped: the run diverged",
        "failed": "Failed",
        "running": "Interrupted",
    }
    live.status.progress(
        min(1.0, result.step / max(1, result.total)),
        text=f"{words[result.status]} at step {result.step} of {result.total} ({result.seconds:.0f} s)",
    )
    if result.message:
        st.error(result.message)
    if result.status == "diverged":
        safer = _safer_change(result.settings)
        st.button(
            f"Continue with a safer setting ({safer[0]})",
            key="continue_safer",
            on_click=_continue_safer,
            args=(safer[1],),
            icon=":material/healing:",
            help="Goes on from the last good picture with this change made in the sidebar.",
        )
    live.picture.image(
        _fit(result.image, DISPLAY_SIDE),
        width="stretch",
        caption=f"{result.content.name} in the style of {result.style.name}, step {result.step}",
    )
    if result.history:
        live.chart.altair_chart(loss_chart(result.history), width="stretch")
    st.download_button(
        f"Download PNG ({result.image.width}×{result.image.height})",
        _png(result.image),
        file_name=_file_name(result),
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
            file_name=_file_name(result).removesuffix(".png") + "-timelapse.webp",
            mime="image/webp",
            icon=":material/animated_images:",
            on_click="ignore",
            key="download_timelapse",
        )
    if result.first_preview_seconds is not None:
        st.caption(
            f"Run {result.run_number} on this server; waited {result.queue_seconds:.1f} s for the device; "
            f"first picture after {result.first_preview_seconds:.1f} s; {result.previews} previews shown."
        )
    with st.expander("Settings that made this picture"):
        st.dataframe(_settings_table(result.settings), hide_index=True, width="stretch")


def _runner_ui(name: str, optimizer: str) -> dict:
    """One runner's optimiser and learning rate."""
    st.markdown(f"**Runner {name}**")
    chosen = st.radio(
        "Optimiser",
        ["lbfgs", "adam"],
        index=["lbfgs", "adam"].index(optimizer),
        horizontal=True,
        key=f"race_optimizer_{name}",
        format_func={"lbfgs": "L-BFGS", "adam": "Adam"}.get,
    )
    rates = [0.1, 0.2, 0.5, 1.0, 2.0] if chosen == "lbfgs" else ADAM_RATES
    rate = st.select_slider(
        "Learning rate", rates, value=Settings(optimizer=chosen).lr, key=f"race_rate_{name}_{chosen}"
    )
    return {"optimizer": chosen, "learning_rate": rate}


def race_ui(settings: Settings | None, content: Picture | None, style: Picture | None) -> None:
    """Two runs on the same pictures, side by side, both forming live, their losses on one chart.

    Both use the sidebar's settings except the optimiser and its learning rate; the chart
    shows the loss against steps and against each run's own computing time.
    """
    state = st.session_state
    st.caption(
        "Which optimiser wins? The same pictures and weights, two optimisers, one step each in turn. "
        "The race runs single-scale at the size chosen here; the rest comes from the sidebar."
    )
    left, right, options = st.columns([1, 1, 1])
    with left:
        runner_a = _runner_ui("A", "lbfgs")
    with right:
        runner_b = _runner_ui("B", "adam")
    with options:
        size = st.select_slider("Size (px)", [128, 192, 256, 384, 512], value=256, key="race_size", bind=BIND)
        steps = st.slider("Steps each", 10, 300, 60, 10, key="race_steps", bind=BIND)
        start = st.button("Start the race", key="race_start", icon=":material/sports_score:", type="primary",
                          disabled=settings is None or content is None or style is None)  # fmt: skip
    pictures = dict(zip("AB", st.columns(2), strict=True))
    slots = {name: column.empty() for name, column in pictures.items()}
    chart = st.empty()
    if start and settings is not None and content is not None and style is not None:
        base = settings.replace(output_size=size, iterations=steps, scales=1, preview_every=0)
        configs = {"A": base.replace(**runner_a), "B": base.replace(**runner_b)}
        _run_race(configs, content, style, slots, chart)
    outcome = state.get("race")
    if outcome:
        for name, lane in outcome["lanes"].items():
            if lane["image"] is not None:
                slots[name].image(_fit(lane["image"], DISPLAY_SIDE), caption=lane["caption"], width="stretch")
        if outcome["history"]:
            chart.altair_chart(race_chart(outcome["history"]), width="stretch")


def _label(name: str, settings: Settings) -> str:
    optimizer = {"lbfgs": "L-BFGS", "adam": "Adam"}[settings.optimizer]
    return f"{name}: {optimizer}, lr {_number(settings.lr)}"


def _run_race(configs: dict[str, Settings], content: Picture, style: Picture, slots: dict, chart) -> None:
    """Race the runs; the latest pictures and losses stay in the session (a rerun loses nothing)."""
    state = st.session_state
    labels = {name: _label(name, settings) for name, settings in configs.items()}
    outcome = {
        "lanes": {name: {"image": None, "caption": labels[name]} for name in configs},
        "history": [],
    }
    state.race = outcome
    extractor = _extractor_ui(Live(status=chart, picture=chart, chart=chart), configs["A"])
    if extractor is None:
        return
    with _device_turn_ui(Live(status=chart, picture=chart, chart=chart), str(extractor.device)):
        runners = {
            name: transfer(
                content.image,
                style.images,
                settings,
                extractor=extractor,
                cache=state.cache,
                preview_seconds=PREVIEW_SECONDS,
            )  # fmt: skip
            for name, settings in configs.items()
        }
        laps, last_chart = race(runners), 0.0
        try:
            for lap in laps:
                lane = outcome["lanes"][lap.name]
                if lap.error is not None:
                    lane["caption"] = f"{labels[lap.name]}: stopped, {lap.error}"
                    if isinstance(lap.error, DivergedError) and lap.error.last_image is not None:
                        lane["image"] = lap.error.last_image
                    continue
                progress = lap.progress
                outcome["history"].append(
                    {"runner": labels[lap.name], "step": progress.step, "seconds": lap.seconds, "loss": progress.loss}
                )
                if progress.image is not None:
                    lane["image"] = progress.image
                    lane["caption"] = f"{labels[lap.name]}: step {progress.step}, loss {progress.loss:.3g}"
                    slots[lap.name].image(_fit(progress.image, DISPLAY_SIDE), output_format="JPEG",
                                          caption=lane["caption"], width="stretch")  # fmt: skip
                if time.perf_counter() - last_chart >= CHART_SECONDS:
                    last_chart = time.perf_counter()
                    chart.altair_chart(race_chart(outcome["history"]), width="stretch")
        finally:
            laps.close()


def race_chart(history: list[dict]) -> alt.Chart:
    """Loss against steps and against each runner's own seconds, one line per runner."""
    frame = pd.DataFrame(history)
    frame = frame[frame["loss"] > 0]

    def panel(x: str, title: str) -> alt.Chart:
        return (
            alt.Chart(frame, height=220, width=300, title=title)
            .mark_line()
            .encode(
                x=alt.X(f"{x}:Q", title=x),
                y=alt.Y("loss:Q", scale=alt.Scale(type="log"), title="total loss"),
                color=alt.Color("runner:N", title=None),
            )
        )

    return alt.hconcat(panel("step", "Loss per step"), panel("seconds", "Loss per second of computing"))


def _small_runs_ui(status, settings: Settings, steps: int, start: Callable[[FeatureExtractor], Iterator]) -> Iterator:
    """A figure's small runs (``start(extractor)`` yields records with number, count and progress),
    after the session's turn on the device, with a progress bar; yields every record."""
    one_place = Live(status=status, picture=status, chart=status)
    device = _device_ui(one_place, settings)
    if device is None:
        return
    with _device_turn_ui(one_place, device):
        extractor = _extractor_ui(one_place, settings)
        if extractor is None:
            return
        records = start(extractor)
        try:
            for record in records:
                done = (record.number - 1) * steps + record.progress.step
                status.progress(done / (record.count * steps), text=f"{record.number} of {record.count}")
                yield record
        finally:
            records.close()
    status.empty()


def layers_ui(settings: Settings | None, content: Picture | None, style: Picture | None) -> None:
    """Gatys et al.'s Figure 1: content reconstructions from single layers, style from growing sets."""
    state = st.session_state
    st.caption(
        "Start from white noise and match only one layer of the photo (top row) or the painting's Gram "
        "matrices on more and more layers (bottom row). Low layers keep the pixels; high layers keep the "
        "arrangement of things. The style rows never show the painting's layout: only its textures."
    )
    left, right = st.columns([1, 2])
    size = left.select_slider("Size (px)", [96, 128, 192, 256], value=128, key="layers_size", bind=BIND)
    steps = left.slider("Steps per picture", 10, 200, 60, 10, key="layers_steps", bind=BIND)
    ready = settings is not None and content is not None and style is not None
    start = left.button("Show what each layer sees", key="layers_start", icon=":material/layers:", disabled=not ready)
    status = right.empty()
    grid = st.container()
    if start and ready:
        state.layer_views = {}
        views = _small_runs_ui(status, settings, steps, lambda extractor: what_each_layer_sees(
            content.image, style.image, settings, size=size, steps=steps, extractor=extractor, cache=state.cache
        ))  # fmt: skip
        for view in views:
            if view.image is not None:
                state.layer_views[view.label] = view.image
    pictures = state.get("layer_views") or {}
    if pictures:
        labels = list(pictures)
        for row in (labels[:5], labels[5:]):
            for column, label in zip(grid.columns(5), row, strict=False):
                column.image(_fit(pictures[label], 320), caption=label, width="stretch")


def grid_ui(settings: Settings | None, content: Picture | None, style: Picture | None) -> None:
    """Gatys et al.'s Figure 3: style-to-content ratios across, style layers down; a cell continues at full size."""
    state = st.session_state
    st.caption(
        "Each cell is a small run from the same start: to the right the style weighs more against the content; "
        "downwards the style is matched on more layers, so its larger structures appear. "
        "**Continue** under a cell takes its weights and layers into the sidebar and goes on at full size."
    )
    left, right = st.columns([1, 2])
    size = left.select_slider("Size (px)", [64, 96, 128, 192], value=96, key="grid_size", bind=BIND)
    steps = left.slider("Steps per cell", 10, 150, 40, 10, key="grid_steps", bind=BIND)
    ready = settings is not None and content is not None and style is not None
    start = left.button("Draw the grid", key="grid_start", icon=":material/grid_view:", disabled=not ready)
    status = right.empty()
    if start and ready:
        state.grid = {"content": content, "style": style, "cells": {}}
        grid_steps = _small_runs_ui(status, settings, steps, lambda extractor: ratio_grid(
            content.image, style.images, settings, size=size, steps=steps, extractor=extractor, cache=state.cache
        ))  # fmt: skip
        for grid_step in grid_steps:
            if grid_step.progress.done:
                state.grid["cells"][grid_step.cell.row, grid_step.cell.column] = (
                    grid_step.cell,
                    grid_step.progress.image,
                )
    grid = state.get("grid")
    if not grid or not grid["cells"]:
        return
    header = st.columns(len(RATIOS) + 1)
    header[0].markdown("**style layers ↓ · β/α →**")
    for column, ratio in zip(header[1:], RATIOS, strict=True):
        column.markdown(f"**{ratio:g}**")
    for row, depth in enumerate(STYLE_DEPTHS):
        columns = st.columns(len(RATIOS) + 1)
        columns[0].markdown("relu1_1" if row == 0 else f"relu1_1 … {depth}")
        for column_index, column in enumerate(columns[1:]):
            if (row, column_index) not in grid["cells"]:
                continue
            cell, picture = grid["cells"][row, column_index]
            column.image(picture, width="stretch")
            column.button("Continue", key=f"grid_continue_{row}_{column_index}", on_click=_continue_cell,
                          args=(row, column_index), icon=":material/open_in_full:", help=cell.label)  # fmt: skip


def _continue_cell(row: int, column: int) -> None:
    """Take a grid cell's weights and layers into the sidebar and continue from its picture at full size."""
    state = st.session_state
    grid = state.grid
    cell, picture = grid["cells"][row, column]
    state["content_weight"] = cell.settings.content_weight
    state["style_weight"] = cell.settings.style_weight
    state["style_layers"] = list(cell.settings.style_layers)
    state.result = Result(
        image=picture, step=0, total=0, settings=cell.settings, content=grid["content"], style=grid["style"],
        status="done",
    )  # fmt: skip
    state.action = "continue"


INSIDE_SIZE, INSIDE_CHANNELS, GRAM_CHANNELS = 256, 4, 64


def inside_ui(settings: Settings | None, content: Picture | None, style: Picture | None, result: Result | None) -> None:
    """A layer's feature maps for the photo, the painting and the result, and their Gram matrices."""
    state = st.session_state
    st.caption(
        "Feature maps: where a filter of the layer responds (white = strongly). Gram matrices: which filters "
        "respond together, over the whole picture; the style loss compares only these. Red in the difference: "
        "the result has too much of a pair, blue: too little."
    )
    left, right = st.columns([1, 3])
    layer = left.selectbox("Layer", VGG19_LAYERS, index=VGG19_LAYERS.index("relu3_1"), key="inside_layer")
    ready = settings is not None and content is not None and style is not None
    if left.button("Look inside", key="inside_start", icon=":material/visibility:", disabled=not ready) and ready:
        extractor = _extractor_ui(Live(status=right, picture=right, chart=right), settings)
        if extractor is not None:
            current = result.image if result is not None else content.image
            state.inside = _look_inside(extractor, layer, content.image, style.image, current)
    view = state.get("inside")
    if not view:
        return
    st.markdown(f"**{view['layer']}**: the {INSIDE_CHANNELS} channels that respond most to the style picture")
    for name, pictures in view["maps"].items():
        columns = st.columns(INSIDE_CHANNELS + 1)
        columns[0].markdown(name)
        for column, (channel, picture) in zip(columns[1:], pictures, strict=True):
            column.image(picture, caption=f"channel {channel}", width="stretch")
    st.markdown(f"**Gram matrices** of the {GRAM_CHANNELS} channels that respond most to the style picture")
    for column, (name, picture) in zip(st.columns(3), view["grams"].items(), strict=True):
        column.image(picture, caption=name, width="stretch")


def _look_inside(extractor, layer: str, photo: Image.Image, painting: Image.Image, current: Image.Image) -> dict:
    features = {
        name: features_at(extractor, picture, layer, INSIDE_SIZE)
        for name, picture in (("style", painting), ("photo", photo), ("result", current))
    }
    channels = strongest_channels(features["style"], GRAM_CHANNELS)
    shown = channels[:INSIDE_CHANNELS]
    maps = {name: list(zip(shown, feature_map_pictures(f, shown), strict=True)) for name, f in features.items()}
    grams = {name: gram(features[name])[np.ix_(channels, channels)] for name in ("style", "result")}
    limit = float(np.abs(grams["style"]).max()) or 1.0
    return {
        "layer": layer,
        "maps": maps,
        "grams": {
            "style picture": heatmap(grams["style"], limit=limit),
            "result": heatmap(grams["result"], limit=limit),
            "result − style": heatmap(grams["result"] - grams["style"], limit=limit, diverging=True),
        },
    }


@dataclass(frozen=True)
class GalleryEntry:
    """A finished picture of this session and what made it."""

    title: str
    image: Image.Image
    settings: Settings
    file_name: str


def _remember(result: Result) -> None:
    """Put a finished (or stopped, or diverged) result in the session's gallery, once."""
    gallery: list = st.session_state.setdefault("gallery", [])
    if result.step == 0 or any(entry.image is result.image for entry in gallery):
        return
    words = {"done": "", "stopped": ", stopped", "diverged": ", diverged"}.get(result.status, "")
    title = (
        f"{len(gallery) + 1}. {result.content.name} × {result.style.name}: "
        f"α {_number(result.settings.content_weight)}, β {_number(result.settings.style_weight)}, "
        f"{result.step} steps{words}"
    )
    gallery.append(GalleryEntry(title, result.image, result.settings, _file_name(result)))
    del gallery[:-GALLERY_SIZE]


def gallery_ui(gallery: list[GalleryEntry], content: Picture | None) -> None:
    """Every finished picture of this session, with a download each, and a before/after view."""
    if not gallery:
        st.caption("Finished pictures collect here, with their settings, for this browser session.")
        return
    for row in range(0, len(gallery), 4):
        for column, (index, entry) in zip(st.columns(4), enumerate(gallery[row : row + 4], start=row), strict=False):
            with column:
                st.image(_fit(entry.image, 320), caption=entry.title, width="stretch")
                st.download_button(
                    "PNG",
                    functools.partial(_png, entry.image),
                    file_name=entry.file_name,
                    mime="image/png",
                    icon=":material/download:",
                    on_click="ignore",
                    key=f"gallery_download_{index}",
                )
                with st.popover("Settings"):
                    st.dataframe(_settings_table(entry.settings), hide_index=True)
    st.subheader("Before and after")
    choices = {"the content photo": content.image if content is not None else None}
    choices.update({entry.title: entry.image for entry in gallery})
    names = list(choices)
    left, right = st.columns(2)
    before = left.selectbox("Before", names, index=0, key="compare_before")
    # the key follows the gallery's length, so "after" moves to each new picture
    after = right.selectbox("After", names, index=len(names) - 1, key=f"compare_after_{len(names)}")
    for column, name in ((left, before), (right, after)):
        if choices[name] is not None:
            column.image(_fit(choices[name], DISPLAY_SIDE), caption=name, width="stretch")


def loss_chart(history: list[dict[str, float]]) -> alt.Chart:
    """The weighted loss terms against the step, on a log scale."""
    frame = pd.DataFrame(history).melt("step", var_name="term", value_name="loss")
    frame = frame[frame["loss"] > 1e-3 * frame["loss"].max()]  # e.g. the content term is 0 at step 1
    return (
        alt.Chart(frame, height=220, title="Loss (log scale)")
        .mark_line()
        .encode(
            x=alt.X("step:Q", title="step"),
            y=alt.Y("loss:Q", scale=alt.Scale(type="log"), title=None),
            color=alt.Color("term:N", title=None, sort=["total", "α·content", "β·style"]),
        )
    )


# -- the page ------------------------------------------------------------------------------


def main() -> None:
    st.set_page_config(page_title="Neural style transfer", page_icon="🎨", layout="wide")
    state = st.session_state
    state.setdefault("cache", TargetCache())  # this session's content and style targets
    state.setdefault("result", None)
    state.setdefault("running", False)
    state.setdefault("gallery", [])  # this session's finished pictures, newest last
    state.setdefault("session_tag", secrets.token_hex(4))  # names this session's runs in the queue

    st.title("Neural style transfer")
    st.caption(
        "Gatys, Ecker and Bethge (2015): a picture is optimised until its VGG19 features match the photo "
        "and its feature correlations (Gram matrices) match the painting. Tune α and β while it runs."
    )
    settings = settings_ui()
    content_column, style_column, result_column = st.columns([1, 1, 1.6], gap="medium")
    with content_column:
        content = picture_ui("content", "1 · Content photo", list(examples.PHOTOS), example_photo)
    with style_column:
        style = picture_ui("style", "2 · Style picture", list(examples.STYLES), example_style)
        style, blend = blend_ui(style)
    if settings is not None and blend is not None:
        settings = settings.replace(style_blend=blend)
    with result_column:
        st.subheader("3 · Result")
        ready = settings is not None and content is not None and style is not None
        action = controls_ui(ready, state.result is not None)
        live = Live(status=st.empty(), picture=st.empty(), chart=st.empty())
        result: Result | None = state.result
        if action == "stop" or (action is None and state.running and not ready):
            state.running = False
            if result is not None and result.status == "running":
                result.status = "stopped"
                _remember(result)
        elif ready and (action is not None or state.running):
            same_inputs = result is not None and result.content.same_as(content) and result.style.same_as(style)
            if action == "start" or not same_inputs:
                run_ui(live, settings, content, style)
            else:  # Continue, or a widget changed during a run: go on from the latest picture
                run_ui(live, settings, content, style, resume=result, live_tuning=action is None)
        result_ui(live, state.result)
    race_tab, grid_tab, layers_tab, inside_tab, gallery_tab = st.tabs(
        ["Optimiser race", "α/β grid", "What each layer sees", "Inside the network", "Gallery"]
    )
    with race_tab:
        race_ui(settings, content, style)
    with grid_tab:
        grid_ui(settings, content, style)
    with layers_tab:
        layers_ui(settings, content, style)
    with inside_tab:
        inside_ui(settings, content, style, state.result)
    with gallery_tab:
        gallery_ui(state.gallery, content)


# -- small helpers -----------------------------------------------------------------------------


def _start_image(settings: Settings) -> Image.Image | None:
    """The uploaded starting picture, when the run starts from one."""
    start = st.session_state.get("start_picture")
    return start.image if settings.init == "image" and start is not None else None


def _add_frame(frames: list[tuple[int, Image.Image]], step: int, image: Image.Image) -> None:
    """Keep a small copy of a preview for the timelapse; past MAX_FRAMES, every other one."""
    frames.append((step, _fit(image, TIMELAPSE_SIDE)))
    if len(frames) > MAX_FRAMES:
        frames[:] = frames[:-1][::2] + frames[-1:]


def _decoded_upload(role: str, upload) -> Picture:
    """Decode an upload once per file, in memory (never written to disk).

    Kept in the session by its file id, at most ``LIMITS.max_kept_side`` px (no output is
    larger), and only the latest picture per role: a session's memory stays bounded.
    """
    decoded = st.session_state.setdefault("decoded_uploads", {})
    key = (role, upload.file_id)
    if key not in decoded:
        image = load_image(upload.getvalue(), name=upload.name)
        if max(image.size) > LIMITS.max_kept_side:
            image = resize_longest(image, LIMITS.max_kept_side)
        for old in [k for k in decoded if k[0] == role]:
            del decoded[old]
        decoded[key] = Picture.of(upload.name, image, "your upload")
    return decoded[key]


def _example_picture(role: str, name: str, load_example) -> Picture:
    """An example as a Picture, its digest computed once per session."""
    made = st.session_state.setdefault("example_pictures", {})
    if (role, name) not in made:
        made[(role, name)] = Picture.of(name, load_example(name), _credit(role, name))
    return made[(role, name)]


def _credit(role: str, name: str) -> str:
    if role == "content":
        return examples.PHOTOS[name][1]
    return f"{name}: {examples.STYLES[name][1]}"


def _devices() -> list[str]:
    import torch

    found = ["auto", "cpu"]
    if torch.cuda.is_available():
        found += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        found.append("mps")
    return found


def _fit(image: Image.Image, side: int) -> Image.Image:
    """A copy no larger than ``side`` on its longest side (what the browser needs)."""
    if max(image.size) <= side:
        return image
    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    return copy


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _file_name(result: Result) -> str:
    slug = lambda text: re.sub(r"[^a-z0-9]+", "-", text.rsplit(".", 1)[0].lower()).strip("-")[:40] or "picture"  # noqa: E731
    s = result.settings
    return (
        f"{slug(result.content.name)}-in-the-style-of-{slug(result.style.name)}"
        f"-a{_number(s.content_weight)}-b{_number(s.style_weight)}-{result.step}steps.png"
    )


def _number(value: float) -> str:
    return f"{value:g}"


def _status_text(progress, step: int, total: int) -> str:
    scale = f" · scale {progress.scale}/{progress.scales} ({progress.size[0]}×{progress.size[1]})"
    return f"Step {step} of {total}{scale} · {progress.elapsed:.0f} s · about {progress.eta:.0f} s left"


def _settings_table(settings: Settings) -> pd.DataFrame:
    rows = []
    for name, value in settings.as_dict().items():
        shown = ", ".join(map(str, value)) if isinstance(value, tuple) else ("" if value is None else str(value))
        default = getattr(APP_DEFAULTS, name)
        rows.append({"setting": name, "value": shown, "changed": "✓" if value != default else ""})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main()
