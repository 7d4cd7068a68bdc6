"""The optimisation loop: a generator of :class:`Progress` records, and :func:`stylize`.

:func:`transfer` is the one loop that the command line (progress bar), the app (live
preview) and the tests all drive. It yields after every optimisation step; a caller
paces it by how fast it asks for the next record and stops it by simply no longer
iterating (or calling ``close()``), and the ``finally`` block releases what the run
held. :func:`stylize` runs it to the end with an optional per-step callback.

A run goes through the scales of :func:`nst.schedule.plan_scales`, coarse to fine; each
scale starts from the previous one's picture, upsampled (differs from Gatys et al., who
optimise at one size; ``scales=1`` does exactly that).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import cast

import torch
from PIL import Image

from nst import winograd
from nst.device import release_free_memory, resolve_device, resolve_precision
from nst.errors import DivergedError, SettingsError
from nst.features import FeatureExtractor, build_extractor
from nst.images import ImageSource, resize_longest, scaled_size, shrunk, to_tensor
from nst.inputs import Inputs, check_size, initial_image, prepare_inputs
from nst.instant import model_for, painted
from nst.layers import deepest_layer
from nst.objective import TRIM_PIXELS, closure_for, objective
from nst.optimiser import LeapGuard, lbfgs_history, snapshot, unsnapshot, upsample
from nst.progress import Progress, Resume
from nst.refine import keeping_detail
from nst.regions import one_per_region
from nst.scale_targets import targets_at
from nst.schedule import Scale, plan_scales
from nst.settings import Settings, safer_after_divergence
from nst.targets import TargetCache, Temporal
from nst.terms import build_terms
from nst.tiles import Layout, budget_bytes, margin_for, plan_layout, tiled_objective

log = logging.getLogger(__name__)


def extractor_for(settings: Settings) -> FeatureExtractor:
    """The VGG19 the settings ask for (weights, pooling, device), down to the deepest layer they read."""
    return build_extractor(
        settings.weights,
        pooling=settings.pooling,
        device=resolve_device(settings.device),
        last_layer=deepest_layer(settings.content_layers + settings.style_layers),
    )


def transfer(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    settings: Settings | None = None,
    *,
    extractor: FeatureExtractor | None = None,
    init_image: ImageSource | None = None,
    cache: TargetCache | None = None,
    preview_seconds: float | None = None,
    resume: Resume | None = None,
    masks: Sequence[ImageSource] | None = None,
    preview_size: int | None = None,
    on_tile: Callable[[int, int], None] | None = None,
    checkpoint: Callable[[], None] | None = None,
    temporal: Temporal | None = None,
    colour_reference: ImageSource | None = None,
    style_masks: Sequence[ImageSource] | None = None,
) -> Generator[Progress, None, None]:
    """Run Gatys et al.'s optimisation, yielding one :class:`Progress` per step.

    Args:
        content: the photo whose structure is kept (path, bytes, file or PIL image).
        style: the picture whose textures are taken; any size and aspect ratio. A list or
            tuple of pictures blends their styles (``settings.style_blend`` weighs them).
        settings: every knob; the defaults when ``None``.
        extractor: a prepared VGG19 (shared between runs); built from the settings'
            weights when ``None``. When given, the run uses the extractor's device.
        init_image: start from this picture instead of ``settings.init``; it is resized
            to the first scale.
        cache: reuse content features and style Gram matrices across runs (live tuning).
        preview_seconds: also attach a picture to the first step and whenever this many
            seconds have passed since the last one (the app's pacing; ``settings.preview_every``
            still holds).
        resume: go on from an earlier run's picture and step (Continue, live tuning): see
            :class:`Resume`. Overrides ``init_image``.
        masks: one grey picture per style picture, white where that style goes (see
            :mod:`nst.regions`); pixels no mask covers keep the photo. Notes about the masks
            (stretched, empty) are logged; :func:`nst.regions.load_masks` returns them.
        style_masks: with ``masks``, one grey picture per region on the style pictures: the i-th
            selects the part of the i-th style picture (or of the only one) that paints region i
            (:func:`nst.regions.load_style_masks`); without them each region takes its whole picture.
        preview_size: previews before the last step are shrunk to at most this many px on
            their longest side (the app's display; a print-size picture is never sent whole
            at every preview). The last step's picture is always full size.
        on_tile: where a step works in tiles (a picture over ``settings.memory_budget``,
            :mod:`nst.tiles`), called with ``(done, count)`` after each tile of each pass.
        checkpoint: called many times inside each step (after each layer the terms read, at
            each pool of the backward pass, after each tile); an exception it raises ends the
            run there, the last yielded picture being the latest (the app's Stop: a step at
            512 px on a laptop takes seconds, its parts a fraction of that).
        temporal: a video frame's previous stylised frame, warped onto it, and where that
            can be trusted (:mod:`nst.video`); adds the temporal term, weighted by
            ``settings.temporal_weight``.
        colour_reference: with ``settings.preserve_colour``, the picture whose colours the
            style takes instead of the content's (a video's first frame: one style per clip).

    Raises:
        ImageLoadError: a picture cannot be read or is too small for the chosen layers.
        SettingsError: the memory budget is too small for the output size, even in tiles.
        WeightsError: the VGG19 weights cannot be loaded.
        DivergedError: the loss stopped being finite; carries the last finite picture.

    Examples:
        >>> for progress in transfer("photo.jpg", "painting.jpg", Settings(iterations=40)):  # doctest: +SKIP
        ...     print(progress.step, progress.loss)
        ...     if progress.image is not None:
        ...         progress.image.save("latest.png")
    """
    run = _plan_run(settings or Settings(), content, style, extractor, cache, init_image, resume,
                    (masks, style_masks), (temporal, colour_reference))  # fmt: skip
    pace = Pace(run, preview_seconds)
    image: torch.Tensor | None = None
    for index in range(len(run.scales)):
        image = yield from _scale(run, index, image, pace, preview_size, Within(on_tile, checkpoint))
    log.debug("run ended after %.1f s", time.perf_counter() - run.started)


@dataclass(frozen=True)
class Within:
    """What the caller hears inside a step: tiles done (``on_tile``) and ``checkpoint`` (see :func:`transfer`)."""

    on_tile: Callable[[int, int], None] | None = None
    checkpoint: Callable[[], None] | None = None

    def tile_report(self) -> Callable[[int, int], None] | None:
        """``on_tile`` with the checkpoint before it: what a tiled objective calls after each tile."""
        on_tile, checkpoint = self.on_tile, self.checkpoint
        if checkpoint is None:
            return on_tile

        def report(done: int, count: int) -> None:
            checkpoint()
            if on_tile is not None:
                on_tile(done, count)

        return report


@dataclass(frozen=True)
class _Run:
    """A run's plan: its pictures, network, scales and how each is worked, and its steps."""

    settings: Settings
    extractor: FeatureExtractor
    cache: TargetCache
    inputs: Inputs
    scales: list[Scale]
    sizes: list[tuple[int, int]]  # (width, height) of each scale
    layouts: list[Layout]  # each scale whole or in tiles, and its optimiser
    precision: torch.dtype
    budget: int
    offset: int  # steps done before this run (a resumed run numbers on)
    total: int
    started: float  # perf_counter() at the call


