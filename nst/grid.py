"""The style-to-content grid, after Figure 3 of Gatys et al. (2015).

Rows: the style matched on more and more layers (relu1_1; relu1_1 and relu2_1; ... up to
relu5_1). Columns: the ratio beta/alpha of style to content weight. Small pictures and few
steps keep all twenty cells within a minute or two on a laptop CPU; the content features
and style Gram matrices are computed once per layer set and shared through the cache.

Differs from the paper's figure: its ratios (1e-5 ... 1e-2) belong to its raw loss sums;
this project's losses are relative errors, so the ratios here are 3 ... 3000.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass

from nst.execution.base import Executor, run_together
from nst.images import ImageSource
from nst.jobs.picture import PictureJob
from nst.progress import Progress
from nst.settings import Settings

RATIOS = (3.0, 30.0, 300.0, 3000.0)
STYLE_DEPTHS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


@dataclass(frozen=True)
class Cell:
    """One cell's settings and where it sits."""

    row: int
    column: int
    settings: Settings

    @property
    def label(self) -> str:
        layers = self.settings.style_layers
        depth = layers[0] if len(layers) == 1 else f"{layers[0]}…{layers[-1]}"
        return f"β/α {self.settings.style_weight / self.settings.content_weight:g}, style from {depth}"


@dataclass(frozen=True)
class GridStep:
    """One step of one cell; ``progress.image`` is the cell's picture on its last step."""

    cell: Cell
    number: int  # 1-based, over all cells
    count: int
    progress: Progress


def cells(base: Settings | None = None, *, size: int = 96, steps: int = 40,
          ratios: Sequence[float] = RATIOS) -> list[Cell]:  # fmt: skip
    """The grid's cells, row by row: depth 1..5 down, ratios across (alpha = 1).

    They start from the photo where ``base`` starts from the one-pass picture, which knows no α or β.
    """
    base = (base or Settings()).from_the_photo()
    base = base.replace(
        output_size=size, iterations=steps, scales=1, preview_every=0, content_weight=1.0, style_layer_weights=None
    )
    return [
        Cell(row, column, base.replace(style_layers=STYLE_DEPTHS[: row + 1], style_weight=ratio))
        for row in range(len(STYLE_DEPTHS))
        for column, ratio in enumerate(ratios)
    ]


def ratio_grid(
    executor: Executor,
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    base: Settings | None = None,
    *,
    size: int = 96,
    steps: int = 40,
    ratios: Sequence[float] = RATIOS,
    parallel: int = 1,
    owner: str = "",
) -> Generator[GridStep, None, None]:
    """Run every cell through the executor, ``parallel`` at a time (a cluster's workers; one
    after the other here), yielding every step; the cells' steps interleave, each cell's in order.

    Examples:
        >>> pictures = {(s.cell.row, s.cell.column): s.progress.image
        ...             for s in ratio_grid(LocalExecutor(), "photo.jpg", "painting.jpg")
        ...             if s.progress.done}  # doctest: +SKIP
    """
    plan = cells(base, size=size, steps=steps, ratios=ratios)
    jobs = [PictureJob(content, style, cell.settings) for cell in plan]
    for index, progress in run_together(executor, jobs, parallel=parallel, owner=owner):
        yield GridStep(plan[index], index + 1, len(plan), progress)
