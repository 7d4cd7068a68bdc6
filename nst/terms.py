"""The objective as a list of weighted terms, each a small object that holds its own targets.

One evaluation of the objective is one forward pass through VGG19 and one backward pass.
The engine asks every term which layers it reads, runs the network once, hands each
activation to the terms as soon as it is computed (:meth:`Term.see`), then asks each term
for its value (:meth:`Term.value`) and sums ``weight * value``. A new kind of term (a
region-guided style, a temporal term for video, a tiled content term) is one class here
and one line in :data:`TERMS`; the optimisation loop does not change.

The terms of Gatys et al. (2015) are :class:`ContentTerm` and :class:`StyleTerm`;
:class:`TotalVariationTerm` is the smoothness prior of Mahendran and Vedaldi (2015) that
most implementations add (differs from Gatys et al., who use none).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from nst.losses import EPS, style_loss_from_grams, style_statistics, total_variation
from nst.settings import Settings
from nst.targets import Targets


class Term(Protocol):
    """One weighted part of the objective.

    ``name`` labels the term in :class:`nst.engine.Progress` (``progress.losses[name]``);
    ``layers`` are the VGG19 layers it reads (may be empty). During an evaluation the
    engine calls :meth:`see` once per wanted layer, in network order, and then
    :meth:`value` once; a term keeps no state from one evaluation to the next beyond
    what :meth:`see` stores for that evaluation.
    """

    name: str
    weight: float
    layers: tuple[str, ...]

    def see(self, layer: str, activation: torch.Tensor) -> None:
        """Called during the forward pass with each layer's activation ``(1, C, h, w)``."""
        ...

    def value(self, image: torch.Tensor) -> torch.Tensor:
        """The unweighted term, a float32 scalar; ``image`` is the picture ``(1, 3, H, W)``."""
        ...