def _plan_run(
    settings: Settings,
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    extractor: FeatureExtractor | None,
    cache: TargetCache | None,
    init_image: ImageSource | None,
    resume: Resume | None,
    regions: tuple[Sequence[ImageSource] | None, Sequence[ImageSource] | None],
    video: tuple[Temporal | None, ImageSource | None],
) -> _Run:
    """Check the request, read the pictures and plan the scales; an impossible plan is refused before any step."""
    started = time.perf_counter()
    offset, total = 0, settings.iterations
    if resume is not None:
        offset, total, init_image = resume.step, resume.end(settings), resume.image
        if offset < 0 or total <= offset:
            raise SettingsError(f"cannot resume at step {offset} of {total}: no steps are left")
    masks, style_masks = regions
    if settings.init == "instant" and init_image is None:  # the one-pass picture, at the output size
        init_image = painted(model_for(settings), content, _one_per_region(style, masks, style_masks), settings,
                             masks)  # fmt: skip
    if settings.init == "image" and init_image is None:
        raise SettingsError("init 'image' needs a starting picture: pass init_image (--init-image on the command line)")
    inputs = prepare_inputs(settings, content, style, init_image, masks, *video, style_mask_sources=style_masks)
    extractor = extractor if extractor is not None else extractor_for(settings)
    planned = settings.replace(iterations=total - offset)
    if resume is not None and inputs.start is not None:  # coarse to fine never shrinks the picture
        planned = planned.replace(start_size=max(planned.start_size, max(inputs.start.size)))
    scales = plan_scales(planned)
    output = scaled_size(inputs.content.size, settings.output_size)
    if settings.init == "instant" and inputs.start is not None and scales[-1].size < settings.output_size:
        inputs = dataclasses.replace(inputs, present=keeping_detail(inputs.start, output, inputs.present))
    check_size(
        scaled_size(inputs.content.size, scales[0].size), "content", settings.content_layers + settings.style_layers
    )
    precision = resolve_precision(settings.precision, extractor.device)
    budget = budget_bytes(settings.memory_budget, extractor.device)
    sizes = [scaled_size(inputs.content.size, scale.size) for scale in scales]
    device, count = extractor.device, len(inputs.masks)
    final = layout_for(settings, sizes[-1], budget, precision, count, device)  # refuses an impossible budget first
    layouts = [layout_for(settings, size, budget, precision, count, device) for size in sizes[:-1]] + [final]
    return _Run(settings, extractor, cache if cache is not None else TargetCache(), inputs, scales, sizes, layouts,
                precision, budget, offset, total, started)  # fmt: skip


