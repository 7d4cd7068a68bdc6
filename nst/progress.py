"""What a run hands back at each step (:class:`Progress`) and where a run can go on from (:class:`Resume`).

Every kind of run yields these: the optimisation (:mod:`nst.engine`), the one-pass picture
(:mod:`nst.instant`), and the video and batch commands built on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image

from nst.images import ImageSource
from nst.settings import Settings


@dataclass(frozen=True)
class Progress:
    """What one optimisation step produced.

    ``losses`` holds the unweighted value of each term of :mod:`nst.terms` by name
    (``"content"``, ``"style"``, ``"tv"`` always; 0.0 for a term the settings leave out).
    They are relative errors (comparable between runs with different weights); ``loss`` is
    the weighted total the optimiser minimises, e.g.
    ``content_weight*content + style_weight*style + tv_weight*tv``. All are measured at the
    current scale's size, before the step's update.
    """

    step: int  # 1-based, counted over the whole run (a resumed run goes on from its step)
    total: int  # steps in the whole run
    losses: Mapping[str, float]
    loss: float
    elapsed: float  # seconds since the run started, loading and targets included
    eta: float  # seconds left, from the pace so far and the pixels still to process
    size: tuple[int, int]  # (width, height) of the picture being optimised
    scale: int = 1  # 1-based index of the current scale
    scales: int = 1
    image: Image.Image | None = None  # the current picture when a preview is due (always on the last step)

    @property
    def done(self) -> bool:
        return self.step >= self.total

    @property
    def content_loss(self) -> float:
        return self.losses.get("content", 0.0)

    @property
    def style_loss(self) -> float:
        return self.losses.get("style", 0.0)

    @property
    def tv_loss(self) -> float:
        return self.losses.get("tv", 0.0)


@dataclass(frozen=True)
class Resume:
    """Where an earlier run got to: its latest picture and the step it had reached.

    Passed to :func:`transfer`, the run starts from ``image``, numbers its steps from
    ``step + 1`` and ends at ``total`` (default: ``step + settings.iterations``, as the
    app's Continue does; live tuning passes the interrupted run's own total). Coarse to
    fine never shrinks the picture: the remaining scales start at its current size.

    Examples:
        >>> first = stylize(photo, painting, iterations=50)  # doctest: +SKIP
        >>> runs = transfer(photo, painting, settings.replace(style_weight=100),
        ...                 resume=Resume(first, step=50))  # doctest: +SKIP
    """

    image: ImageSource
    step: int = 0
    total: int | None = None

    def end(self, settings: Settings) -> int:
        """The step the resumed run ends at."""
        return self.total if self.total is not None else self.step + settings.iterations