@dataclass(frozen=True)
class Window:
    """Where some activations lie in the whole picture's activation grid at their layer.

    A whole-picture evaluation hands each term all positions (``top = left = 0``); a tiled
    one (:mod:`nst.tiles`) hands it one tile's share, and ``height x width`` is always the
    whole picture's grid at that layer, so a term can normalise its sums as if it saw all.
    """

    top: int
    left: int
    height: int
    width: int

    @classmethod
    def whole(cls, activation: torch.Tensor) -> Window:
        return cls(0, 0, int(activation.shape[-2]), int(activation.shape[-1]))

    def crop(self, grid: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """The part of a whole-grid tensor ``(..., height, width)`` under activations ``like``."""
        return grid[..., self.top : self.top + like.shape[-2], self.left : self.left + like.shape[-1]]


class Additive(Protocol):
    """A term whose value depends on the activations only through sums over positions.

    :meth:`part` maps some positions' activations to their share of the sum (a tensor of
    any shape); :meth:`total` maps the summed shares of every layer to the term's value.
    A whole-picture evaluation sums one share per layer; a tiled one (:mod:`nst.tiles`)
    sums one per tile, which is why such terms can be evaluated in bounded memory.
    """

    name: str
    weight: float
    layers: tuple[str, ...]

    def part(self, layer: str, activation: torch.Tensor, window: Window) -> torch.Tensor: ...

    def total(self, sums: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor: ...


class _WholePicture:
    """:meth:`Term.see` and :meth:`Term.value` for an :class:`Additive` term: one share per layer."""

    _sums: dict[str, torch.Tensor]

    def part(self, layer: str, activation: torch.Tensor, window: Window) -> torch.Tensor:
        raise NotImplementedError

    def total(self, sums: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def see(self, layer: str, activation: torch.Tensor) -> None:
        self._sums[layer] = self.part(layer, activation, Window.whole(activation))

    def value(self, image: torch.Tensor) -> torch.Tensor:
        sums, self._sums = self._sums, {}
        return self.total(sums, image)


@dataclass(eq=False)
class ContentTerm(_WholePicture):
    """Relative squared error of the picture's features at the content layers (``nst.losses``)."""

    weight: float
    targets: dict[str, torch.Tensor]  # layer -> (1, C, h, w)
    layers: tuple[str, ...]
    name: str = "content"
    _sums: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    _energy: dict[str, torch.Tensor] = field(default_factory=dict, init=False, repr=False)

    def part(self, layer: str, activation: torch.Tensor, window: Window) -> torch.Tensor:
        """The squared error at these positions, in float32."""
        return (activation.float() - window.crop(self.targets[layer], activation)).pow(2).sum()

    def total(self, sums: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        if not self.layers:
            return image.new_zeros(())
        for n in self.layers:  # each target's energy, once, a few channels at a time (at print size a
            if n not in self._energy:  # target is hundreds of MB, and its square as large again)
                target = self.targets[n]
                chunks = target.split(64, dim=1) if target.numel() > 2**24 else (target,)
                self._energy[n] = torch.stack([chunk.pow(2).sum() for chunk in chunks]).sum() + EPS
        return torch.stack([sums[n] / self._energy[n] for n in self.layers]).mean()


@dataclass(eq=False)
class StyleTerm(_WholePicture):
    """Weighted relative squared error of the picture's Gram matrices at the style layers.

    Each Gram matrix is built in :meth:`see`, during the forward pass, right after its
    layer: the backward pass then makes each Gram gradient (relu1_1's is 100 MB at 1024 px
    in bfloat16) only when it reaches that layer, instead of holding all of them through
    the whole backward pass.
    """

    weight: float
    targets: dict[str, torch.Tensor]  # layer -> (1, C, C)
    layers: tuple[str, ...]
    layer_weights: tuple[float, ...]  # sum to 1
    loss: str = "gram"  # or "wasserstein": nst.losses.STYLE_LOSSES
    name: str = "style"
    _sums: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    _roots: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)  # wasserstein: per layer, once

    def part(self, layer: str, activation: torch.Tensor, window: Window) -> torch.Tensor:
        """These positions' share of the Gram matrix ``(1, C, C)`` (float32, no float32 copy),
        with the mean beside it for the ``wasserstein`` loss."""
        return style_statistics(activation, window.height * window.width, self.loss)

    def total(self, sums: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        return style_loss_from_grams(sums, self.targets, self.layers, self.layer_weights, self.loss, self._roots)


@dataclass(eq=False)
class RegionStyleTerm(_WholePicture):
    """Each style matched over its own region: guided Gram matrices (Gatys et al., 2017).

    For style ``k`` with mask ``m`` at a layer, ``G_k = (F m)(F m)^T / sum(m^2)``: the Gram
    matrix of the features inside the region, averaged over the region's area (so a small
    region weighs as much as a large one); with the Wasserstein loss the mean beside it takes
    the same weights, ``sum(m^2 F) / sum(m^2)`` (:func:`~nst.losses.style_statistics`);
    compared with style ``k``'s whole-picture Gram matrix by the same relative error as
    :class:`StyleTerm`. The styles' errors are averaged with ``style_weights`` (summing to 1);
    a style whose region is empty is left out.
    """

    weight: float
    targets: tuple[dict[str, torch.Tensor], ...]  # per style: layer -> (1, C, C)
    masks: tuple[dict[str, torch.Tensor], ...]  # per style: layer -> (1, 1, h, w)
    layers: tuple[str, ...]
    layer_weights: tuple[float, ...]
    style_weights: tuple[float, ...]
    loss: str = "gram"
    name: str = "style"
    _sums: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    _roots: list[dict[str, torch.Tensor]] = field(default_factory=list, init=False, repr=False)
    _areas: list[dict[str, float]] = field(default_factory=list, init=False, repr=False)
    _weights: dict[int, float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._areas = [{layer: float(mask.pow(2).sum()) for layer, mask in masks.items()} for masks in self.masks]
        used = [k for k, areas in enumerate(self._areas) if min(areas.values(), default=0.0) > 0]
        total = sum(self.style_weights[k] for k in used)
        self._weights = {k: self.style_weights[k] / total for k in used} if total > 0 else {}
        self._roots = [{} for _ in self.targets]

    def part(self, layer: str, activation: torch.Tensor, window: Window) -> torch.Tensor:
        """These positions' share of each used style's guided Gram matrix, ``(K, C, C)``."""
        if not self._weights:
            return activation.new_zeros((), dtype=torch.float32)
        shares = []
        for k in self._weights:
            mask = window.crop(self.masks[k][layer], activation).to(activation.dtype)  # (1, 1, h, w)
            shares.append(style_statistics(activation, self._areas[k][layer], self.loss, mask)[0])
        return torch.stack(shares)

    def total(self, sums: Mapping[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        parts = [w * style_loss_from_grams({layer: sums[layer][i : i + 1] for layer in self.layers}, self.targets[k],
                                           self.layers, self.layer_weights, self.loss, self._roots[k])
                 for i, (k, w) in enumerate(self._weights.items())]  # fmt: skip
        return torch.stack(parts).sum() if parts else image.new_zeros(())


@dataclass(eq=False)
class TotalVariationTerm:
    """Mean squared difference of neighbouring pixels; reads no layer."""

    weight: float
    name: str = "tv"
    layers: tuple[str, ...] = ()

    def see(self, layer: str, activation: torch.Tensor) -> None:
        pass

    def value(self, image: torch.Tensor) -> torch.Tensor:
        return total_variation(image)


@dataclass(eq=False)
class TemporalTerm:
    """Video: the mean squared difference from the previous stylised frame warped onto this
    one, counted only where the warp can be trusted (Ruder et al. 2016, their short-term
    temporal loss: ``1/D sum_k c_k (x_k - w_k)^2`` over all D pixel values); reads no layer."""

    weight: float
    previous: torch.Tensor  # (1, 3, H, W)
    certainty: torch.Tensor  # (1, 1, H, W), 0..1
    name: str = "temporal"
    layers: tuple[str, ...] = ()

    def see(self, layer: str, activation: torch.Tensor) -> None:
        pass

    def value(self, image: torch.Tensor) -> torch.Tensor:
        return (self.certainty * (image - self.previous).pow(2)).mean()


def content_term(settings: Settings, targets: Targets) -> Term | None:
    if not settings.content_layers:
        return None
    return ContentTerm(settings.content_weight, targets.content, settings.content_layers)


def style_term(settings: Settings, targets: Targets) -> Term | None:
    if not settings.style_layers or targets.regions:
        return None
    return StyleTerm(
        settings.style_weight,
        targets.style_grams,
        settings.style_layers,
        settings.normalised_style_layer_weights,
        settings.style_loss,
    )


def region_style_term(settings: Settings, targets: Targets) -> Term | None:
    if not settings.style_layers or not targets.regions:
        return None
    return RegionStyleTerm(
        settings.style_weight,
        targets.per_style,
        targets.regions,
        settings.style_layers,
        settings.normalised_style_layer_weights,
        settings.normalised_style_blend(len(targets.regions)),
        settings.style_loss,
    )


def total_variation_term(settings: Settings, targets: Targets) -> Term | None:
    return TotalVariationTerm(settings.tv_weight) if settings.tv_weight > 0 else None


def temporal_term(settings: Settings, targets: Targets) -> Term | None:
    if targets.temporal is None or settings.temporal_weight <= 0:
        return None
    return TemporalTerm(settings.temporal_weight, *targets.temporal)


# Every kind of term, in the order their values are reported. Each factory returns the
# term a run needs, or None when the settings leave it out.
TERMS: tuple[Callable[[Settings, Targets], Term | None], ...] = (
    content_term,
    style_term,
    region_style_term,
    total_variation_term,
    temporal_term,
)

REPORTED = ("content", "style", "tv")  # always in Progress.losses, 0.0 when a term is left out


def report(values: dict[str, float], terms: Sequence[Term], parts: Sequence[torch.Tensor], total: torch.Tensor) -> None:
    """Fill ``values`` with every term's unweighted value by name and the weighted ``"total"``
    (one device sync), the :data:`REPORTED` names at 0.0 when a term is left out."""
    numbers = torch.stack([*(part.detach() for part in parts), total.detach()]).tolist()
    values.update(dict.fromkeys(REPORTED, 0.0))
    values.update(zip([*(term.name for term in terms), "total"], numbers, strict=True))


def build_terms(settings: Settings, targets: Targets) -> list[Term]:
    """The terms of one run at one scale.

    Examples:
        >>> terms = build_terms(Settings(tv_weight=0), targets)  # doctest: +SKIP
        >>> [term.name for term in terms]  # doctest: +SKIP
        ['content', 'style']
    """
    return [term for make in TERMS if (term := make(settings, targets)) is not None]


def layers_read(terms: Sequence[Term]) -> tuple[str, ...]:
    """Every layer any of the terms reads, each once, in the order first asked for."""
    return tuple(dict.fromkeys(layer for term in terms for layer in term.layers))
