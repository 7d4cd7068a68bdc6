"""A scale's optimiser, its starting picture from the scale before, and the guard against leaps.

L-BFGS runs with one function evaluation per step (``max_iter=1``) and no line search,
so one step is one preview; the :class:`LeapGuard` undoes the rare step that leapt far uphill.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from nst.settings import Settings
from nst.tiles import Layout

log = logging.getLogger(__name__)

LBFGS_HISTORY = 20  # curvature pairs L-BFGS keeps, at most
LBFGS_HISTORY_BYTES = 128 * 2**20  # and no more memory than this for them (fewer pairs above about 610x458 px)
LBFGS_MIN_HISTORY = 6
LEAP = 2.0  # a picture whose loss is this many times the scale's best so far came from a step too far
RECOVER = 5  # good steps in a row after which a step length halved by a leap doubles again


def lbfgs_history(image: torch.Tensor) -> int:
    """How many curvature pairs L-BFGS keeps for a picture: each pair is two picture-sized vectors.

    A history of 20 reaches the same loss as torch's default of 100 within 0.3% after 100
    steps at 256 px (and at 512 px: 1.192 against 1.194 after 60 steps). Above about 610x458 px the
    pairs are capped at 128 MB: 7 pairs at 1024x768 instead of 20 save 245 MB of the peak;
    a history of 6 pairs gave a loss 0.9% higher than 20 after 100 steps (measured at 256 px).
    """
    pair_bytes = 2 * image.numel() * image.element_size()
    return max(LBFGS_MIN_HISTORY, min(LBFGS_HISTORY, LBFGS_HISTORY_BYTES // pair_bytes))


def make_optimizer(settings: Settings, image: torch.Tensor, layout: Layout | None = None) -> torch.optim.Optimizer:
    """The scale's optimiser: the settings', unless the memory budget made the layout choose (nst.tiles)."""
    optimizer = layout.optimizer if layout is not None else settings.optimizer
    rate = layout.learning_rate if layout is not None and layout.learning_rate is not None else settings.lr
    if optimizer == "lbfgs":
        # max_iter=1: one function evaluation per step, so one step is one preview.
        # No line search (it would evaluate several times per step).
        history = layout.history if layout is not None and layout.history is not None else lbfgs_history(image)
        return torch.optim.LBFGS([image], lr=rate, max_iter=1, history_size=history)
    return torch.optim.Adam([image], lr=rate)


@torch.no_grad()
def upsample(previous: torch.Tensor, size: torch.Size | tuple[int, int], detail: torch.Tensor | None) -> torch.Tensor:
    """The previous scale's picture at this scale's ``size`` (height, width), with ``detail``'s fine detail.

    Upsampling alone gives a blurred picture, and the detail that the coarse scale could not
    hold (windows, edges) would then have to be rebuilt step by step. Adding a picture's own
    high frequencies at this size, the difference between it and its blurred copy at the
    previous size, restores that detail at once (``Settings.scale_up``: the photo's, which
    differs from Gatys et al., who optimise at one size; or none).
    """
    image = F.interpolate(previous, size=size, mode="bicubic", align_corners=False)
    if detail is not None:
        coarse = F.interpolate(detail, size=previous.shape[-2:], mode="area")
        image += detail - F.interpolate(coarse, size=size, mode="bicubic", align_corners=False)
    return image.clamp_(0.0, 1.0)


def snapshot(image: torch.Tensor) -> torch.Tensor:
    """The picture in 8 bits, as a diverged run would hand it back (a quarter of float32's memory)."""
    return image.detach().clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8)


def unsnapshot(kept: torch.Tensor) -> torch.Tensor:
    return kept.to(torch.float32).div_(255.0)


