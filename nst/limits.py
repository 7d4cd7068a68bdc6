"""The limits that keep a shared server (a classroom) responsive, in one place.

Defaults suit a laptop or a small shared server. Each can be changed without touching the
code through an environment variable (``NST_MAX_INPUT_MEGAPIXELS=80 streamlit run ...``).
The upload size in megabytes is Streamlit's own ``server.maxUploadSize`` in
``.streamlit/config.toml``; docs/app.md, "Limits", lists them all.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nst.errors import SettingsError
from nst.settings import Settings

ENV_PREFIX = "NST_"


@dataclass(frozen=True)
class Limits:
    """What one run may ask for. Read with :meth:`from_env`."""

    max_input_megapixels: float = 40.0  # larger JPEGs decode at 1/2..1/8 size, other formats are refused
    max_output_size_cpu: int = 4096  # on a CPU: from about 1200 px up, steps work in tiles within the memory
    # budget (nst.tiles); a 4096 px print takes minutes a step on a 2-core CPU (docs/performance.md)
    max_output_size_gpu: int = 8192  # on a CUDA or MPS device
    max_iterations: int = 1000  # steps per run (Continue starts a new run)
    runs_per_device: int = 1  # runs at once per device; more sessions wait in a fair queue
    max_kept_side: int = 2048  # uploads are kept in the session at most this large (memory per session)
    max_video_seconds: float = 10.0  # the app's clips: a frame takes tens of seconds on a CPU (nst.video)
    max_video_seconds_cli: float = 600.0  # the command line's: a machine of one's own, hours of work at most
    max_video_megapixels: float = 8.3  # frames up to 4K (3840x2160) are read, then shrunk to the output size

    @property
    def max_input_pixels(self) -> int:
        return int(self.max_input_megapixels * 1_000_000)

    def max_output_size(self, device: str) -> int:
        """The largest output size for a device name such as ``cpu``, ``cuda:0`` or ``mps``."""
        return self.max_output_size_cpu if device.startswith("cpu") else self.max_output_size_gpu

    def check(self, settings: Settings, device: str) -> None:
        """Refuse a run that asks for more than these limits allow on ``device`` (a resolved name).

        Raises:
            SettingsError: the output size or the number of iterations is over the limit.

        Examples:
            >>> Limits().check(Settings(output_size=6000), "cpu")
            Traceback (most recent call last):
            ...
            nst.errors.SettingsError: this server makes pictures up to 4096 px on cpu; choose a smaller output size
        """
        largest = self.max_output_size(device)
        if settings.output_size > largest:
            raise SettingsError(
                f"this server makes pictures up to {largest} px on {device}; choose a smaller output size"
            )
        if settings.iterations > self.max_iterations:
            raise SettingsError(f"this server runs at most {self.max_iterations} steps at a time")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Defaults, overridden by ``NST_<FIELD NAME IN CAPITALS>`` variables.

        Raises:
            SettingsError: a variable is not a positive number.
        """
        env: Mapping[str, str] = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            name = ENV_PREFIX + field.name.upper()
            if name not in env:
                continue
            kind: type[float] | type[int] = float if field.type in (float, "float") else int
            try:
                value = kind(env[name])
            except ValueError:
                kind_name = "whole" if kind is int else "decimal"
                raise SettingsError(f"{name} must be a {kind_name} number, not {env[name]!r}") from None
            if value <= 0:
                raise SettingsError(f"{name} must be more than zero, not {env[name]!r}")
            values[field.name] = value
        return cls(**values)