class Pace:
    """A run's steps so far, its ETA (from the pace so far and the pixels still to process), and
    when a picture is due (every ``preview_every`` steps, and every ``preview_seconds``)."""

    def __init__(self, run: _Run, preview_seconds: float | None) -> None:
        self.step = run.offset
        self.total = run.total
        self.preview_every = run.settings.preview_every
        self.preview_seconds = preview_seconds
        self.last_preview = -math.inf  # with preview_seconds, the first step always brings a picture
        plan = zip(run.scales, run.sizes, run.layouts, strict=True)
        self.work_left = sum(scale.steps * math.prod(size) * layout.cost for scale, size, layout in plan)
        self.work_done = 0.0
        self.optimising = 0.0  # seconds spent in steps
        self.last_good: torch.Tensor | None = None  # the latest finite picture (8 bits), for a diverged run

    def stepped(self, seconds: float, work: float) -> None:
        self.optimising += seconds
        self.work_done += work
        self.work_left -= work

    @property
    def eta(self) -> float:
        return self.optimising / self.work_done * max(self.work_left, 0) if self.work_done else 0.0

    def due(self, now: float) -> bool:
        """Whether this step brings a picture (always the last one)."""
        due = (
            self.step == self.total
            or bool(self.preview_every and self.step % self.preview_every == 0)
            or (self.preview_seconds is not None and now - self.last_preview >= self.preview_seconds)
        )
        if due:
            self.last_preview = now
        return due


def _scale(
    run: _Run,
    index: int,
    image: torch.Tensor | None,
    pace: Pace,
    preview_size: int | None,
    within: Within,
) -> Generator[Progress, None, torch.Tensor]:
    """One scale's steps, from the scale before's picture (upsampled) or the start; returns its picture."""
    scale, layout = run.scales[index], run.layouts[index]
    image, closure, terms = _set_up_scale(run, index, image, within)
    guard = LeapGuard(run.settings, image, layout)
    try:
        for index_in_scale in range(scale.steps):
            tick = time.perf_counter()
            _step(run, pace, guard, closure, terms, image)
            if index_in_scale == scale.steps - 1 and not layout.tiled:
                guard.keep_the_best(closure, terms)
            now = time.perf_counter()
            pace.stepped(now - tick, image.shape[-1] * image.shape[-2] * layout.cost)
            yield _progress(run, index, pace, terms, image, now, preview_size)
    finally:
        # A stopped run (GeneratorExit) ends here too; closing the generator then clears
        # its frame, which frees the picture, the targets and the optimiser's history.
        guard.optimizer.zero_grad(set_to_none=True)
        release_free_memory()
    # The next scale reads its targets and upsamples the picture before it makes its own
    # optimiser: this scale's history and targets must be gone by then (at print size a
    # scale's L-BFGS history and content features are over a GB).
    del guard, closure, terms
    release_free_memory()
    return image


