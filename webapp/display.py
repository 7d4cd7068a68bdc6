"""Small helpers that turn the app's records into what the page shows or offers for download."""

from __future__ import annotations

import io
import re

import pandas as pd
from PIL import Image

from nst import Settings
from nst.images import save_picture
from nst.presets import QUICK, preset
from webapp.state import Result

DISPLAY_SIDE = 768  # previews are sent at most this large; downloads are full size
THUMBNAIL_SIDE = 320
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"]
DEFAULTS = Settings(**preset(QUICK))  # the app starts on a preset: Stylize refines the one-pass picture
OPTIMISER_NAMES = {"lbfgs": "L-BFGS", "adam": "Adam"}
STYLE_LOSS_NAMES = {"gram": "Gram matrices (Gatys)", "wasserstein": "mean and covariance (Wasserstein)"}


def fit(image: Image.Image, side: int) -> Image.Image:
    """A copy no larger than ``side`` on its longest side (what the browser needs)."""
    if max(image.size) <= side:
        return image
    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    return copy


def png(image: Image.Image, dpi: int = 300) -> bytes:
    buffer = io.BytesIO()
    save_picture(image, buffer, dpi=dpi, format="PNG")
    return buffer.getvalue()


def number(value: float) -> str:
    return f"{value:g}"


def slug(text: str, fallback: str = "picture") -> str:
    """A file name's stem as lower-case words joined by dashes (``fallback`` when nothing is left)."""
    return re.sub(r"[^a-z0-9]+", "-", text.rsplit(".", 1)[0].lower()).strip("-")[:40] or fallback


def file_name(result: Result) -> str:
    """``house-in-the-style-of-stripes-a1-b30-120steps.png``: the inputs, the weights, the steps."""
    s = result.settings
    return (
        f"{slug(result.content.name)}-in-the-style-of-{slug(result.style.name)}"
        f"-a{number(s.content_weight)}-b{number(s.style_weight)}-{result.step}steps.png"
    )


def settings_table(settings: Settings) -> pd.DataFrame:
    """Every setting, its value, and a tick where it differs from the default."""
    rows = []
    for name, value in settings.as_dict().items():
        shown = ", ".join(map(str, value)) if isinstance(value, tuple) else ("" if value is None else str(value))
        rows.append({"setting": name, "value": shown, "changed": "✓" if value != getattr(DEFAULTS, name) else ""})
    return pd.DataFrame(rows)
