"""The optimisation loop: a generator of :class:`Progress` records, and :func:`stylize`.

:func:`transfer` is the one loop that the command line (progress bar), the app (live
preview) and the tests all drive. It yields after every optimisation step; a caller
paces it by how fast it asks for the next record and stops it by simply no longer
iterating (or calling ``close()``), and the ``finally`` block releases what the run
held. :func:`stylize` runs it to the end with an optional per-step callback.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from PIL import Image

from nst.device import resolve_device
from nst.errors import DivergedError, ImageLoadError, SettingsError
from nst.features import FeatureExtractor, build_extractor
from nst.images import ImageSource, load_image, resize_longest, to_pil, to_tensor
from nst.layers import LAYER_INDEX, VGG19_LAYERS, deepest_layer
from nst.losses import content_loss, gram_matrix, style_loss, total_variation
from nst.settings import Settings

log = logging.getLogger(__name__)

LBFGS_HISTORY = 20  # curvature pairs L-BFGS keeps


@dataclass(frozen=True)
class Progress:
    """What one optimisation step produced.

    The loss terms are the unweighted relative errors of :mod:`nst.losses` (comparable
    between runs with different weights); ``loss`` is the weighted total the optimiser
    minimises: ``content_weight*content_loss + style_weight*style_loss + tv_weight*tv_loss``.
    """

    step: int  # 1-based
    total: int  # steps in the whole run
    content_loss: float
    style_loss: float
    tv_loss: float
    loss: float
    elapsed: float  # seconds since the run started, loading and targets included
    size: tuple[int, int]  # (width, height) of the picture being optimised
    image: Image.Image | None = None  # the current picture, when a preview is due (always on the last step)

    @property
    def done(self) -> bool:
        return self.step >= self.total

    @property
    def eta(self) -> float:
        """Seconds left, extrapolated from the average pace so far."""
        return self.elapsed / self.step * (self.total - self.step)


@dataclass(frozen=True)
class Targets:
    """What the result is compared with: content features and style Gram matrices."""

    content: dict[str, torch.Tensor]  # layer -> (1, C, h, w)
    style_grams: dict[str, torch.Tensor]  # layer -> (1, C, C)


def compute_targets(
    extractor: FeatureExtractor, content: torch.Tensor, style: torch.Tensor, settings: Settings
) -> Targets:
    """Content features and style Gram matrices, computed once without autograd."""
    with torch.inference_mode():
        content_features = extractor(content, settings.content_layers)
        style_features = extractor(style, settings.style_layers)
        grams = {name: gram_matrix(style_features[name]) for name in settings.style_layers}
    # clone() outside inference mode: these tensors take part in the graph of every step
    return Targets(
        content={name: t.clone() for name, t in content_features.items()},
        style_grams={name: g.clone() for name, g in grams.items()},
    )


def min_side(layers: tuple[str, ...]) -> int:
    """Smallest picture side that still leaves at least one position at the deepest layer."""
    stop = LAYER_INDEX[deepest_layer(layers)]
    pools = sum(1 for name in VGG19_LAYERS[:stop] if name.startswith("pool"))
    return 2**pools


def transfer(
    content: ImageSource,
    style: ImageSource,
    settings: Settings | None = None,
    *,
    extractor: FeatureExtractor | None = None,
    init_image: ImageSource | None = None,
) -> Iterator[Progress]:
    """Run Gatys et al.'s optimisation, yielding one :class:`Progress` per step.

    Args:
        content: the photo whose structure is kept (path, bytes, file or PIL image).
        style: the picture whose textures are taken; any size and aspect ratio.
        settings: every knob; the defaults when ``None``.
        extractor: a prepared VGG19 (shared between runs); built from the settings'
            weights when ``None``. When given, the run uses the extractor's device.
        init_image: start from this picture instead of ``settings.init`` (for example
            to continue from an earlier result with new weights).

    Raises:
        ImageLoadError: a picture cannot be read or is too small for the chosen layers.
        WeightsError: the VGG19 weights cannot be loaded.
        DivergedError: the loss stopped being finite; carries the last finite picture.
    """
    settings = settings or Settings()
    started = time.perf_counter()
    layers = settings.content_layers + settings.style_layers
    content_image = load_image(content, name="the content picture")
    style_image = load_image(style, name="the style picture")
    start_image = load_image(init_image, name="the starting picture") if init_image is not None else None
    if extractor is None:
        extractor = build_extractor(
            settings.weights,
            pooling=settings.pooling,
            device=resolve_device(settings.device),
            last_layer=deepest_layer(layers),
        )
    device = extractor.device

    content_t = to_tensor(resize_longest(content_image, settings.output_size), device)  # (1, 3, H, W)
    _check_size(content_t, "content", layers)
    style_t = to_tensor(
        fit_style(style_image, round(settings.output_size * settings.style_scale), min_side(layers)), device
    )
    targets = compute_targets(extractor, content_t, style_t, settings)
    image = _initial_image(settings, content_t, style_image, start_image)
    del style_t

    image.requires_grad_(True)
    optimizer = _make_optimizer(settings, image)
    height, width = content_t.shape[-2:]
    style_weights = settings.normalised_style_layer_weights
    terms: dict[str, float] = {}

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        features = extractor(image, layers)
        c = content_loss(features, targets.content, settings.content_layers)
        s = style_loss(features, targets.style_grams, settings.style_layers, style_weights)
        tv = total_variation(image) if settings.tv_weight > 0 else image.new_zeros(())
        total = settings.content_weight * c + settings.style_weight * s + settings.tv_weight * tv
        total.backward()
        values = torch.stack([c.detach(), s.detach(), tv.detach(), total.detach()]).tolist()  # one sync
        terms.update(zip(("content", "style", "tv", "total"), values, strict=True))
        return total

    last_good: torch.Tensor | None = None
    try:
        for step in range(1, settings.iterations + 1):
            before = image.detach().clone()
            optimizer.step(closure)
            if not math.isfinite(terms["total"]) or not bool(torch.isfinite(image).all()):
                good = before if math.isfinite(terms["total"]) else last_good
                raise DivergedError(
                    f"the optimisation diverged at step {step} (the loss became "
                    f"{'infinite or NaN' if not math.isfinite(terms['total']) else 'finite but the pixels did not'}); "
                    "lower the learning rate or the weights, or use lbfgs",
                    step=step,
                    last_image=to_pil(good) if good is not None else None,
                )
            last_good = before
            if settings.optimizer == "adam":
                with torch.no_grad():
                    image.clamp_(0.0, 1.0)  # Adam keeps pixels in range; L-BFGS' history would not survive it
            due = step == settings.iterations or (settings.preview_every and step % settings.preview_every == 0)
            yield Progress(
                step=step,
                total=settings.iterations,
                content_loss=terms["content"],
                style_loss=terms["style"],
                tv_loss=terms["tv"],
                loss=terms["total"],
                elapsed=time.perf_counter() - started,
                size=(int(width), int(height)),
                image=to_pil(image) if due else None,
            )
    finally:
        # A stopped run (GeneratorExit) ends here too. Closing the generator clears its frame,
        # which frees the picture, the targets and the optimiser's history with it.
        optimizer.zero_grad(set_to_none=True)
        log.debug("run ended after %.1f s", time.perf_counter() - started)


def stylize(
    content: ImageSource,
    style: ImageSource,
    settings: Settings | None = None,
    *,
    callback: Callable[[Progress], bool | None] | None = None,
    extractor: FeatureExtractor | None = None,
    init_image: ImageSource | None = None,
    **changes: object,
) -> Image.Image:
    """Run :func:`transfer` to the end and return the final picture.

    ``callback(progress)`` is called after every step; returning ``False`` stops the
    run early, and the latest preview is returned. Keyword ``changes`` override single
    settings: ``stylize(c, s, iterations=50, style_weight=1e5)``.
    """
    settings = (settings or Settings()).replace(**changes) if changes else (settings or Settings())
    latest: Image.Image | None = None
    run = transfer(content, style, settings, extractor=extractor, init_image=init_image)
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
    image = image.resize(
        (max(shortest, round(width * scale)), max(shortest, round(height * scale))), Image.Resampling.LANCZOS
    )
    limit = 4 * max(longest, shortest)
    width, height = image.size
    left, top = max(0, (width - limit) // 2), max(0, (height - limit) // 2)
    return image.crop((left, top, left + min(width, limit), top + min(height, limit)))


def _check_size(picture: torch.Tensor, role: str, layers: tuple[str, ...]) -> None:
    height, width = picture.shape[-2:]
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


def _make_optimizer(settings: Settings, image: torch.Tensor) -> torch.optim.Optimizer:
    if settings.optimizer == "lbfgs":
        # max_iter=1: one function evaluation per step, so one step is one preview.
        # No line search (it would evaluate several times per step). A history of 20
        # reaches the same loss as torch's default of 100 within 0.3% after 100 steps at
        # 256 px, and holds 80 fewer pairs of picture-sized vectors (380 MB at 512 px).
        return torch.optim.LBFGS([image], lr=settings.lr, max_iter=1, history_size=LBFGS_HISTORY)
    return torch.optim.Adam([image], lr=settings.lr)
