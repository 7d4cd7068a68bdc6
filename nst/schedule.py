"""Coarse to fine: which sizes a run optimises at, and how many steps each gets.

Differs from Gatys et al., who optimise at the output size only. On a CPU a step costs
time in proportion to the pixel count, so most steps are spent where they are cheap: the
picture is first optimised small, then upsampled and refined at a few larger sizes. The
coarse scales settle the layout of colours and strokes; the fine ones add detail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nst.settings import MIN_OUTPUT_SIZE, Settings

MAX_SCALE_FACTOR = 1.5  # growth from one scale to the next, at most
INSTANT_WORKING_SHARE = 0.5  # init "instant": the refinement works at this share of the output size


@dataclass(frozen=True)
class Scale:
    """One stage of a run: the longest side in pixels and the number of steps there."""

    size: int
    steps: int


def plan_scales(settings: Settings) -> list[Scale]:
    """The sizes (coarse to fine, the last exactly ``output_size``) and steps per size.

    ``scales=0`` picks as many scales as it takes to grow from ``start_size`` to the output
    by at most :data:`MAX_SCALE_FACTOR` per scale (one scale when the output is not larger
    than the start). Without ``scale_split``, steps are split so that each scale takes
    about the same time: a scale with a quarter of the pixels gets four times the steps.
    Every scale gets at least one step; with fewer iterations than scales, fewer scales
    are used.

    Examples:
        >>> plan_scales(Settings())  # the default 512 px run
        [Scale(size=192, steps=61), Scale(size=266, steps=32), Scale(size=369, steps=17), Scale(size=512, steps=10)]
        >>> plan_scales(Settings(scales=1, iterations=50))  # the paper's single size
        [Scale(size=512, steps=50)]
        >>> plan_scales(Settings(init="instant", iterations=10))  # from the one-pass picture
        [Scale(size=256, steps=10)]

    From the one-pass picture (``init="instant"``) the run is one scale at half the output size:
    the picture is already painted, so the steps only correct it, and they are four times cheaper
    there; the change they make is added back to the full-size picture (:mod:`nst.refine`), which
    keeps the network's fine detail (a scale up would add the photo's detail back instead).
    """
    if settings.init == "instant":
        working = max(MIN_OUTPUT_SIZE, round(settings.output_size * INSTANT_WORKING_SHARE))
        return [Scale(min(working, settings.output_size), settings.iterations)]
    output, start = settings.output_size, min(settings.start_size, settings.output_size)
    count = settings.scales or (len(settings.scale_split) if settings.scale_split else 0)
    if not count:
        count = 1 if output <= start else 1 + math.ceil(math.log(output / start) / math.log(MAX_SCALE_FACTOR))
    count = max(1, min(count, settings.iterations))
    if count == 1 or output == start:
        return [Scale(output, settings.iterations)]
    sizes = [round(start * (output / start) ** (i / (count - 1))) for i in range(count)]
    sizes[-1] = output
    shares = settings.scale_split[-count:] if settings.scale_split else [(output / s) ** 2 for s in sizes]
    return [Scale(size, steps) for size, steps in zip(sizes, _allocate(settings.iterations, shares), strict=True)]


def _allocate(total: int, shares: list[float] | tuple[float, ...]) -> list[int]:
    """Split ``total`` steps in proportion to ``shares``, at least one each, summing exactly."""
    count = len(shares)
    spare = total - count
    weights = [share / sum(shares) for share in shares]
    steps = [1 + math.floor(spare * w) for w in weights]
    remainders = sorted(range(count), key=lambda i: spare * weights[i] - math.floor(spare * weights[i]), reverse=True)
    for i in remainders[: total - sum(steps)]:
        steps[i] += 1
    return steps