class LeapGuard:
    """A scale's lowest loss so far and its picture; undoes a step that leapt far uphill.

    L-BFGS without a line search can take one step far too long on a poor curvature
    estimate (seen with a few bfloat16 steps at 512 px: a picture of noise with 19 times the
    style loss). Each step's evaluation is the test of the step before it, as a line search's
    first trial would be: a loss over ``LEAP`` times the scale's best rejects that step. The
    picture goes back to the best one (at full precision, or in 8 bits where the scale works in
    tiles and every megabyte is planned), the curvature pair the rejected step made is dropped
    and the rest of L-BFGS's history kept, and the next step goes from there at half the
    length: a backtrack along the direction L-BFGS chose there (from the same picture with the
    same history and rate it would take the same step and leap again). After ``RECOVER`` good
    steps in a row the step length doubles again, up to the settings' rate. Adam would leap
    again from the same place, so for it only the scale's last step is checked.
    """

    def __init__(self, settings: Settings, image: torch.Tensor, layout: Layout) -> None:
        self.settings, self.image, self.layout = settings, image, layout
        self.optimizer = make_optimizer(settings, image, layout)
        self.best: tuple[float, torch.Tensor, dict[str, float]] | None = None  # loss, its picture, its terms
        self.full_rate = float(self.optimizer.param_groups[0]["lr"])
        self.good = 0  # good steps in a row since the last leap
        self._start: torch.Tensor | None = None  # the picture the current step starts from
        self._memory: tuple[int | None, Any] = (None, None)  # L-BFGS's newest pair and scale before the step

    @property
    def rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def before_step(self, eight_bit: torch.Tensor) -> None:
        """Keep the picture this step starts from (``eight_bit``: its :func:`snapshot`, kept where
        the scale is tiled), and what L-BFGS's memory holds before it."""
        self._start = eight_bit if self.layout.tiled else self.image.detach().clone()
        state = self.optimizer.state.get(self.image, {})
        newest = state.get("old_dirs") or [None]
        self._memory = (id(newest[-1]) if newest[-1] is not None else None, state.get("H_diag"))

    def after_step(self, step: int, terms: dict[str, float]) -> None:
        """The loss ``terms`` was measured on the picture the step started from (:meth:`before_step`)."""
        assert self._start is not None, "before_step() first"
        if self.best is None or terms["total"] < self.best[0]:
            self.best = (terms["total"], self._start, dict(terms))
        if self.layout.optimizer == "lbfgs" and terms["total"] > LEAP * self.best[0]:
            self.good = 0
            log.info("step %d: loss %.3g after a leap (best %.3g); back to the best picture, steps half as long",
                     step, terms["total"], self.best[0])  # fmt: skip
            self._restore()
            self._forget_the_leap()
            self._set_rate(self.rate / 2)
            return
        self.good += 1
        if self.good % RECOVER == 0 and self.rate < self.full_rate:
            self._set_rate(min(self.full_rate, 2 * self.rate))

    def _forget_the_leap(self) -> None:
        """Drop the curvature pair the leapt picture's gradient made, and make the next evaluation form none.

        torch's L-BFGS (``max_iter=1``) forms a pair from each evaluation and the step before it:
        ``s = t d``, ``y = g - g_prev``, kept when ``y·s > 1e-10``. With ``t`` set to 0 the
        evaluation at the restored picture forms no pair; its direction comes from the history
        as it was there.
        """
        state = self.optimizer.state.get(self.image)
        if not state or "old_dirs" not in state:
            return
        newest, scale = self._memory
        if state["old_dirs"] and id(state["old_dirs"][-1]) != newest:  # the leapt step added a pair
            for memory in (state["old_dirs"], state["old_stps"], state["ro"]):
                memory.pop()
            state["H_diag"] = scale if scale is not None else 1
        state["t"] = 0.0

    def _set_rate(self, rate: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    def keep_the_best(self, closure: Callable[[], torch.Tensor], terms: dict[str, float]) -> None:
        """Score the scale's final picture (one forward pass); if its last step leapt, go back to the best.

        Every step's loss is measured before its update, so the last update of a scale is never
        scored by the optimisation itself. ``terms`` keeps reporting the steps' own losses
        unless the best picture comes back, with its own.
        """
        if self.best is None:
            return
        reported = dict(terms)
        with torch.no_grad():
            closure()
        final = terms["total"]
        terms.clear()
        terms.update(reported)
        if not math.isfinite(final) or final > LEAP * self.best[0]:
            log.info("the scale's last step leapt uphill (loss %.3g, best %.3g); the best picture is kept",
                     final, self.best[0])  # fmt: skip
            self._restore()
            terms.update(self.best[2])

    def _restore(self) -> None:
        assert self.best is not None
        kept = self.best[1]
        with torch.no_grad():
            self.image.copy_(unsnapshot(kept) if kept.dtype == torch.uint8 else kept)
