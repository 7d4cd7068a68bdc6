"""Scale per style: a style picture whose large shapes come from one picture and whose fine strokes
from another, after Gatys, Ecker, Bethge, Hertzmann and Shechtman, "Controlling Perceptual Factors in
Neural Style Transfer" (CVPR 2017), scale control.

As their code does it (the "pretrans" step of their scale-control notebook): the coarse picture is
repainted, starting from itself, so that its Gram matrices at the shallow layers
(``FINE_LAYERS``) are the fine picture's; no other term acts, so its arrangement at larger scales
survives. The new picture is then the style picture of an ordinary run, at every style layer.
Mixing the two pictures' Gram matrices layer by layer instead would not do: a deep layer's Gram
matrix also carries the fine statistics of the picture it came from.

A run's regions may each take their own pair (:class:`nst.jobs.picture.PictureJob`'s ``coarse_styles``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch
from PIL import Image

from nst.engine import transfer
from nst.errors import SettingsError
from nst.features import FeatureExtractor
from nst.images import ImageSource, load_image, to_pil, to_tensor
from nst.settings import Settings
from nst.targets import TargetCache, picture_digest

FINE_LAYERS = ("relu1_1", "relu2_1")  # the paper's notebook at 512 px: these come from the fine picture
MIX_STEPS = 50  # L-BFGS steps of the repainting: the fine error is then below 0.0005 (benchmarks/scale_mix.py)
FINE_WEIGHT = 1e4  # style-only: any weight that keeps the loss well above float32's rounding


def mixed_style(
    fine: Image.Image,
    coarse: Image.Image,
    settings: Settings,
    extractor: FeatureExtractor,
    *,
    steps: int = MIX_STEPS,
    checkpoint: Callable[[], None] | None = None,
) -> Image.Image:
    """``coarse`` repainted with ``fine``'s strokes, at the size the run reads its style pictures
    (``output_size`` times ``style_scale``, longest side).

    Examples:
        >>> fine, coarse = Image.open("seurat.jpg"), Image.open("starry.jpg")  # doctest: +SKIP
        >>> mixed = mixed_style(fine, coarse, Settings(), extractor)  # doctest: +SKIP
    """
    repaint = Settings(
        output_size=_style_size(settings),
        iterations=steps,
        scales=1,
        init="content",
        content_layers=(),
        content_weight=0.0,
        style_layers=FINE_LAYERS,
        style_weight=FINE_WEIGHT,
        optimizer="lbfgs",
        preview_every=0,
        weights=settings.weights,
        pooling=settings.pooling,
        device=settings.device,
        precision=settings.precision,
        seed=settings.seed,
    )
    *_, last = transfer(coarse, fine, repaint, extractor=extractor, checkpoint=checkpoint)
    assert last.image is not None  # a run's last step carries its picture
    return last.image


def with_coarse_styles(
    styles: Sequence[ImageSource],
    coarse: Sequence[ImageSource],
    settings: Settings,
    extractor: FeatureExtractor,
    cache: TargetCache | None = None,
    checkpoint: Callable[[], None] | None = None,
) -> list[Image.Image]:
    """Each style picture mixed with its coarse picture (one coarse picture for all, or one each);
    where a coarse picture is its style picture itself, that style is left as it is. The mixed
    pictures are kept in ``cache`` (live tuning reruns do not repaint them).

    Raises:
        SettingsError: neither one coarse picture nor one per style picture.
        ImageLoadError: a picture cannot be read.
    """
    if len(coarse) not in (1, len(styles)):
        raise SettingsError(f"give one coarse picture, or one per style picture: {len(coarse)} coarse pictures for "
                            f"{len(styles)} style picture{'s' if len(styles) > 1 else ''}")  # fmt: skip
    fines = [load_image(source, name=f"style picture {n}") for n, source in enumerate(styles, start=1)]
    pairs = list(coarse) * len(styles) if len(coarse) == 1 else list(coarse)
    coarses = [load_image(source, name=f"coarse picture {n}") for n, source in enumerate(pairs, start=1)]
    mixed = []
    for fine, big in zip(fines, coarses, strict=True):
        digests = (picture_digest(fine), picture_digest(big))
        if digests[0] == digests[1]:
            mixed.append(fine)
            continue
        key = ("mixed style", *digests, _style_size(settings), settings.weights, settings.pooling, settings.precision)
        make = functools.partial(_as_entry, fine, big, settings, extractor, checkpoint)
        mixed.append(to_pil((cache.get(key, make) if cache is not None else make())["picture"]))
    return mixed


def _style_size(settings: Settings) -> int:
    """The longest side the run reads its style pictures at, where the coarse picture is repainted."""
    return max(32, round(settings.output_size * settings.style_scale))


def _as_entry(
    fine: Image.Image,
    coarse: Image.Image,
    settings: Settings,
    extractor: FeatureExtractor,
    checkpoint: Callable[[], None] | None,
) -> dict[str, torch.Tensor]:
    """The mixed picture as a target-cache entry."""
    return {"picture": to_tensor(mixed_style(fine, coarse, settings, extractor, checkpoint=checkpoint))}
