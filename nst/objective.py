"""The function the optimiser minimises: one forward and backward pass over a run's weighted terms."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from nst.device import release_free_memory, resolve_precision
from nst.features import FeatureExtractor
from nst.layers import LAYER_INDEX, deepest_layer
from nst.settings import Settings
from nst.targets import Targets
from nst.terms import Term, build_terms, layers_read, report

TRIM_PIXELS = 400_000  # from about 768x576 up, freed memory goes back to the system after every step
TRIM_AT_POOLS = ("pool1", "pool2", "pool3")  # and in the backward pass at these layers


def objective(
    extractor: FeatureExtractor,
    terms: Sequence[Term],
    image: torch.Tensor,
    precision: torch.dtype = torch.float32,
    checkpoint: Callable[[], None] | None = None,
) -> tuple[Callable[[], torch.Tensor], dict[str, float]]:
    """The closure ``sum(term.weight * term.value)`` for any list of :mod:`nst.terms` terms.

    ``checkpoint`` is called after each layer the terms read and, in the backward pass, at
    each pool above the first: an exception it raises leaves the evaluation there (Stop).

    Returns the closure and a dict that each evaluation fills with the unweighted value of
    every term (``"content"``, ``"style"``, ``"tv"``, ...) and the weighted ``"total"``.

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
    pools = tuple(pool for pool in TRIM_AT_POOLS if LAYER_INDEX[pool] < deepest)
    marks = pools if trim or checkpoint is not None else ()  # where the backward pass has hooks
    readers = {layer: [term for term in terms if layer in term.layers] for layer in layers}
    weights = [term.weight for term in terms]
    backward_hook = _backward_hook(trim, checkpoint)

    def visit(name: str, activation: torch.Tensor) -> None:
        for term in readers.get(name, ()):
            term.see(name, activation)
        if checkpoint is not None:
            checkpoint()
        if name in marks and activation.requires_grad:  # not when only scoring (torch.no_grad)
            activation.register_hook(backward_hook)

    def closure() -> torch.Tensor:
        image.grad = None
        if layers:
            with torch.autocast(image.device.type, dtype=precision, enabled=precision != torch.float32):
                extractor(image, layers + marks, visit=visit)  # the terms keep what they need
        parts = [term.value(image) for term in terms]
        total = sum((weight * part for weight, part in zip(weights, parts, strict=True)), image.new_zeros(()))
        if trim:
            release_free_memory()  # the forward pass's freed blocks, before the backward pass peaks
        if torch.is_grad_enabled():  # under torch.no_grad(): a score only, no gradient
            total.backward()
        report(values, terms, parts, total)
        return total

    return closure, values


def closure_for(
    extractor: FeatureExtractor, settings: Settings, targets: Targets, image: torch.Tensor
) -> tuple[Callable[[], torch.Tensor], dict[str, float]]:
    """:func:`objective` over the terms the settings ask for, at the settings' precision."""
    return objective(
        extractor, build_terms(settings, targets), image, resolve_precision(settings.precision, image.device)
    )


def _backward_hook(trim: bool, checkpoint: Callable[[], None] | None) -> Callable[[torch.Tensor], None]:
    """A gradient hook that leaves the gradient as it is: hands freed memory back, calls the checkpoint."""

    def hook(grad: torch.Tensor) -> None:
        if checkpoint is not None:
            checkpoint()
        if trim:
            _release_free_memory_hook(grad)

    return hook


def _release_free_memory_hook(grad: torch.Tensor) -> None:
    """A gradient hook that leaves the gradient as it is and hands freed memory back."""
    release_free_memory()
