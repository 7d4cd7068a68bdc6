"""The sidebar: one table of the Settings fields a person can set, and the widgets drawn from it.

:data:`KNOBS` maps each Settings field to its widget: label, kind, section, how its
choices are shown, and how a Settings value becomes the widget's value and back. The
choices and help texts come from the Settings fields' metadata (``nst.settings``), typed
nowhere else. The same table draws the widgets (:func:`settings_ui`) and writes values
into them (:func:`write_settings`: presets, "Continue with a safer setting", the grid's
Continue). Every widget is bound to the page's URL, so a link carries the configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import streamlit as st

from nst import VGG19_LAYERS, NSTError, Settings
from nst.device import available_devices, resolve_device
from nst.presets import PRESETS, QUICK, preset
from nst.settings import LEARNING_RATES, default_iterations, help_text, metadata
from webapp.display import DEFAULTS, OPTIMISER_NAMES, STYLE_LOSS_NAMES, number
from webapp.inputs import start_picture_ui
from webapp.resources import LIMITS

BIND: Final = "query-params"  # a widget bound to the page's URL: share a link, share the configuration
Kind = Literal["select_slider", "slider", "radio", "selectbox", "multiselect", "number", "toggle"]
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
    "instant": "the one-pass picture (refined at half size, its strokes kept)",
}
SCALE_UP_LABELS = {
    "auto": "the photo's detail, unless it starts from your picture",
    "photo": "the photo's fine detail",
    "plain": "nothing (a smooth enlargement)",
}
ADAM_DEFAULT_RATE = Settings(optimizer="adam").lr


def _field(name: str) -> Callable[[Settings], Any]:
    return lambda settings: getattr(settings, name)


def _choices(name: str) -> Callable[[], Sequence[Any]]:
    return lambda: list(metadata(name).get("choices") or metadata(name)["values"])


def _range(name: str) -> Callable[[], Sequence[Any]]:
    return lambda: metadata(name)["range"]


@dataclass(frozen=True)
class Knob:
    """One widget of the sidebar and the Settings field it sets."""

    name: str  # the Settings field
    label: str
    kind: Kind
    section: str  # Balance, Run, Layers, Network
    options: Callable[[], Sequence[Any]] | None = None  # choices; for a slider (min, max, step)
    labels: Mapping[str, str] | None = None  # how each choice is shown
    key: str = ""  # the widget's key and URL parameter; the field's name when empty
    value_of: Callable[[Settings], Any] | None = None  # Settings -> the widget's value
    setting_of: Callable[[Any], Any] | None = None  # the widget's value -> the Settings value
    shown_when: Callable[[dict[str, Any]], bool] | None = None  # drawn only when the values so far allow
    on_change: Callable[[], None] | None = None  # the widget's callback

    @property
    def widget_key(self) -> str:
        return self.key or self.name

    def widget_value(self, settings: Settings) -> Any:
        value = (self.value_of or _field(self.name))(settings)
        return list(value) if self.kind == "multiselect" else value

    def setting(self, value: Any) -> Any:
        return self.setting_of(value) if self.setting_of is not None else value


def _steps_follow_start() -> None:
    """Steps follow Start from while they show a start's default: 10 from the one-pass picture, 120 otherwise.

    Steps the person chose themselves stay as they are.
    """
    state = st.session_state
    defaults = {default_iterations(init) for init in metadata("init")["choices"]}
    if state.get("iterations") in defaults:
        state["iterations"] = default_iterations(state["init"])


KNOBS: tuple[Knob, ...] = (
    Knob("content_weight", "Content weight α", "select_slider", "Balance", _choices("content_weight")),
    Knob("style_weight", "Style weight β", "select_slider", "Balance", _choices("style_weight")),
    Knob("tv_weight", "Smoothness (total variation)", "select_slider", "Balance", _choices("tv_weight")),
    Knob("style_loss", "Style loss", "radio", "Balance", _choices("style_loss"), STYLE_LOSS_NAMES),
    Knob(
        "style_strength", "Style strength (one pass)", "slider", "Balance", lambda: metadata("style_strength")["range"]
    ),
    Knob("preserve_colour", "Keep the photo's colours", "radio", "Balance", _choices("preserve_colour"), COLOUR_LABELS),
    Knob("iterations", "Steps", "slider", "Run", lambda: (10, LIMITS.max_iterations, metadata("iterations")["step"])),
    Knob(
        "output_size",
        "Output size (longest side, px)",
        "select_slider",
        "Run",
        lambda: [
            s
            for s in metadata("output_size")["values"]
            if s <= max(LIMITS.max_output_size_cpu, LIMITS.max_output_size_gpu)
        ],
    ),  # fmt: skip
    Knob(
        "scales",
        "Coarse to fine",
        "toggle",
        "Run",
        key="coarse_to_fine",
        value_of=lambda settings: settings.scales != 1,
        setting_of=lambda on: 0 if on else 1,
    ),
    Knob(
        "start_size",
        "First scale (longest side, px)",
        "select_slider",
        "Run",
        _choices("start_size"),
        shown_when=lambda values: values.get("scales") != 1,
    ),
    Knob(
        "scale_up",
        "At each scale up, add",
        "selectbox",
        "Run",
        _choices("scale_up"),
        SCALE_UP_LABELS,
        shown_when=lambda values: values.get("scales") != 1,
    ),
    Knob("optimizer", "Optimiser", "radio", "Run", _choices("optimizer"), OPTIMISER_NAMES),
    Knob(
        "learning_rate",
        "Learning rate (Adam)",
        "select_slider",
        "Run",
        lambda: list(LEARNING_RATES["adam"]),
        value_of=lambda settings: settings.lr if settings.optimizer == "adam" else ADAM_DEFAULT_RATE,
        shown_when=lambda values: values.get("optimizer") == "adam",
    ),
    Knob("init", "Start from", "selectbox", "Run", _choices("init"), INIT_LABELS, on_change=_steps_follow_start),
    Knob("seed", "Seed", "number", "Run", lambda: (0, 2**31 - 1, 1)),
    Knob("content_layers", "Content layers", "multiselect", "Layers", lambda: VGG19_LAYERS),
    Knob("style_layers", "Style layers", "multiselect", "Layers", lambda: VGG19_LAYERS),
    Knob("pooling", "Pooling", "radio", "Layers", _choices("pooling")),
    Knob("weights", "VGG19 weights", "selectbox", "Network", lambda: list(WEIGHT_LABELS), WEIGHT_LABELS),
    Knob("style_scale", "Style scale", "slider", "Network", _range("style_scale")),
    Knob("device", "Device", "selectbox", "Network", available_devices),
    Knob("precision", "Precision", "radio", "Network", _choices("precision")),
)
SECTIONS = {"Balance": "subheader", "Run": "subheader", "Layers": "expander", "Network": "expander"}
SECTION_TITLES = {"Balance": "Balance", "Run": "Run", "Layers": "Layers", "Network": "Network and style scale"}


def _draw(knob: Knob, container: Any) -> Any:
    """Draw one knob's widget in ``container``; returns its value.

    The Settings default is always passed, also when a preset has written the widget's value
    through the session state (Streamlit then logs a warning on the server): the URL carries
    only values that differ from the widget's default, so the default must be the engine's.
    """
    common: dict[str, Any] = {"key": knob.widget_key, "help": help_text(knob.name), "bind": BIND,
                              "on_change": knob.on_change}  # fmt: skip
    default = knob.widget_value(DEFAULTS)
    if knob.labels is not None:
        common["format_func"] = knob.labels.get
    elif knob.kind == "select_slider":
        common["format_func"] = lambda value: number(value) if isinstance(value, float) else str(value)
    if knob.kind == "toggle":
        return container.toggle(knob.label, value=default, **common)
    options = list(knob.options()) if knob.options is not None else []
    if knob.kind == "select_slider":
        return container.select_slider(knob.label, options, value=default, **common)
    if knob.kind == "slider":
        low, high, step = options
        return container.slider(knob.label, low, high, step=step, value=default, **common)
    if knob.kind == "number":
        low, high, _ = options
        value = container.number_input(knob.label, low, high, value=default, **common)
        return int(value)
    index = options.index(default) if default in options else 0
    if knob.kind == "radio":
        return container.radio(knob.label, options, index, horizontal=knob.name != "preserve_colour", **common)
    if knob.kind == "selectbox":
        return container.selectbox(knob.label, options, index, **common)
    return container.multiselect(knob.label, options, default=default, **common)


def settings_ui() -> Settings | None:
    """The sidebar: a preset picker and every knob of :data:`KNOBS`. Returns the Settings, or None if invalid."""
    bar = st.sidebar
    bar.header("Settings")
    bar.selectbox(
        "Preset",
        list(PRESETS),
        index=list(PRESETS).index(QUICK),
        key="preset",
        on_change=_apply_preset,
        help="Sets every knob below to a named starting point: "
        + "; ".join(f"**{name}**: {text}" for name, (text, _) in PRESETS.items()),
    )
    values: dict[str, Any] = {}
    containers: dict[str, Any] = {}
    start_ready = True
    for knob in KNOBS:
        if knob.section not in containers:
            if SECTIONS[knob.section] == "subheader":
                bar.subheader(SECTION_TITLES[knob.section])
                containers[knob.section] = bar
            else:
                containers[knob.section] = bar.expander(SECTION_TITLES[knob.section])
        if knob.shown_when is not None and not knob.shown_when(values):
            continue
        values[knob.name] = knob.setting(_draw(knob, containers[knob.section]))
        if knob.name == "style_weight":
            _ratio_caption(bar, values)
        if knob.name == "init" and values["init"] == "image":
            start_ready = start_picture_ui(bar)
        if knob.name == "style_layers":
            values["style_layer_weights"] = _layer_weights_ui(containers["Layers"], values["style_layers"])
    try:
        settings = Settings(**values)
        LIMITS.check(settings, str(resolve_device(settings.device)))
        return settings if start_ready else None
    except NSTError as error:
        bar.error(str(error))
        return None


def _ratio_caption(bar: Any, values: dict[str, Any]) -> None:
    if values["content_weight"] > 0:
        ratio = number(values["style_weight"] / values["content_weight"])
        bar.caption(f"β/α = **{ratio}**: higher paints more, lower keeps more of the photo.")
    else:
        bar.caption("α = 0: the photo is ignored; the result is pure texture.")


def _layer_weights_ui(container: Any, layers: list[str]) -> tuple[float, ...]:
    """One weight slider per style layer (keys ``style_layer_weight_<layer>``, in the URL too)."""
    if layers:
        container.caption("Weight of each style layer (normalised to sum to 1):")
    return tuple(
        container.slider(name, 0.0, 1.0, 1.0, 0.05, key=f"style_layer_weight_{name}", bind=BIND) for name in layers
    )


def write_settings(settings: Settings, fields: Collection[str] | None = None) -> None:
    """Put ``settings`` (or only its ``fields``) into the sidebar's widgets.

    Call it from a widget's callback: callbacks run before the script draws the widgets.
    """
    state = st.session_state
    for knob in KNOBS:
        if fields is None or knob.name in fields:
            state[knob.widget_key] = knob.widget_value(settings)
    if fields is None or {"style_layers", "style_layer_weights"} & set(fields):
        for name, weight in zip(settings.style_layers, settings.normalised_style_layer_weights, strict=True):
            state[f"style_layer_weight_{name}"] = weight * len(settings.style_layers)


def _apply_preset() -> None:
    """A preset sets every knob except the device, which belongs to the machine, not the recipe."""
    fields = [knob.name for knob in KNOBS if knob.name != "device"]
    write_settings(Settings(**preset(st.session_state.preset)), fields)
