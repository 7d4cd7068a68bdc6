"""Print sizes in bounded memory: the objective evaluated tile by tile, exactly.

A whole-picture step holds every layer's activations for the backward pass: about 1.4 KB
per pixel in float32 (0.7 KB in bfloat16), so 19 GB at 4096x3072. Above the memory budget
(:func:`plan_layout`) a step works on overlapping tiles instead, in two passes:

1. **Sums.** Every tile runs through VGG19 without autograd; each term adds its tile's
   share of its sums (:class:`nst.terms.Additive`): the style term the tile's part of each
   Gram matrix, the content term its squared error. The shares add up to the whole
   picture's sums, so the style targets stay global: the Gram matrices compared with the
   painting's are the whole picture's, not each tile's.
2. **Gradients.** The loss and its gradient with respect to those sums are computed once
   (Gram matrices are at most 512x512, however large the picture). Every tile then runs
   again with autograd, and the gradient of ``<d loss / d sums, the tile's share>`` is
   added into the picture's gradient.

Each tile owns the activations at its *core*; it is run through the network with a
margin of its neighbours around the core as wide as the deepest layer read reaches
(:func:`margin_for`: 80 px for relu5_1, whose receptive field is 156 px), so the core's
activations are computed from the real neighbourhood, never from the box's padding.
Gradients of overlapping tiles are *added*, not blended: the margins carry the gradient that
flows from the core's activations into the neighbouring pixels, so the sum is the whole
picture's gradient up to rounding (tests/test_tiles.py measures both, at the borders too).

Departs from Gatys et al., who optimise the whole picture at once, and from how other
tools tile: neural-style-pt's tiling and most "tiled style transfer" scripts stylise each
tile as a picture of its own (its own Gram matrices, its own optimiser) and cross-fade the
tiles' pixels, which changes the objective at every tile and can leave seams where the
tiles' styles drift apart; crowsonkb's style-transfer-pytorch stays whole-picture and
relies on GPU memory. Here the objective and its gradient are the whole picture's; only
the memory they need is bounded, at the price of a second forward pass per step (about
1.3x the time of a whole-picture step, plus the margins).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import torch

from nst.device import release_free_memory
from nst.errors import SettingsError
from nst.layers import pools_before, reach
from nst.losses import style_statistics
from nst.targets import content_features, style_grams
from nst.terms import Additive, Term, Window, layers_read, report

ALIGN = 16  # tile corners on a 16 px grid keep every layer's grid aligned down to relu5_x (4 pools)
MARGIN = 80  # px of neighbours each tile sees around its core when it reads relu5_1: margin_for()
MIN_CORE = 128  # px: smaller cores would spend most of the time on margins
GB = 2**30
DEFAULT_BUDGET_GB = {"cpu": 2.0, "mps": 4.0}  # CUDA: three quarters of the GPU's free memory

# What a whole-picture step holds above the model, measured at 512 and 1024 px on a CPU
# (activations kept for the backward pass, the Gram gradients, the heap's slack):
STEP_BYTES_PER_PIXEL = {torch.float32: 1400, torch.bfloat16: 700}
STEP_BYTES_FIXED = 150 * 2**20
# Picture-sized float32 vectors a run holds besides the optimiser's: the picture, its gradient,
# and the two last pictures kept in 8 bits for a diverged run (a quarter each).
PICTURE_VECTORS = 2.5
ADAM_VECTORS = 3  # two moment estimates and one temporary in the update
LBFGS_VECTORS = 4  # the direction, the last gradient, a flat copy of the gradient, one temporary
MIN_TILED_HISTORY = 3  # L-BFGS curvature pairs; fewer and the tiled scales use Adam instead
TILED_ADAM_RATE = 0.01  # Adam's rate where it stands in for L-BFGS at a large scale
HEADROOM = 0.9  # plans fill this share of the budget: the estimates below miss the heap's slack by a few %
READ_BYTES_PER_PIXEL = 1300  # a float32 forward pass without autograd (targets), measured at 1024 px
# What a tiled step holds besides the picture's state, per pixel of the largest box and fixed: the
# box's activations for the backward pass and its copy, the Gram gradients, the heap's slack
# (measured with boxes of 86k and 258k px in float32: 2.0 KB/px and 200 MB).
TILE_BYTES_PER_PIXEL = {torch.float32: 2100, torch.bfloat16: 1100}
TILE_BYTES_FIXED = 220 * 2**20


@dataclass(frozen=True)
class Tile:
    """A core box of the picture and the larger box run through the network, in pixels."""

    top: int
    left: int
    bottom: int
    right: int
    pad_top: int
    pad_left: int
    pad_bottom: int
    pad_right: int

    @property
    def padded(self) -> tuple[slice, slice]:
        return slice(self.pad_top, self.pad_bottom), slice(self.pad_left, self.pad_right)

    @property
    def padded_pixels(self) -> int:
        return (self.pad_bottom - self.pad_top) * (self.pad_right - self.pad_left)


@dataclass(frozen=True)
class Layout:
    """How one scale is worked: its tiles (one: the whole picture) and its optimiser."""

    tiles: tuple[Tile, ...]
    optimizer: str  # "lbfgs" or "adam"
    history: int | None = None  # L-BFGS curvature pairs; None: the engine's own rule
    learning_rate: float | None = None  # None: the settings' rate

    @property
    def tiled(self) -> bool:
        return len(self.tiles) > 1

    @property
    def cost(self) -> float:
        """Network pixels per picture pixel of one step (1 for the whole picture)."""
        if not self.tiled:
            return 1.0
        whole = self.tiles[-1].bottom * self.tiles[-1].right
        return 1.3 * sum(tile.padded_pixels for tile in self.tiles) / whole  # two passes: 1.3x, measured


def budget_bytes(gigabytes: float, device: torch.device) -> int:
    """The memory budget in bytes: ``gigabytes``, or the device's default when it is 0."""
    if gigabytes > 0:
        return int(gigabytes * GB)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(0.75 * free)
    return int(DEFAULT_BUDGET_GB.get(device.type, 2.0) * GB)


