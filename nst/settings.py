"""Every knob of a style-transfer run, in one frozen dataclass.

The command line builds its options from these fields and the app its widgets, and
both show each field's ``help`` text, so a default or a description is changed here
and nowhere else. Values are checked when the object is made: an impossible setting
raises :class:`~nst.errors.SettingsError` with a message that names the field.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from nst.errors import SettingsError
from nst.layers import canonical_layers
from nst.losses import STYLE_LOSSES

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style", "image")
POOLINGS = ("max", "avg")
PRECISIONS = ("auto", "float32", "bfloat16")
PRESERVE_COLOUR = ("off", "luminance", "histogram")  # nst.colour
WEIGHT_SOURCES = ("caffe", "torchvision")  # or a path to a state-dict file
DEFAULT_LEARNING_RATES = {"lbfgs": 1.0, "adam": 0.02}  # pixels live in [0, 1]
MIN_OUTPUT_SIZE = 32  # below this the deepest layers see fewer than 2x2 positions
# The values a person picks from (the app's sliders; the command line takes any number).
CONTENT_WEIGHTS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
STYLE_WEIGHTS = (0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0, 300.0, 500.0, 1000.0, 3000.0,
                 10000.0)  # fmt: skip
TV_WEIGHTS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
OUTPUT_SIZES = (128, 192, 256, 320, 384, 448, 512, 640, 768, 1024, 1536, 2048)
START_SIZES = (64, 96, 128, 192, 256, 384, 512)
TEMPORAL_WEIGHTS = (0.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)
TEMPORAL_WEIGHT = 200.0  # video: see benchmarks/video.py
FRAME_ITERATIONS = 20  # video: half the time of 40, steadier, the same style loss (docs/performance.md)
LEARNING_RATES = {"lbfgs": (0.1, 0.2, 0.5, 1.0, 2.0), "adam": (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)}


def _knob(default: Any, help: str, **extra: Any) -> Any:
    """A dataclass field with a help text that the CLI and the app both show."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples for defaults")  # frozen means immutable all the way
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class Settings:
    """One style-transfer run's configuration. Immutable; use :meth:`replace`."""

    # -- the objective: total = content_weight*content + style_weight*style + tv_weight*tv
    content_weight: float = _knob(
        1.0, "alpha: how strongly the result keeps the content photo's structure", values=CONTENT_WEIGHTS
    )
    style_weight: float = _knob(
        30.0, "beta: how strongly the result takes on the style picture's textures", values=STYLE_WEIGHTS
    )
    tv_weight: float = _knob(0.0, "total-variation weight: smooths away pixel noise; 0 turns it off", values=TV_WEIGHTS)
    content_layers: tuple[str, ...] = _knob(
        ("relu4_2",), "VGG19 layers whose features the result must match to the content photo"
    )
    style_layers: tuple[str, ...] = _knob(
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        "VGG19 layers whose Gram matrices the result must match to the style picture",
    )
    style_layer_weights: tuple[float, ...] | None = _knob(
        None, "one weight per style layer (normalised to sum to 1); empty means equal weights"
    )
    style_loss: str = _knob(
        "gram",
        "what the style match compares at each layer: gram (Gatys et al.: how often features occur together, "
        "the Gram matrix) or wasserstein (the features' mean and covariance, compared as Gaussians by the "
        "2-Wasserstein distance: colours and contrast closer to the painting's; each step is slower)",
        choices=STYLE_LOSSES,
    )
    preserve_colour: str = _knob(
        "off",
        "keep the photo's colours: luminance (style only the brightness; Gatys et al. 2016) or histogram "
        "(recolour the style picture to the photo's colour statistics first)",
        choices=PRESERVE_COLOUR,
    )
    # -- the optimisation
    optimizer: str = _knob("lbfgs", "lbfgs: fast, few steps; adam: steadier, needs more steps", choices=OPTIMIZERS)
    learning_rate: float | None = _knob(
        None, "step size; empty means the optimiser's default (L-BFGS 1.0, Adam 0.02)", values=LEARNING_RATES
    )
    iterations: int = _knob(120, "number of optimisation steps (one VGG19 forward and backward each)", step=10)
    init: str = _knob(
        "content",
        "starting picture: the content photo, random noise, the style picture, or an image of your own "
        "(image: give it as init_image, --init-image, or upload it in the app)",
        choices=INITS,
    )
    seed: int = _knob(0, "random seed; the same seed gives the same picture on the same machine")
    # -- sizes
    output_size: int = _knob(
        512, "longest side of the result in pixels; time per step grows with the pixel count", values=OUTPUT_SIZES
    )
    # coarse to fine (differs from Gatys et al., who optimise at the output size only)
    scales: int = _knob(
        0, "sizes to optimise at, coarse to fine: 0 picks them from start_size; 1 is the paper's single size"
    )
    start_size: int = _knob(
        192, "longest side of the first, coarsest scale; each later scale grows by at most 1.5x", values=START_SIZES
    )
    scale_split: tuple[float, ...] | None = _knob(
        None, "share of the iterations at each scale, coarse to fine; empty gives each scale about equal time"
    )
    style_blend: tuple[float, ...] | None = _knob(
        None, "with several style pictures: one weight each (normalised to sum to 1); empty means equal weights"
    )
    style_scale: float = _knob(
        1.0,
        "size of the style picture relative to the result: larger gives bigger brush strokes",
        range=(0.25, 2.0, 0.05),
    )
    # -- the network
    weights: str = _knob(
        "caffe",
        "VGG19 weights: caffe (Gatys' original network, offline), torchvision (downloaded once), or a file path",
    )
    pooling: str = _knob(
        "max", "VGG19's pooling: max (as trained) or avg (Gatys et al.: smoother gradients)", choices=POOLINGS
    )
    device: str = _knob("auto", "auto picks cuda, then mps, then cpu; or name one (cpu, cuda, cuda:1, mps)")
    precision: str = _knob(
        "auto",
        "arithmetic inside VGG19: auto uses bfloat16 where the processor has fast bfloat16 units "
        "(about 1.5x faster, less memory), else float32",
        choices=PRECISIONS,
    )
    preview_every: int = _knob(10, "hand back the current picture every N steps (0: only at the end)")
    # -- print sizes (nst.tiles)
    memory_budget: float = _knob(
        0.0,
        "GB of memory a run may use besides the model; larger pictures are worked in tiles within it "
        "(0: 2 GB on a CPU, three quarters of a GPU's free memory)",
    )
    dpi: int = _knob(300, "dots per inch written into saved pictures: the printed size is pixels / dpi inches")
    # -- video (nst.video; Ruder et al. 2016)
    temporal_weight: float = _knob(
        TEMPORAL_WEIGHT,
        "video: how strongly each frame keeps the previous stylised frame, carried along the motion, where the "
        "motion is known; 0 stylises every frame on its own (it flickers)",
        values=TEMPORAL_WEIGHTS,
        video=True,
    )
    frame_iterations: int = _knob(
        FRAME_ITERATIONS,
        "video: steps for each frame after the first (which takes iterations); they start from the previous "
        "stylised frame carried along the motion, so they need fewer",
        step=5,
        video=True,
    )

    def __post_init__(self) -> None:  # noqa: C901, PLR0915  # validation to move beside each field (issue 25)
        def set_(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)  # frozen: fields are normalised once, here

        for name in ("content_weight", "style_weight", "tv_weight"):
            value = _number(self, name)
            if value < 0:
                raise SettingsError(f"{name} must be zero or more, not {value}")
            set_(name, value)
        set_("content_layers", canonical_layers(_names(self, "content_layers")))
        set_("style_layers", canonical_layers(_names(self, "style_layers")))
        if not self.content_layers and not self.style_layers:
            raise SettingsError("choose at least one content layer or one style layer")
        if self.style_layer_weights is not None and len(tuple(self.style_layer_weights)) == 0:
            set_("style_layer_weights", None)
        if self.style_layer_weights is not None:
            weights = tuple(float(w) for w in self.style_layer_weights)
            if len(weights) != len(self.style_layers):
                raise SettingsError(
                    f"style_layer_weights has {len(weights)} values but there are "
                    f"{len(self.style_layers)} style layers ({', '.join(self.style_layers)})"
                )
            if any(not math.isfinite(w) or w < 0 for w in weights) or (weights and sum(weights) <= 0):
                raise SettingsError("style_layer_weights must be zero or more, and not all zero")
            set_("style_layer_weights", weights)
        _choice(self, "optimizer", OPTIMIZERS)
        _choice(self, "init", INITS)
        _choice(self, "pooling", POOLINGS)
        _choice(self, "precision", PRECISIONS)
        _choice(self, "preserve_colour", PRESERVE_COLOUR)
        _choice(self, "style_loss", STYLE_LOSSES)
        if self.learning_rate is not None:
            lr = _number(self, "learning_rate")
            if lr <= 0:
                raise SettingsError(f"learning_rate must be more than zero, not {lr}")
            set_("learning_rate", lr)
        set_("iterations", _integer(self, "iterations", minimum=1))
        set_("seed", _integer(self, "seed", minimum=0))
        set_("output_size", _integer(self, "output_size", minimum=MIN_OUTPUT_SIZE))
        set_("preview_every", _integer(self, "preview_every", minimum=0))
        budget = _number(self, "memory_budget")
        if budget < 0:
            raise SettingsError(f"memory_budget must be zero (the device's default) or more, not {budget}")
        set_("memory_budget", budget)
        set_("dpi", _integer(self, "dpi", minimum=1))
        temporal = _number(self, "temporal_weight")
        if temporal < 0:
            raise SettingsError(f"temporal_weight must be zero or more, not {temporal}")
        set_("temporal_weight", temporal)
        set_("frame_iterations", _integer(self, "frame_iterations", minimum=1))
        set_("scales", _integer(self, "scales", minimum=0))
        set_("start_size", _integer(self, "start_size", minimum=MIN_OUTPUT_SIZE))
        if self.scale_split is not None and len(tuple(self.scale_split)) == 0:
            set_("scale_split", None)
        if self.scale_split is not None:
            split = tuple(float(share) for share in self.scale_split)
            if any(not math.isfinite(share) or share <= 0 for share in split):
                raise SettingsError("scale_split must hold numbers more than zero")
            if self.scales and len(split) != self.scales:
                raise SettingsError(f"scale_split has {len(split)} shares but scales is {self.scales}")
            set_("scale_split", split)
        if self.style_blend is not None and len(tuple(self.style_blend)) == 0:
            set_("style_blend", None)
        if self.style_blend is not None:
            blend = tuple(float(w) for w in self.style_blend)
            if any(not math.isfinite(w) or w < 0 for w in blend) or sum(blend) <= 0:
                raise SettingsError("style_blend must be zero or more, and not all zero")
            set_("style_blend", blend)
        scale = _number(self, "style_scale")
        if not 0.05 <= scale <= 8:
            raise SettingsError(f"style_scale must be between 0.05 and 8, not {scale}")
        set_("style_scale", scale)
        if not isinstance(self.weights, str) or not self.weights.strip():
            raise SettingsError("weights must be 'caffe', 'torchvision' or the path of a state-dict file")
        set_("weights", self.weights.strip())
        device = str(self.device).strip().lower()
        if not (device in ("auto", "cpu", "mps") or device == "cuda" or device.startswith("cuda:")):
            raise SettingsError(f"device must be auto, cpu, cuda, cuda:N or mps, not {self.device!r}")
        set_("device", device)

    @property
    def lr(self) -> float:
        """The learning rate in effect (the optimiser's default when none is set)."""
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATES[self.optimizer]

    @property
    def normalised_style_layer_weights(self) -> tuple[float, ...]:
        """Per-style-layer weights that sum to 1 (equal when none were given)."""
        if not self.style_layers:
            return ()
        weights = self.style_layer_weights or (1.0,) * len(self.style_layers)
        total = sum(weights)
        return tuple(w / total for w in weights)

    def normalised_style_blend(self, count: int) -> tuple[float, ...]:
        """Blend weights for ``count`` style pictures that sum to 1 (equal when none were given)."""
        weights = self.style_blend or (1.0,) * count
        total = sum(weights)
        return tuple(w / total for w in weights)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for logs, file names and sharing."""
        return dataclasses.asdict(self)


def help_text(name: str) -> str:
    """The help text of a Settings field."""
    return str(metadata(name).get("help", ""))


def metadata(name: str) -> dict[str, Any]:
    """Everything said about a Settings field: ``help``, and ``choices``, ``values``, ``step`` or ``range``."""
    found = {f.name: dict(f.metadata) for f in dataclasses.fields(Settings)}
    if name not in found:
        raise SettingsError(f"unknown setting {name!r}")
    return found[name]


def safer_after_divergence(settings: Settings) -> tuple[str, dict[str, Any]]:
    """What to change after a run diverged: its description and the Settings changes.

    Adam: a learning rate ten times smaller (from :data:`LEARNING_RATES`). L-BFGS (no line
    search here, so a large step can overshoot): Adam at its default rate, which moves
    each pixel by at most about the learning rate per step. The engine's message and the
    app's "Continue with a safer setting" button both use this.

    Examples:
        >>> safer_after_divergence(Settings(optimizer="adam", learning_rate=0.2))
        ('Adam learning rate 0.02', {'learning_rate': 0.02})
        >>> safer_after_divergence(Settings())
        ('Adam, learning rate 0.02', {'optimizer': 'adam', 'learning_rate': 0.02})
    """
    rates = LEARNING_RATES["adam"]
    if settings.optimizer == "adam":
        rate = max([r for r in rates if r <= settings.lr / 10] or [rates[0]])
        return f"Adam learning rate {rate:g}", {"learning_rate": rate}
    rate = DEFAULT_LEARNING_RATES["adam"]
    return f"Adam, learning rate {rate:g}", {"optimizer": "adam", "learning_rate": rate}


def _number(settings: Settings, name: str) -> float:
    value = getattr(settings, name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number, not {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise SettingsError(f"{name} must be a finite number, not {value!r}")
    return number


def _integer(settings: Settings, name: str, *, minimum: int) -> int:
    value = getattr(settings, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise SettingsError(f"{name} must be a whole number, not {value!r}")
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {int(value)}")
    return int(value)


def _choice(settings: Settings, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(settings, name)
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")


def _names(settings: Settings, name: str) -> tuple[str, ...]:
    value = getattr(settings, name)
    if isinstance(value, str):  # "relu1_1,relu2_1" or a single name
        value = [part for part in value.replace(" ", ",").split(",") if part]
    try:
        return tuple(value)
    except TypeError:
        raise SettingsError(f"{name} must be a list of layer names, not {value!r}") from None
