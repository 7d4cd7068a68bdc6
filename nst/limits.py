"""The limits that keep a shared server (a classroom) responsive, in one place.

Defaults suit a laptop or a small shared server. Each can be changed without touching the
code through an environment variable (``NST_MAX_INPUT_MEGAPIXELS=80 streamlit run ...``).
The upload size in megabytes is Streamlit's own ``server.maxUploadSize`` in
``.streamlit/config.toml``; README.md, "Limits", lists them all.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from nst.errors import SettingsError

ENV_PREFIX = "NST_"


@dataclass(frozen=True)
class Limits:
    """What one run may ask for. Read with :meth:`from_env`."""

    max_input_megapixels: float = 40.0  # larger JPEGs decode at 1/2..1/8 size, other formats are refused
    max_output_size_cpu: int = 1024  # longest side of a result on a CPU (about 3.5 GB, 6-12 s per step)
    max_output_size_gpu: int = 2048  # on a CUDA or MPS device
    max_iterations: int = 1000  # per run (Continue starts a new run)
    runs_per_device: int = 1  # runs at once per device; more sessions wait in a fair queue
    max_kept_side: int = 2048  # uploads are kept in the session at most this large (memory per session)

    @property
    def max_input_pixels(self) -> int:
        return int(self.max_input_megapixels * 1_000_000)

    def max_output_size(self, device: str) -> int:
        """The largest output size for a device name such as ``cpu``, ``cuda:0`` or ``mps``."""
        return self.max_output_size_cpu if device.startswith("cpu") else self.max_output_size_gpu

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Limits:
        """Defaults, overridden by ``NST_<FIELD NAME IN CAPITALS>`` variables.

        Raises:
            SettingsError: a variable is not a positive number.
        """
        environ = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            name = ENV_PREFIX + field.name.upper()
            if name not in environ:
                continue
            kind = float if field.type in (float, "float") else int
            try:
                value = kind(environ[name])
            except ValueError:
                kind_name = "whole" if kind is int else "decimal"
                raise SettingsError(f"{name} must be a {kind_name} number, not {environ[name]!r}") from None
            if value <= 0:
                raise SettingsError(f"{name} must be more than zero, not {environ[name]!r}")
            values[field.name] = value
        return cls(**values)