def _set_up_scale(
    run: _Run, index: int, image: torch.Tensor | None, within: Within
) -> tuple[torch.Tensor, Callable[[], torch.Tensor], dict[str, float]]:
    """The scale's targets, its starting picture and the objective over its terms (whole or in tiles)."""
    scale, layout = run.scales[index], run.layouts[index]
    content_t = to_tensor(resize_longest(run.inputs.content, scale.size), run.extractor.device)  # (1, 3, H, W)
    targets = targets_at(run.extractor, run.cache, run.settings, content_t, run.inputs, scale, run.budget,
                         keep=not layout.tiled)  # fmt: skip
    if image is None:
        image = initial_image(run.settings, content_t, run.inputs.styles[0], run.inputs.start)
    else:
        image = upsample(image.detach(), content_t.shape[-2:], _detail(run, content_t))
    del content_t
    if layout.tiled:  # the reads' and the upsampling's freed blocks go back before the tiles' passes
        release_free_memory()
    image.requires_grad_(True)
    terms = build_terms(run.settings, targets)
    if not layout.tiled:
        return (image, *objective(run.extractor, terms, image, run.precision, within.checkpoint))
    height, width = image.shape[-2:]
    log.info("scale %d: %dx%d px in %d tiles, %s", index + 1, width, height, len(layout.tiles), layout.optimizer)
    return (image, *tiled_objective(run.extractor, terms, image, run.precision, layout.tiles, within.tile_report()))


def _one_per_region(
    style: ImageSource | Sequence[ImageSource],
    masks: Sequence[ImageSource] | None,
    style_masks: Sequence[ImageSource] | None,
) -> ImageSource | Sequence[ImageSource]:
    """The style pictures for the one-pass network, one per region as the optimisation takes them
    (:func:`nst.regions.one_per_region`); the network paints each region with a whole picture."""
    if not masks:
        return style
    pictures: list[ImageSource] = list(style) if isinstance(style, (list, tuple)) else [cast(ImageSource, style)]
    return one_per_region(pictures, len(masks), bool(style_masks))


def _detail(run: _Run, content_t: torch.Tensor) -> torch.Tensor | None:
    """Whose fine detail a scale's picture gets when it is enlarged from the scale before (``scale_up``):
    the photo's, or none; ``auto`` adds none to a picture of one's own (``benchmarks/scale_up.py``)."""
    how = run.settings.scale_up
    if how == "auto":
        how = "plain" if run.inputs.start is not None else "photo"
    return content_t if how == "photo" else None


def _step(
    run: _Run,
    pace: Pace,
    guard: LeapGuard,
    closure: Callable[[], torch.Tensor],
    terms: dict[str, float],
    image: torch.Tensor,
) -> None:
    """One optimisation step: the update, the divergence check, the leap guard, pixels kept in [0, 1]."""
    pace.step += 1
    before = snapshot(image)
    guard.before_step(before)
    guard.optimizer.step(closure)  # type: ignore[arg-type]  # torch accepts a closure that returns a tensor
    if image.shape[-1] * image.shape[-2] >= TRIM_PIXELS:
        release_free_memory()
    finite_loss = math.isfinite(terms["total"])
    if not finite_loss or not bool(torch.isfinite(image).all()):
        good = before if finite_loss else pace.last_good
        what = "the loss became infinite or NaN" if not finite_loss else "the pixels became NaN"
        raise DivergedError(
            f"the optimisation diverged at step {pace.step} ({what}); try a safer setting: "
            f"{safer_after_divergence(run.settings)[0]}, or lower weights",
            step=pace.step,
            last_image=run.inputs.present(unsnapshot(good)) if good is not None else None,
        )
    pace.last_good = before
    guard.after_step(pace.step, terms)
    with torch.no_grad():
        # Keep pixels displayable. For L-BFGS this projection departs from the textbook
        # method, but at 256 px after 150 steps the saved 8-bit picture's loss is 7% lower
        # than without it, for the same loss inside the optimiser.
        image.clamp_(0.0, 1.0)


