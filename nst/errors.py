"""The errors the engine raises on purpose.

Every one carries a message meant for a person (the command line prints it as one
line, the app shows it in the page). Each also subclasses the builtin exception a
Python caller would expect, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image


class NSTError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class SettingsError(NSTError, ValueError):
    """A setting has a value the engine cannot use."""


class ImageLoadError(NSTError, ValueError):
    """A file or buffer could not be read as a picture."""


class WeightsError(NSTError, RuntimeError):
    """VGG19 weights are missing, cannot be downloaded or do not fit the network."""


class DivergedError(NSTError, FloatingPointError):
    """The loss became NaN or infinite; ``last_image`` is the last finite picture."""

    def __init__(self, message: str, *, step: int, last_image: Image.Image | None) -> None:
        super().__init__(message)
        self.step = step
        self.last_image = last_image


class VideoError(NSTError, ValueError):
    """A file could not be read or written as a video clip, or is over the limits."""


class ClusterError(NSTError, RuntimeError):
    """The cluster cannot be reached, no worker is left, or a worker runs other code.

    ``last_image`` is the run's latest picture when one had arrived (kept for the user).
    """

    def __init__(self, message: str, *, last_image: Image.Image | None = None, step: int = 0) -> None:
        super().__init__(message)
        self.last_image = last_image
        self.step = step
