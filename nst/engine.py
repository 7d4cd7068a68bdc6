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

import functools
import logging
import math
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from nst import colour
from nst.device import release_free_memory, resolve_device, resolve_precision
from nst.errors import DivergedError, ImageLoadError, SettingsError
from nst.features import FeatureExtractor, build_extractor
from nst.images import ImageSource, load_image, resize_longest, scaled_size, to_pil, to_tensor
from nst.layers import LAYER_INDEX, deepest_layer, pools_before
from nst.regions import layer_masks, load_masks
from nst.schedule import Scale, plan_scales
from nst.settings import Settings, safer_after_divergence
from nst.targets import TargetCache, Targets, Temporal, network_key, picture_digest
from nst.terms import Term, build_terms, layers_read, report
from nst.tiles import Layout, budget_bytes, plan_layout, tiled_grams, tiled_objective

log = logging.getLogger(__name__)

LBFGS_HISTORY = 20  # curvature pairs L-BFGS keeps, at most
LBFGS_HISTORY_BYTES = 128 * 2**20  # and no more memory than this for them (fewer pairs above ~700 px)
LBFGS_MIN_HISTORY = 6
LEAP = 2.0  # a picture whose loss is this many times the scale's best so far came from a step too far
TRIM_PIXELS = 400_000  # from about 768x576 up, freed memory goes back to the system after every step
TRIM_AT_POOLS = ("pool1", "pool2", "pool3")  # and in the backward pass at these layers


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


def extractor_for(settings: Settings) -> FeatureExtractor:
    """The VGG19 the settings ask for (weights, pooling, device), down to the deepest layer they read."""
    return build_extractor(
        settings.weights,
        pooling=settings.pooling,
        device=resolve_device(settings.device),
        last_layer=deepest_layer(settings.content_layers + settings.style_layers),
    )


def min_side(layers: tuple[str, ...]) -> int:
    """Smallest picture side that still leaves at least one position at the deepest layer."""
    return int(2 ** pools_before(deepest_layer(layers)))