def _progress(
    run: _Run, index: int, pace: Pace, terms: dict[str, float], image: torch.Tensor, now: float,
    preview_size: int | None,
) -> Progress:  # fmt: skip
    """The step's record, with the picture when one is due (display-sized before the last step)."""
    height, width = image.shape[-2:]
    picture = None
    if pace.due(now):
        picture = shrunk(run.inputs.present(image), None if pace.step == run.total else preview_size)
    return Progress(
        step=pace.step,
        total=run.total,
        losses={name: value for name, value in terms.items() if name != "total"},
        loss=terms["total"],
        elapsed=now - run.started,
        eta=pace.eta,
        size=(int(width), int(height)),
        scale=index + 1,
        scales=len(run.scales),
        image=picture,
    )


def layout_for(
    settings: Settings, size: tuple[int, int], budget: int, precision: torch.dtype, masks: int, device: torch.device
) -> Layout:
    """How a scale of ``size`` (width, height) is worked within the memory budget on ``device``
    (what Winograd's convolutions hold there counted too)."""
    width, height = size
    history = lbfgs_history(torch.empty((1, 3, height, width), device="meta"))
    reserved = winograd.reserved_bytes(width * height, device, precision)
    return plan_layout(height, width, budget=budget, precision=precision, optimizer=settings.optimizer,
                       whole_history=history, content_layers=settings.content_layers, masks=masks,
                       margin=margin_for(settings.content_layers + settings.style_layers),
                       reserved=reserved)  # fmt: skip


def evaluate(
    picture: ImageSource,
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    settings: Settings | None = None,
    *,
    extractor: FeatureExtractor | None = None,
    cache: TargetCache | None = None,
) -> dict[str, float]:
    """The loss terms of a finished picture at the output size: a fair score between runs.

    Always computed in float32, whatever ``settings.precision`` says.

    Returns ``{"content": ..., "style": ..., "tv": ..., "total": ...}`` as in :class:`Progress`.

    Examples:
        >>> evaluate("result.png", "photo.jpg", "painting.jpg")  # doctest: +SKIP
        {'content': 0.91, 'style': 0.017, 'tv': 0.0, 'total': 1.42}
    """
    settings = settings or Settings()
    inputs = prepare_inputs(settings, content, style, picture)
    if extractor is None:
        extractor = extractor_for(settings)
    content_t = to_tensor(resize_longest(inputs.content, settings.output_size), extractor.device)
    targets = targets_at(extractor, cache or TargetCache(), settings, content_t, inputs, Scale(settings.output_size, 1))
    height, width = content_t.shape[-2:]
    image = inputs.start
    if image is None:  # prepare_inputs loads the picture passed as the start
        raise SettingsError("evaluate() needs a picture to score")
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    pixels = to_tensor(image, extractor.device).requires_grad_(True)
    closure, terms = closure_for(extractor, settings.replace(precision="float32"), targets, pixels)  # a fair score
    closure()
    return dict(terms)


def stylize(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    settings: Settings | None = None,
    *,
    callback: Callable[[Progress], bool | None] | None = None,
    extractor: FeatureExtractor | None = None,
    init_image: ImageSource | None = None,
    cache: TargetCache | None = None,
    masks: Sequence[ImageSource] | None = None,
    **changes: object,
) -> Image.Image:
    """Run :func:`transfer` to the end and return the final picture.

    ``callback(progress)`` is called after every step; returning ``False`` stops the
    run early, and the latest preview is returned. Keyword ``changes`` override single
    settings: ``stylize(c, s, iterations=50, style_weight=100)``.

    Examples:
        >>> picture = stylize("photo.jpg", "painting.jpg", iterations=50, style_weight=100)  # doctest: +SKIP
        >>> early = stylize("photo.jpg", "painting.jpg", callback=lambda p: p.step < 20)  # doctest: +SKIP
    """
    settings = (settings or Settings()).replace(**changes) if changes else (settings or Settings())
    latest: Image.Image | None = None
    run = transfer(content, style, settings, extractor=extractor, init_image=init_image, cache=cache, masks=masks)
    try:
        for progress in run:
            if progress.image is not None:
                latest = progress.image
            if callback is not None and callback(progress) is False:
                break
    finally:
        run.close()
    if latest is None:  # stopped before the first preview
        raise SettingsError("the run was stopped before it produced a picture; set preview_every lower")
    return latest
