"""What each layer sees, after Figure 1 of Gatys et al. (2015).

Content reconstructions: white noise optimised to match the photo's features at one layer
only (conv1_2 ... conv5_2). Low layers give the photo back almost exactly; high layers
keep the arrangement of objects and lose the exact pixels. Style reconstructions: noise
optimised to match the painting's Gram matrices on a growing set of layers (conv1_1;
conv1_1 and conv2_1; ... up to conv5_1). More layers capture larger-scale structure of
the style, never the painting's layout.

Differs from the paper's figure in size and effort: small pictures and few L-BFGS steps,
so that a laptop CPU draws all ten in under a minute.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

from PIL import Image

from nst.execution.base import Executor, run_together
from nst.images import ImageSource
from nst.jobs.picture import PictureJob
from nst.progress import Progress
from nst.settings import Settings

CONTENT_LAYERS = ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


@dataclass(frozen=True)
class Reconstruction:
    """One step of one reconstruction; ``image`` is set when that reconstruction is done."""

    kind: str  # "content" or "style"
    layers: tuple[str, ...]
    number: int  # 1-based, over all reconstructions
    count: int
    progress: Progress

    @property
    def label(self) -> str:
        if self.kind == "content":
            return f"content from {self.layers[0]}"
        return "style from " + (self.layers[0] if len(self.layers) == 1 else f"{self.layers[0]}…{self.layers[-1]}")

    @property
    def image(self) -> Image.Image | None:
        return self.progress.image if self.progress.done else None


def plans(base: Settings | None = None, *, size: int = 128, steps: int = 60) -> list[tuple[str, Settings]]:
    """The ten runs of the figure: five content layers, then five growing style layer sets."""
    base = (base or Settings()).replace(
        output_size=size,
        iterations=steps,
        scales=1,
        init="noise",
        preview_every=0,
        tv_weight=0.0,
        preserve_colour="off",
        style_blend=None,
        style_layer_weights=None,
    )
    content = [("content", base.replace(content_layers=(layer,), style_layers=(), style_weight=0.0))
               for layer in CONTENT_LAYERS]  # fmt: skip
    style = [
        ("style", base.replace(content_layers=(), style_layers=STYLE_LAYERS[: n + 1], content_weight=0.0))
        for n in range(len(STYLE_LAYERS))
    ]
    return content + style


def what_each_layer_sees(
    executor: Executor,
    content: ImageSource,
    style: ImageSource,
    base: Settings | None = None,
    *,
    size: int = 128,
    steps: int = 60,
    parallel: int = 1,
    owner: str = "",
) -> Generator[Reconstruction, None, None]:
    """Run the ten reconstructions through the executor, ``parallel`` at a time (a cluster's
    workers; one after the other here), yielding every step; each run's steps in order.

    ``base`` supplies the weights source, pooling, optimiser, seed and device.
    """
    runs = plans(base, size=size, steps=steps)
    jobs = [PictureJob(content, style, settings) for _, settings in runs]
    for index, progress in run_together(executor, jobs, parallel=parallel, owner=owner):
        kind, settings = runs[index]
        layers = settings.content_layers if kind == "content" else settings.style_layers
        yield Reconstruction(kind, layers, index + 1, len(runs), progress)
