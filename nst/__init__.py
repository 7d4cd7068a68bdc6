"""nst: Gatys et al.'s neural style transfer, as a small engine.

>>> from nst import stylize, Settings
>>> picture = stylize("photo.jpg", "painting.jpg", Settings(output_size=256, iterations=100))
>>> picture.save("result.png")

The package never imports Streamlit; the web app lives in ``streamlit_app.py``.
"""

from nst.engine import evaluate, stylize, transfer
from nst.errors import DivergedError, ImageLoadError, NSTError, SettingsError, WeightsError
from nst.features import FeatureExtractor, build_extractor
from nst.images import load_image
from nst.layers import VGG19_LAYERS, canonical_layer
from nst.progress import Progress, Resume
from nst.schedule import Scale, plan_scales
from nst.settings import Settings
from nst.targets import TargetCache

__all__ = [
    "DivergedError",
    "FeatureExtractor",
    "ImageLoadError",
    "NSTError",
    "Progress",
    "Resume",
    "Scale",
    "Settings",
    "SettingsError",
    "TargetCache",
    "VGG19_LAYERS",
    "WeightsError",
    "build_extractor",
    "canonical_layer",
    "evaluate",
    "load_image",
    "plan_scales",
    "stylize",
    "transfer",
]
__version__ = "0.1.0"