def transfer(  # noqa: C901, PLR0915  # to be split into plan / scale set-up / inner loop (issue 25)
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
    temporal: Temporal | None = None,
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
        preview_size: previews before the last step are shrunk to at most this many px on
            their longest side (the app's display; a print-size picture is never sent whole
            at every preview). The last step's picture is always full size.
        on_tile: where a step works in tiles (a picture over ``settings.memory_budget``,
            :mod:`nst.tiles`), called with ``(done, count)`` after each tile of each pass.
        temporal: a video frame's previous stylised frame, warped onto it, and where that
            can be trusted (:mod:`nst.video`); adds the temporal term, weighted by
            ``settings.temporal_weight``.

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
    settings = settings or Settings()
    started = time.perf_counter()
    layers = settings.content_layers + settings.style_layers
    offset, total = 0, settings.iterations
    if resume is not None:
        offset, total, init_image = resume.step, resume.end(settings), resume.image
        if offset < 0 or total <= offset:
            raise SettingsError(f"cannot resume at step {offset} of {total}: no steps are left")
    if settings.init == "image" and init_image is None:
        raise SettingsError("init 'image' needs a starting picture: pass init_image (--init-image on the command line)")
    inputs = _inputs(settings, content, style, init_image, masks, temporal)
    content_image, style_images, start_image, present = (inputs.content, inputs.styles, inputs.start, inputs.present)
    if extractor is None:
        extractor = extractor_for(settings)
    cache = cache if cache is not None else TargetCache()
    planned = settings.replace(iterations=total - offset)
    if resume is not None and start_image is not None:  # coarse to fine never shrinks the picture
        planned = planned.replace(start_size=max(planned.start_size, max(start_image.size)))
    plan = plan_scales(planned)
    _check_size(scaled_size(content_image.size, plan[0].size), "content", layers)
    precision = resolve_precision(settings.precision, extractor.device)
    budget = budget_bytes(settings.memory_budget, extractor.device)
    sizes = [scaled_size(content_image.size, s.size) for s in plan]
    final = _layout(settings, sizes[-1], budget, precision, len(inputs.masks))  # refuses an impossible budget first
    layouts = [_layout(settings, size, budget, precision, len(inputs.masks)) for size in sizes[:-1]] + [final]
    work_left = sum(
        s.steps * math.prod(size) * layout.cost for s, size, layout in zip(plan, sizes, layouts, strict=True)
    )  # for the ETA
    work_done, optimising = 0.0, 0.0
    step, last_preview = offset, -math.inf  # with preview_seconds, the first step always brings a picture
    image: torch.Tensor | None = None
    last_good: torch.Tensor | None = None

    for index, (scale, layout) in enumerate(zip(plan, layouts, strict=True), start=1):
        content_t = to_tensor(resize_longest(content_image, scale.size), extractor.device)  # (1, 3, H, W)
        targets = _targets(extractor, cache, settings, content_t, inputs, scale, budget, keep=not layout.tiled)
        height, width = content_t.shape[-2:]
        if image is None:
            image = _initial_image(settings, content_t, style_images[0], start_image)
        else:
            image = _upsample(image.detach(), content_t)
        del content_t
        if layout.tiled:  # the reads' and the upsampling's freed blocks go back before the tiles' passes
            release_free_memory()
        image.requires_grad_(True)
        optimizer = _make_optimizer(settings, image, layout)
        if layout.tiled:
            closure, terms = tiled_objective(
                extractor, build_terms(settings, targets), image, precision, layout.tiles, on_tile
            )
            log.info("scale %d: %dx%d px in %d tiles, %s", index, width, height, len(layout.tiles), layout.optimizer)
        else:
            closure, terms = objective(extractor, build_terms(settings, targets), image, precision)
        del targets
        best: tuple[float, torch.Tensor, dict[str, float]] | None = None  # this scale's lowest loss, its picture
        leaps = 0  # this scale's leaps undone so far
        try:
            for index_in_scale in range(scale.steps):
                step += 1
                tick = time.perf_counter()
                before = _snapshot(image)
                optimizer.step(closure)  # type: ignore[arg-type]  # torch accepts a closure that returns a tensor
                if width * height >= TRIM_PIXELS:
                    release_free_memory()
                finite_loss = math.isfinite(terms["total"])
                if not finite_loss or not bool(torch.isfinite(image).all()):
                    good = before if finite_loss else last_good
                    what = "the loss became infinite or NaN" if not finite_loss else "the pixels became NaN"
                    raise DivergedError(
                        f"the optimisation diverged at step {step} ({what}); try a safer setting: "
                        f"{safer_after_divergence(settings)[0]}, or lower weights",
                        step=step,
                        last_image=present(_unsnapshot(good)) if good is not None else None,
                    )
                last_good = before
                if best is None or terms["total"] < best[0]:
                    best = (terms["total"], before, dict(terms))
                elif layout.optimizer == "lbfgs" and terms["total"] > LEAP * best[0]:
                    # The previous step leapt uphill: go back and forget the curvature history (a fresh
                    # L-BFGS takes a short first step), with half the step length each time: from the
                    # same picture the same optimiser would take the same steps and leap again, over
                    # and over. Adam would leap again from the same place.
                    leaps += 1
                    log.info("step %d: loss %.3g after a leap (best %.3g); back to the best picture, "
                             "steps %d times shorter", step, terms["total"], best[0], 2**leaps)  # fmt: skip
                    _restore(image, best[1])
                    optimizer = _make_optimizer(settings, image, layout, shorter=2**leaps)
                with torch.no_grad():
                    # Keep pixels displayable. For L-BFGS this projection departs from the textbook
                    # method, but at 256 px after 150 steps the saved 8-bit picture's loss is 7% lower
                    # than without it, for the same loss inside the optimiser.
                    image.clamp_(0.0, 1.0)
                if index_in_scale == scale.steps - 1 and not layout.tiled and best is not None:
                    _keep_the_best(closure, terms, image, best)
                now = time.perf_counter()
                optimising += now - tick
                work_done += width * height * layout.cost
                work_left -= width * height * layout.cost
                due = (
                    step == total
                    or (settings.preview_every and step % settings.preview_every == 0)
                    or (preview_seconds is not None and now - last_preview >= preview_seconds)
                )
                if due:
                    last_preview = now
                yield Progress(
                    step=step,
                    total=total,
                    losses={name: value for name, value in terms.items() if name != "total"},
                    loss=terms["total"],
                    elapsed=now - started,
                    eta=optimising / work_done * max(work_left, 0),
                    size=(int(width), int(height)),
                    scale=index,
                    scales=len(plan),
                    image=_preview(present(image), None if step == total else preview_size) if due else None,
                )
        finally:
            # A stopped run (GeneratorExit) ends here too; closing the generator then clears
            # its frame, which frees the picture, the targets and the optimiser's history.
            optimizer.zero_grad(set_to_none=True)
            release_free_memory()
        # The next scale reads its targets and upsamples the picture before it makes its own
        # optimiser: this scale's history and targets must be gone by then (at print size a
        # scale's L-BFGS history and content features are over a GB).
        del optimizer, closure, terms
        release_free_memory()
    log.debug("run ended after %.1f s", time.perf_counter() - started)


@dataclass(frozen=True)
class _Inputs:
    """A run's pictures, decoded and prepared for ``settings.preserve_colour``."""

    content: Image.Image
    styles: tuple[Image.Image, ...]
    start: Image.Image | None
    present: Callable[[torch.Tensor], Image.Image]  # the optimised tensor -> the picture a user sees
    digests: tuple[str, tuple[str, ...]]  # content, each style: the target cache's keys
    masks: tuple[Image.Image, ...] = ()  # one grey picture per style, the content's size (regions)
    mask_digest: str = ""
    temporal: Temporal | None = None  # video: the previous frame, warped (in the optimised colours)


def _inputs(
    settings: Settings,
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    start: ImageSource | None,
    mask_sources: Sequence[ImageSource] | None = None,
    temporal: Temporal | None = None,
) -> _Inputs:
    content_image = load_image(content, name="the content picture")
    sources: list[ImageSource] = list(style) if isinstance(style, (list, tuple)) else [cast(ImageSource, style)]
    if not sources:
        raise SettingsError("give at least one style picture")
    names = ["the style picture"] if len(sources) == 1 else [f"style picture {n}" for n in range(1, len(sources) + 1)]
    styles = [load_image(source, name=name) for source, name in zip(sources, names, strict=True)]
    if settings.style_blend is not None and len(settings.style_blend) != len(styles):
        raise SettingsError(f"style_blend has {len(settings.style_blend)} weights for {len(styles)} style pictures")
    start_image = load_image(start, name="the starting picture") if start is not None else None
    present: Callable[[torch.Tensor], Image.Image] = to_pil
    if settings.preserve_colour == "histogram":
        styles = [colour.match_colour(picture, content_image) for picture in styles]
    elif settings.preserve_colour == "luminance":
        photo, chroma_at = content_image, cast(dict[tuple[int, int], Image.Image], {})

        def present(picture: torch.Tensor) -> Image.Image:
            grey = to_pil(picture)
            if grey.size not in chroma_at:  # the photo's colours at this scale, resized once
                chroma_at.clear()
                chroma_at[grey.size] = photo.resize(grey.size, Image.Resampling.LANCZOS)
            return colour.with_content_colour(grey, chroma_at[grey.size])

        styles = [colour.matched_luminance(picture, content_image) for picture in styles]
        start_image = colour.luminance(start_image) if start_image is not None else None
        content_image = colour.luminance(content_image)
        if temporal is not None:
            temporal = Temporal(colour.luminance(temporal.previous), temporal.certainty)
    digests = (picture_digest(content_image), tuple(picture_digest(picture) for picture in styles))
    masks: list[Image.Image] = []
    if mask_sources:
        masks, notes = load_masks(mask_sources, content_image.size, len(styles))
        for note in notes:
            log.warning("%s", note)
    mask_digest = "+".join(picture_digest(mask) for mask in masks)
    return _Inputs(content_image, tuple(styles), start_image, present, digests, tuple(masks), mask_digest, temporal)


def _targets(
    extractor: FeatureExtractor,
    cache: TargetCache,
    settings: Settings,
    content_t: torch.Tensor,
    inputs: _Inputs,
    scale: Scale,
    budget: int | None = None,
    *,
    keep: bool = True,
) -> Targets:
    """Content features and style Gram matrices at this scale, from the cache if there.

    Several style pictures blend into one target per layer: ``sum_k w_k G_k`` with the
    blend weights normalised to sum to 1 (as jcjohnson's neural-style blends them). With a
    memory ``budget``, pictures too large for it are read in tiles (:func:`nst.tiles.tiled_grams`).
    ``keep=False`` leaves the content features out of the cache (a print-size scale's are
    hundreds of MB, and no later scale reads them).
    """
    network = network_key(extractor)
    style_size = round(scale.size * settings.style_scale)
    shortest = min_side(settings.content_layers + settings.style_layers)
    key = ("content", inputs.digests[0], scale.size, settings.content_layers, network)
    read = functools.partial(tiled_grams, extractor, content_t, settings.content_layers, budget, features=True)
    content = cache.get(key, read) if keep else read()
    per_style = [
        cache.get(
            ("style", digest, style_size, shortest, settings.style_layers, settings.style_loss, network),
            functools.partial(
                _style_targets,
                extractor,
                picture,
                style_size,
                shortest,
                settings.style_layers,
                budget,
                settings.style_loss,
            ),
        )
        for picture, digest in zip(inputs.styles, inputs.digests[1], strict=True)
    ]
    height, width = content_t.shape[-2:]
    temporal = _temporal(inputs.temporal, (int(width), int(height)), content_t.device) if inputs.temporal else None
    if inputs.masks:  # regions: each style keeps its own Gram matrices, matched over its own mask
        regions = cache.get(
            ("regions", inputs.mask_digest, (width, height), settings.style_layers),
            functools.partial(_region_masks, inputs.masks, (int(width), int(height)), settings.style_layers,
                              content_t.device),
        )  # fmt: skip
        return Targets(content=content, style_grams=per_style[0], per_style=tuple(per_style),
                       regions=tuple({layer: regions[f"{k}/{layer}"] for layer in settings.style_layers}
                                     for k in range(len(inputs.masks))), temporal=temporal)  # fmt: skip
    return Targets(content=content, style_grams=_blend(settings, per_style), temporal=temporal)


def _blend(settings: Settings, per_style: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    if len(per_style) == 1:
        return per_style[0]
    weights = settings.normalised_style_blend(len(per_style))
    return {
        layer: torch.stack([weight * grams[layer] for weight, grams in zip(weights, per_style, strict=True)]).sum(0)
        for layer in settings.style_layers
    }


def _temporal(temporal: Temporal, size: tuple[int, int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The warped previous frame and its certainty at this scale's ``size`` (width, height)."""
    previous = to_tensor(temporal.previous.convert("RGB").resize(size, Image.Resampling.LANCZOS), device)
    trust = temporal.certainty.resize(size, Image.Resampling.BILINEAR)
    pixels = np.asarray(trust, dtype=np.float32) / (255.0 if trust.mode == "L" else 1.0)
    return previous, torch.from_numpy(pixels.copy()).to(device)[None, None]


def _region_masks(
    masks: tuple[Image.Image, ...], size: tuple[int, int], layers: tuple[str, ...], device: torch.device
) -> dict[str, torch.Tensor]:
    """Every mask at every style layer's size, as ``{"k/layer": (1, 1, h, w)}`` (a cache entry)."""
    out = {}
    for k, mask in enumerate(masks):
        grey = to_tensor(mask.resize(size, Image.Resampling.BILINEAR).convert("RGB"), device)[:, :1]  # (1, 1, H, W)
        for layer, resampled in layer_masks(grey, layers).items():
            out[f"{k}/{layer}"] = resampled
    return out


def _style_targets(
    extractor: FeatureExtractor,
    picture: Image.Image,
    size: int,
    shortest: int,
    layers: tuple[str, ...],
    budget: int | None = None,
    loss: str = "gram",
) -> dict[str, torch.Tensor]:
    picture_t = to_tensor(fit_style(picture, size, shortest), extractor.device)
    return tiled_grams(extractor, picture_t, layers, budget, loss=loss)


def _layout(settings: Settings, size: tuple[int, int], budget: int, precision: torch.dtype, masks: int) -> Layout:
    """How a scale of ``size`` (width, height) is worked within the memory budget."""
    width, height = size
    history = lbfgs_history(torch.empty((1, 3, height, width), device="meta"))
    return plan_layout(height, width, budget=budget, precision=precision, optimizer=settings.optimizer,
                       whole_history=history, content_layers=settings.content_layers, masks=masks)  # fmt: skip


def _keep_the_best(
    closure: Callable[[], torch.Tensor],
    terms: dict[str, float],
    image: torch.Tensor,
    best: tuple[float, torch.Tensor, dict[str, float]],
) -> None:
    """Score a scale's final picture (one forward pass); if its last step leapt far uphill, go back to the best.

    Every step's loss is measured before its update, so the last update of a scale is never
    scored by the optimisation itself. L-BFGS without a line search can take one step far too
    long on a poor curvature estimate (seen with a few bfloat16 steps at 512 px: a picture of
    noise with 19 times the style loss). ``terms`` keeps reporting the steps' own losses
    unless the best picture comes back, with its own.
    """
    reported = dict(terms)
    with torch.no_grad():
        closure()
    final = terms["total"]
    terms.clear()
    terms.update(reported)
    if not math.isfinite(final) or final > LEAP * best[0]:
        log.info("the scale's last step leapt uphill (loss %.3g, best %.3g); the best picture is kept", final, best[0])
        _restore(image, best[1])
        terms.update(best[2])


def _restore(image: torch.Tensor, snapshot: torch.Tensor) -> None:
    with torch.no_grad():
        image.copy_(_unsnapshot(snapshot))


def _snapshot(image: torch.Tensor) -> torch.Tensor:
    """The picture in 8 bits, as a diverged run would hand it back (a quarter of float32's memory)."""
    return image.detach().clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8)


def _unsnapshot(snapshot: torch.Tensor) -> torch.Tensor:
    return snapshot.to(torch.float32).div_(255.0)


def _preview(picture: Image.Image, longest: int | None) -> Image.Image:
    """The picture, shrunk to ``longest`` px when it is larger (a display-sized preview)."""
    if longest is None or max(picture.size) <= longest:
        return picture
    return resize_longest(picture, longest)


def _closure(
    extractor: FeatureExtractor,
    settings: Settings,
    targets: Targets,
    image: torch.Tensor,
) -> tuple[Callable[[], torch.Tensor], dict[str, float]]:
    """The function the optimiser evaluates: one forward and backward pass over the run's terms.

    Returns the closure and a dict that each evaluation fills with the unweighted value of
    every term (``"content"``, ``"style"``, ``"tv"``, ...) and the weighted ``"total"``.
    """
    return objective(
        extractor, build_terms(settings, targets), image, resolve_precision(settings.precision, image.device)
    )


def objective(
    extractor: FeatureExtractor,
    terms: Sequence[Term],
    image: torch.Tensor,
    precision: torch.dtype = torch.float32,
) -> tuple[Callable[[], torch.Tensor], dict[str, float]]:
    """The closure ``sum(term.weight * term.value)`` for any list of :mod:`nst.terms` terms.

    Differs from Gatys et al. (float32 throughout): by default the network runs in bfloat16
    where the processor has fast units for it (``precision``). At 512 px on a CPU with such
    units a step takes 0.6-0.65 times as long, and the default run's final float32 loss is
    within 3% (docs/method.md).
    """
    values: dict[str, float] = {}
    layers = layers_read(terms)
    trim = image.shape[-2] * image.shape[-1] >= TRIM_PIXELS
    deepest = LAYER_INDEX[deepest_layer(layers)] if layers else -1
    # Large pictures: hand freed memory back in the backward pass too, as it reaches each of
    # the first pools, so what blocks 3 to 5 freed is not still held while blocks 1 and 2,
    # the largest, take their gradients (at 1024 px about 250 MB less at the peak, no slower).
    trim_at = tuple(pool for pool in TRIM_AT_POOLS if trim and LAYER_INDEX[pool] < deepest)
    readers = {layer: [term for term in terms if layer in term.layers] for layer in layers}
    weights = [term.weight for term in terms]

    def visit(name: str, activation: torch.Tensor) -> None:
        for term in readers.get(name, ()):
            term.see(name, activation)
        if name in trim_at and activation.requires_grad:  # not when only scoring (torch.no_grad)
            activation.register_hook(_release_free_memory_hook)

    def closure() -> torch.Tensor:
        image.grad = None
        if layers:
            with torch.autocast(image.device.type, dtype=precision, enabled=precision != torch.float32):
                extractor(image, layers + trim_at, visit=visit)  # the terms keep what they need
        parts = [term.value(image) for term in terms]
        total = sum((weight * part for weight, part in zip(weights, parts, strict=True)), image.new_zeros(()))
        if trim:
            release_free_memory()  # the forward pass's freed blocks, before the backward pass peaks
        if torch.is_grad_enabled():  # under torch.no_grad(): a score only, no gradient
            total.backward()
        report(values, terms, parts, total)
        return total

    return closure, values


def _release_free_memory_hook(grad: torch.Tensor) -> None:
    """A gradient hook that leaves the gradient as it is and hands freed memory back."""
    release_free_memory()


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
    inputs = _inputs(settings, content, style, picture)
    if extractor is None:
        extractor = extractor_for(settings)
    content_t = to_tensor(resize_longest(inputs.content, settings.output_size), extractor.device)
    targets = _targets(extractor, cache or TargetCache(), settings, content_t, inputs, Scale(settings.output_size, 1))
    height, width = content_t.shape[-2:]
    image = inputs.start
    if image is None:  # _inputs loads the picture passed as the start
        raise SettingsError("evaluate() needs a picture to score")
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    pixels = to_tensor(image, extractor.device).requires_grad_(True)
    closure, terms = _closure(extractor, settings.replace(precision="float32"), targets, pixels)  # a fair score
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


def fit_style(image: Image.Image, longest: int, shortest: int) -> Image.Image:
    """Resize the style picture to ``longest`` px, but never thinner than ``shortest`` px.

    Only the Gram matrices of the style picture are used, not its layout, so a very thin
    picture is enlarged until the network can read it and its long side is then cropped
    (to at most four times ``longest``) to bound the cost.
    """
    image = resize_longest(image, longest)
    width, height = image.size
    if min(width, height) >= shortest:
        return image
    scale = shortest / min(width, height)
    size = (max(shortest, round(width * scale)), max(shortest, round(height * scale)))
    image = image.resize(size, Image.Resampling.LANCZOS)
    limit = 4 * max(longest, shortest)
    width, height = image.size
    left, top = max(0, (width - limit) // 2), max(0, (height - limit) // 2)
    return image.crop((left, top, left + min(width, limit), top + min(height, limit)))


@torch.no_grad()
def _upsample(previous: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The previous scale's picture at this scale's size, with the content's lost detail added.

    Upsampling alone gives a blurred picture, and the content detail that the coarse scale
    could not hold (windows, edges) would then have to be rebuilt step by step. Adding the
    content photo's own high frequencies, the difference between it and its blurred copy at
    the previous size, restores that detail at once (differs from Gatys et al.).
    """
    size = content.shape[-2:]
    image = F.interpolate(previous, size=size, mode="bicubic", align_corners=False)
    coarse = F.interpolate(content, size=previous.shape[-2:], mode="area")
    image += content - F.interpolate(coarse, size=size, mode="bicubic", align_corners=False)
    return image.clamp_(0.0, 1.0)


def _check_size(size: tuple[int, int], role: str, layers: tuple[str, ...]) -> None:
    width, height = size
    needed = min_side(layers)
    if min(height, width) < needed:
        raise ImageLoadError(
            f"the {role} picture is too narrow: resized it is {width}x{height} px, and layers down to "
            f"{deepest_layer(layers)} need at least {needed} px on each side; crop it to a less extreme "
            "shape or raise the output size"
        )


def _initial_image(
    settings: Settings, content: torch.Tensor, style_image: Image.Image, start: Image.Image | None
) -> torch.Tensor:
    """The picture the optimisation starts from, ``(1, 3, H, W)`` in [0, 1], a fresh tensor."""
    height, width = content.shape[-2:]
    if start is not None:
        return to_tensor(start.resize((width, height), Image.Resampling.LANCZOS), content.device)
    if settings.init == "content":
        return content.clone()
    if settings.init == "style":
        return to_tensor(style_image.resize((width, height), Image.Resampling.LANCZOS), content.device)
    generator = torch.Generator(device="cpu").manual_seed(settings.seed)  # the same noise on every device
    return torch.rand(content.shape, generator=generator).to(content.device)  # white noise, as in the paper


def lbfgs_history(image: torch.Tensor) -> int:
    """How many curvature pairs L-BFGS keeps for a picture: each pair is two picture-sized vectors.

    A history of 20 reaches the same loss as torch's default of 100 within 0.3% after 100
    steps at 256 px (and at 512 px: 1.192 against 1.194 after 60 steps). Above ~700 px the
    pairs are capped at 128 MB: 7 pairs at 1024x768 instead of 20 save 245 MB of the peak;
    a history of 6 pairs gave a loss 0.9% higher than 20 after 100 steps (measured at 256 px).
    """
    pair_bytes = 2 * image.numel() * image.element_size()
    return max(LBFGS_MIN_HISTORY, min(LBFGS_HISTORY, LBFGS_HISTORY_BYTES // pair_bytes))


def _make_optimizer(
    settings: Settings, image: torch.Tensor, layout: Layout | None = None, shorter: float = 1.0
) -> torch.optim.Optimizer:
    """The scale's optimiser: the settings', unless the memory budget made the layout choose (nst.tiles).

    ``shorter`` divides the learning rate (after a leap was undone).
    """
    optimizer = layout.optimizer if layout is not None else settings.optimizer
    rate = layout.learning_rate if layout is not None and layout.learning_rate is not None else settings.lr
    rate /= shorter
    if optimizer == "lbfgs":
        # max_iter=1: one function evaluation per step, so one step is one preview.
        # No line search (it would evaluate several times per step).
        history = layout.history if layout is not None and layout.history is not None else lbfgs_history(image)
        return torch.optim.LBFGS([image], lr=rate, max_iter=1, history_size=history)
    return torch.optim.Adam([image], lr=rate)
