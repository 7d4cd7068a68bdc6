"""Named starting points: a few Settings changes with a one-line description each.

The command line takes ``--preset NAME`` (options given after it still win) and the app
offers the same names in its sidebar, writing the values into the widgets (and so into
the page's URL). Every preset changes the engine's defaults (``Settings()``); the app starts
on :data:`QUICK`.
"""

from __future__ import annotations

from typing import Any

from nst.errors import SettingsError
from nst.settings import INSTANT_STEPS, Settings

QUICK = "one pass, refined"  # the app starts here
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    QUICK: (
        f"the one-pass picture, then {INSTANT_STEPS} steps at half size that keep its strokes: "
        "about 12 s on a laptop CPU (the app starts here)",
        {"init": "instant", "iterations": INSTANT_STEPS},
    ),
    "default": ("this project's defaults: 512 px, coarse to fine, about 1.5 minutes on a laptop CPU", {}),
    "fast CPU preview": (
        "a small picture in about 15 s on a laptop CPU, to try pictures and weights",
        {"output_size": 256, "iterations": 60},
    ),
    "subtle": ("a light touch of the style; the photo stays clear", {"style_weight": 5.0}),
    "bold": ("the style takes over; the photo's layout remains", {"style_weight": 300.0}),
    "Gatys 2015": (
        "the paper's recipe: white noise, one size, L-BFGS, average pooling, 500 steps (slow on a CPU)",
        {
            "init": "noise",
            "scales": 1,
            "optimizer": "lbfgs",
            "pooling": "avg",
            "iterations": 500,
            "style_weight": 100.0,
        },
    ),
}


def preset(name: str) -> dict[str, Any]:
    """The Settings changes of a preset, checked against Settings.

    Raises:
        SettingsError: no preset has that name.

    Examples:
        >>> preset("bold")
        {'style_weight': 300.0}
    """
    if name not in PRESETS:
        raise SettingsError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    changes = dict(PRESETS[name][1])
    Settings(**changes)  # every preset is a valid configuration
    return changes