def step_bytes(pixels: int, precision: torch.dtype) -> int:
    """What a whole-picture step of this many pixels holds above the model (an estimate)."""
    return STEP_BYTES_FIXED + STEP_BYTES_PER_PIXEL.get(precision, STEP_BYTES_PER_PIXEL[torch.float32]) * pixels


def target_bytes(pixels: int, content_layers: Sequence[str], masks: int = 0) -> int:
    """The content features (float32) and region masks a scale keeps, for a picture of ``pixels``."""
    channels = {"relu1": 64, "conv1": 64, "relu2": 128, "conv2": 128, "relu3": 256, "conv3": 256}
    per_pixel = sum(4 * channels.get(layer[:5], 512) / 4 ** pools_before(layer) for layer in content_layers)
    return int(pixels * (per_pixel + masks * 4 * 1.34))  # a mask at every style layer: 1 + 1/4 + 1/16 + ...


def plan_layout(
    height: int,
    width: int,
    *,
    budget: int,
    precision: torch.dtype,
    optimizer: str,
    whole_history: int,
    content_layers: Sequence[str] = ("relu4_2",),
    masks: int = 0,
    margin: int = MARGIN,
    reserved: int = 0,
) -> Layout:
    """The whole picture when a step fits in ``budget`` bytes; else the largest tiles that do.

    ``whole_history`` is the L-BFGS history the engine gives a whole picture. Tiled, L-BFGS
    keeps as many curvature pairs as fit in half of what the picture and its targets leave
    of the budget (at most that history, at least :data:`MIN_TILED_HISTORY`); where even
    those do not fit (or leave no room for the smallest tile), the scale runs Adam at
    :data:`TILED_ADAM_RATE`, which needs two picture-sized vectors. The tiles get the rest,
    each with ``margin`` px around its core (:func:`margin_for` the layers the terms read).
    ``reserved``: bytes held besides, whole or tiled (Winograd's work buffer,
    :func:`nst.winograd.reserved_bytes`).

    Raises:
        SettingsError: the budget is too small for this size even in the smallest tiles.

    Examples:
        >>> plan_layout(768, 1024, budget=2 * GB, precision=torch.float32, optimizer="lbfgs", whole_history=7).tiled
        False
        >>> layout = plan_layout(3072, 4096, budget=2 * GB, precision=torch.float32, optimizer="lbfgs",
        ...                      whole_history=6)
        >>> layout.tiled, layout.optimizer, len(layout.tiles)
        (True, 'adam', 140)
    """
    budget, asked = int(HEADROOM * budget), budget
    pixels = height * width
    vector = 12 * pixels  # one float32 RGB picture
    fixed = PICTURE_VECTORS * vector + target_bytes(pixels, content_layers, masks) + reserved
    own = (LBFGS_VECTORS + 2 * whole_history if optimizer == "lbfgs" else ADAM_VECTORS) * vector
    if fixed + own + step_bytes(pixels, precision) <= budget:
        return Layout((_whole(height, width),), optimizer)
    left = budget - fixed
    options = []
    if optimizer == "lbfgs":
        history = min(whole_history, int((left / 2 / vector - LBFGS_VECTORS) / 2))
        if history >= MIN_TILED_HISTORY:
            options.append(Layout((), "lbfgs", history))
    options.append(Layout((), "adam", None, TILED_ADAM_RATE if optimizer == "lbfgs" else None))
    per_pixel = TILE_BYTES_PER_PIXEL.get(precision, TILE_BYTES_PER_PIXEL[torch.float32])
    smallest = (MIN_CORE + 2 * margin) ** 2
    for option in options:
        state = (LBFGS_VECTORS + 2 * option.history if option.history else ADAM_VECTORS) * vector
        tile_pixels = int((left - state - TILE_BYTES_FIXED) // per_pixel)
        if tile_pixels >= smallest:
            tiles = plan_tiles(height, width, tile_pixels, margin)
            return Layout(tiles, option.optimizer, option.history, option.learning_rate)
    needed = fixed + ADAM_VECTORS * vector + TILE_BYTES_FIXED + per_pixel * smallest
    raise SettingsError(
        f"a memory budget of {asked / GB:.2g} GB is too small for {width}x{height} px: it needs at least "
        f"{math.ceil(needed / HEADROOM / GB * 10) / 10:.1f} GB; raise the budget or choose a smaller size"
    )


def margin_for(layers: Sequence[str]) -> int:
    """The margin that makes a tile's core exact for ``layers``: the deepest one's reach, on the tile grid.

    Examples:
        >>> margin_for(["relu1_1", "relu5_1"]), margin_for(["relu4_2"]), margin_for(["relu1_1"])
        (80, 48, 16)
    """
    return ALIGN * math.ceil(max(reach(layer) for layer in layers) / ALIGN)


def plan_tiles(height: int, width: int, max_pixels: int, margin: int = MARGIN) -> tuple[Tile, ...]:
    """The grid of tiles whose boxes with margins hold at most ``max_pixels`` each and the
    fewest pixels in all (the least work: margins are computed twice).

    Cores are multiples of :data:`ALIGN` px (but the last row and column) and cover the
    picture exactly once; each box is its core with ``margin`` px more on every side,
    clipped to the picture.

    Examples:
        >>> [(t.top, t.bottom, t.pad_top, t.pad_bottom) for t in plan_tiles(200, 100, 200 * 100)]
        [(0, 200, 0, 200)]
        >>> [(t.top, t.bottom, t.pad_top, t.pad_bottom) for t in plan_tiles(200, 100, 100 * 160, margin=16)]
        [(0, 112, 0, 128), (112, 200, 96, 200)]
    """
    if height * width <= max_pixels:
        return (_whole(height, width),)
    best: tuple[int, int] | None = None
    least = math.inf
    for rows in range(1, math.ceil(height / ALIGN) + 1):
        tall = _padded(height, rows, margin)
        for cols in range(1, math.ceil(width / ALIGN) + 1):
            wide = _padded(width, cols, margin)
            if max(tall) * max(wide) <= max_pixels:
                if sum(tall) * sum(wide) < least:  # every box's pixels
                    best, least = (rows, cols), sum(tall) * sum(wide)
                break  # more columns only add margins
    if best is None:
        raise SettingsError(f"no tiling of {width}x{height} px fits {max_pixels} px a tile")
    tops, lefts = _cuts(height, _core(height, best[0])), _cuts(width, _core(width, best[1]))
    return tuple(
        Tile(top, left, bottom, right, max(0, top - margin), max(0, left - margin),
             min(height, bottom + margin), min(width, right + margin))
        for top, bottom in tops for left, right in lefts
    )  # fmt: skip


def _whole(height: int, width: int) -> Tile:
    return Tile(0, 0, height, width, 0, 0, height, width)


def _core(length: int, count: int) -> int:
    return ALIGN * math.ceil(length / count / ALIGN)


def _cuts(length: int, core: int) -> list[tuple[int, int]]:
    return [(start, min(start + core, length)) for start in range(0, length, core)]


def _padded(length: int, count: int, margin: int) -> list[int]:
    """The lengths of the boxes along one side cut into ``count`` cores."""
    return [min(end + margin, length) - max(start - margin, 0) for start, end in _cuts(length, _core(length, count))]


def visit_tile(
    extractor: Callable[..., object],
    box: torch.Tensor,
    tile: Tile,
    size: tuple[int, int],
    layers: Sequence[str],
    visit: Callable[[str, torch.Tensor, Window], None],
) -> None:
    """Run one tile's box (``picture[..., tile.padded]``) through the network; ``visit`` gets
    each layer's core activations and their :class:`~nst.terms.Window` in the grid of the whole
    picture (``size`` is its height and width) at that layer.
    """
    height, width = size

    def core(name: str, activation: torch.Tensor) -> None:
        step = 2 ** pools_before(name)
        rows, cols = activation.shape[-2:]
        top, left = (tile.top - tile.pad_top) // step, (tile.left - tile.pad_left) // step
        bottom = rows if tile.bottom == height else (tile.bottom - tile.pad_top) // step
        right = cols if tile.right == width else (tile.right - tile.pad_left) // step
        window = Window(tile.top // step, tile.left // step, height // step, width // step)
        visit(name, activation[..., top:bottom, left:right], window)

    extractor(box, layers, visit=core)


def tiled_objective(
    extractor: Callable[..., object],
    terms: Sequence[Term],
    image: torch.Tensor,
    precision: torch.dtype,
    tiles: Sequence[Tile],
    on_tile: Callable[[int, int], None] | None = None,
) -> tuple[Callable[[], torch.Tensor], dict[str, float]]:
    """:func:`nst.objective.objective` evaluated tile by tile, in two passes (see the module).

    Terms that read layers must be :class:`~nst.terms.Additive`; the others (total
    variation) are evaluated on the whole picture. ``on_tile(done, count)`` is called after
    each tile of each pass (``count`` is twice the tiles): a progress line.

    Raises:
        SettingsError: a term reads layers but cannot be summed over tiles.
    """
    for term in terms:
        if term.layers and not hasattr(term, "part"):
            raise SettingsError(f"the {term.name} term cannot be computed in tiles; choose a smaller size")
    tiled = _TiledObjective(extractor, terms, image, precision, tiles, _Count(2 * len(tiles), on_tile))
    return tiled, tiled.values


Share = Callable[[Additive, str, torch.Tensor], None]  # what a pass does with a term's part of a tile


class _TiledObjective:
    """The closure of :func:`tiled_objective`: pass 1 sums, the terms' totals, pass 2 the gradient."""

    def __init__(
        self,
        extractor: Callable[..., object],
        terms: Sequence[Term],
        image: torch.Tensor,
        precision: torch.dtype,
        tiles: Sequence[Tile],
        progress: _Count,
    ) -> None:
        self.extractor, self.terms, self.image, self.precision, self.tiles = extractor, terms, image, precision, tiles
        self.progress = progress
        self.additive = {id(term): cast(Additive, term) for term in terms if term.layers}
        self.layers = layers_read(terms)
        self.readers = {layer: [t for t in self.additive.values() if layer in t.layers] for layer in self.layers}
        self.values: dict[str, float] = {}
        self.size = (int(image.shape[-2]), int(image.shape[-1]))

    def _run(self, box: torch.Tensor, tile: Tile, share: Share) -> None:
        def visit(name: str, activation: torch.Tensor, window: Window) -> None:
            for term in self.readers[name]:
                share(term, name, term.part(name, activation, window))

        autocast = self.precision != torch.float32
        with torch.autocast(self.image.device.type, dtype=self.precision, enabled=autocast):
            visit_tile(self.extractor, box, tile, self.size, self.layers, visit)

    def _sums(self) -> dict[tuple[int, str], torch.Tensor]:
        """Pass 1: every term's sums over all tiles, without autograd."""
        held: dict[tuple[int, str], torch.Tensor] = {}

        def add(term: Additive, layer: str, part: torch.Tensor) -> None:
            key = (id(term), layer)
            held[key] = held[key] + part if key in held else part

        with torch.no_grad():
            for tile in self.tiles:
                self._run(self.image[(..., *tile.padded)], tile, add)
                release_free_memory()
                self.progress.tick()
        return held

    def _pull(self, slopes: dict[tuple[int, str], torch.Tensor], grad: torch.Tensor) -> None:
        """Pass 2: each tile's share of the gradient, added into ``grad``."""
        for tile in self.tiles:
            box = self.image.detach()[(..., *tile.padded)].clone().requires_grad_(True)
            pieces: list[torch.Tensor] = []

            def follow(term: Additive, layer: str, part: torch.Tensor, pieces: list[torch.Tensor] = pieces) -> None:
                slope = slopes.get((id(term), layer))
                if slope is not None:
                    pieces.append((slope * part).sum())

            self._run(box, tile, follow)
            if pieces:
                torch.stack(pieces).sum().backward()
                grad[(..., *tile.padded)] += cast(torch.Tensor, box.grad)
            release_free_memory()
            self.progress.tick()

    def __call__(self) -> torch.Tensor:
        self.progress.done = 0
        held = self._sums()
        for part in held.values():
            part.requires_grad_(True)
        plain = self.image.detach().requires_grad_(True)  # the terms that read no layer see the whole picture
        parts = []
        for term in self.terms:
            if id(term) in self.additive:
                mine = {layer: held[(id(term), layer)] for layer in term.layers if (id(term), layer) in held}
                parts.append(self.additive[id(term)].total(mine, plain))
            else:
                parts.append(term.value(plain))
        weighted = (term.weight * part for term, part in zip(self.terms, parts, strict=True))
        total = sum(weighted, self.image.new_zeros(()))
        total.backward()
        grad = plain.grad if plain.grad is not None else torch.zeros_like(self.image)
        self._pull({key: part.grad for key, part in held.items() if part.grad is not None}, grad)
        self.image.grad = grad
        report(self.values, self.terms, parts, total)
        return total.detach()


def tiled_grams(
    extractor: Callable[..., object],
    picture: torch.Tensor,
    layers: Sequence[str],
    budget: int | None,
    *,
    features: bool = False,
    loss: str = "gram",
    masks: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """A picture's Gram matrices (or, with ``features``, its activations) at ``layers``, read
    in tiles when a whole forward pass would not fit in ``budget`` bytes (float32, no autograd).
    With ``masks`` (``{layer: (1, 1, h, w)}``): the guided Gram matrices of that part of the picture.

    The tiles' shares add up to the whole picture's Gram matrices; activations are put
    together from the tiles' cores. Without a budget, or when the picture fits, this is
    :func:`nst.targets.style_grams` (:func:`nst.targets.content_features`).
    """
    height, width = int(picture.shape[-2]), int(picture.shape[-1])
    read = cast(torch.nn.Module, extractor)
    if budget is not None:  # half: the run's pictures (the previous scale's, the photo) are held meanwhile;
        budget = int(HEADROOM * budget / 2)  # and activations kept whole (a print's content features) are
        if features:  # held beside the tiles being read
            budget -= target_bytes(height * width, layers)
    if budget is None or height * width * READ_BYTES_PER_PIXEL <= budget:
        if features:
            return content_features(read, picture, tuple(layers))  # type: ignore[arg-type]
        return style_grams(read, picture, tuple(layers), loss, masks)  # type: ignore[arg-type]
    out: dict[str, torch.Tensor] = {}
    areas = {name: float(mask.pow(2).sum()) for name, mask in masks.items()} if masks is not None else {}

    def keep(name: str, activation: torch.Tensor, window: Window) -> None:
        if features:
            if name not in out:
                out[name] = activation.new_empty((*activation.shape[:2], window.height, window.width))
            window.crop(out[name], activation).copy_(activation)
        else:
            if masks is None:
                share = style_statistics(activation, window.height * window.width, loss)
            else:
                mask = window.crop(masks[name], activation).to(activation.dtype)
                share = style_statistics(activation, areas[name], loss, mask)
            out[name] = out[name] + share if name in out else share

    with torch.inference_mode():
        margin = margin_for(layers)
        smallest = (MIN_CORE + 2 * margin) ** 2
        for tile in plan_tiles(height, width, max(budget // READ_BYTES_PER_PIXEL, smallest), margin):
            visit_tile(extractor, picture[(..., *tile.padded)], tile, (height, width), layers, keep)
            release_free_memory()  # each tile's activations, before the next tile's or the run's own
    return {name: value.clone() for name, value in out.items()}  # clone(): usable in autograd


@dataclass
class _Count:
    """Tiles done in this evaluation, reported to ``report(done, count)``."""

    count: int
    report: Callable[[int, int], None] | None
    done: int = 0

    def tick(self) -> None:
        self.done += 1
        if self.report is not None:
            self.report(self.done, self.count)
