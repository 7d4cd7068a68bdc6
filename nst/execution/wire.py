"""What crosses the network: pictures as bytes, records and errors as plain data, the code's version.

Everything a worker receives or sends is bytes, numbers, strings and lists or dicts of them,
never the engine's objects, so a worker with other code cannot misread them silently;
:func:`project_version` names the code, and the cluster refuses a worker whose version differs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, cast

from PIL import Image

from nst import __version__
from nst.errors import ClusterError, DivergedError, ImageLoadError, NSTError, SettingsError, VideoError, WeightsError
from nst.images import ImageSource
from nst.progress import Progress

PACKAGE = Path(__file__).resolve().parent.parent  # nst/

ERRORS: dict[str, type[NSTError]] = {
    cls.__name__: cls
    for cls in (NSTError, SettingsError, ImageLoadError, WeightsError, DivergedError, VideoError, ClusterError)
}


@cache
def project_version() -> str:
    """This code's version: the release number and a digest of the engine's source files.

    Two checkouts with any difference in ``nst/`` (its subpackages too) have different
    versions, so a cluster worker started from an older copy is told apart from this one.
    """
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def picture_bytes(source: ImageSource) -> bytes:
    """A picture as bytes to send: a file's own bytes (decoded on the worker exactly as here), else PNG."""
    if isinstance(source, Image.Image):
        return png_bytes(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            return Path(source).read_bytes()
        except OSError as error:
            raise ImageLoadError(f"cannot read {source}: {error.strerror or error}") from error
    data = source.read()
    return data if isinstance(data, bytes) else bytes(data)


def styles_to_wire(style: ImageSource | Sequence[ImageSource]) -> dict[str, Any]:
    """One style picture or several (a blend) as plain data: ``styles`` and ``blend``."""
    styles = list(style) if isinstance(style, (list, tuple)) else [cast(ImageSource, style)]
    return {"styles": [picture_bytes(picture) for picture in styles], "blend": isinstance(style, (list, tuple))}


def styles_from_wire(wire: dict[str, Any]) -> bytes | list[bytes]:
    """The inverse of :func:`styles_to_wire`: one picture's bytes, or a list of them for a blend."""
    styles: list[bytes] = wire["styles"]
    return list(styles) if wire["blend"] else styles[0]


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def from_png(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        return opened.convert("RGB")


def progress_to_wire(progress: Progress, image: Image.Image | None = None) -> dict[str, Any]:
    """A record as plain data; its picture (or ``image`` in its place), when it has one, as PNG bytes."""
    fields = {field.name: getattr(progress, field.name) for field in dataclasses.fields(progress)}
    fields["losses"] = dict(progress.losses)
    picture = image if image is not None else progress.image
    fields["image"] = None if picture is None else png_bytes(picture)
    return fields


def progress_from_wire(wire: dict[str, Any]) -> Progress:
    image = wire["image"]
    return Progress(**{**wire, "size": tuple(wire["size"]), "image": None if image is None else from_png(image)})


def error_to_wire(error: NSTError) -> dict[str, Any]:
    """An engine error as plain data: its type's name, message, and the picture it carries."""
    last = getattr(error, "last_image", None)
    return {
        "error": type(error).__name__,
        "message": str(error),
        "step": getattr(error, "step", 0),
        "last_image": None if last is None else png_bytes(last),
    }


def error_from_wire(wire: dict[str, Any]) -> NSTError:
    kind = ERRORS.get(wire["error"], NSTError)
    last = None if wire["last_image"] is None else from_png(wire["last_image"])
    if kind is DivergedError:
        return DivergedError(wire["message"], step=wire["step"], last_image=last)
    if kind is ClusterError:
        return ClusterError(wire["message"], last_image=last, step=wire["step"])
    return kind(wire["message"])
