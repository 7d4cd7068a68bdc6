"""What the whole server shares, made once per process with ``st.cache_resource``.

The VGG19 feature extractor is read-only and holds nothing of anyone's pictures, so one
per (weights, pooling, device) serves every browser session. The run queue is per device.
With ``NST_CLUSTER`` set, the main runs go to a Ray cluster instead (:func:`backend`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import streamlit as st
from PIL import Image

import nst
from nst import FeatureExtractor, Settings, examples
from nst.errors import NSTError
from nst.execution import CLUSTER_VARIABLE, FALLBACK_VARIABLE, Executor, executor_for
from nst.instant import InstantModel, model_for
from nst.limits import Limits
from nst.runqueue import RunQueue

LIMITS = Limits.from_env()  # upload size: server.maxUploadSize in .streamlit/config.toml
RETRY_SECONDS = 20  # a cluster that could not be used is tried again after this long


@st.cache_resource(show_spinner=False, max_entries=4)
def shared_extractor(weights: str, pooling: str, device: str) -> FeatureExtractor:
    """One VGG19 per (weights, pooling, device) for the whole server; it holds no user data."""
    return nst.build_extractor(weights, pooling=pooling, device=device)


@st.cache_resource(show_spinner=False, max_entries=2)
def shared_instant_model(device: str) -> InstantModel | str:
    """The one-pass networks for the whole server (read-only; the same ones the server's jobs use), or why
    they cannot be loaded."""
    try:
        return model_for(Settings(device=device))
    except NSTError as error:
        return str(error)


@st.cache_resource(show_spinner=False)
def run_queue(device: str) -> RunQueue:
    """One fair queue per device for the whole server: runs take turns instead of competing."""
    return RunQueue(LIMITS.runs_per_device)


@st.cache_resource(show_spinner=False)
def example_style(name: str) -> Image.Image:
    return examples.style(name, size=512)


@st.cache_resource(show_spinner=False)
def example_photo(name: str) -> Image.Image:
    return examples.photo(name)


@dataclass(frozen=True)
class Backend:
    """Where runs go: a cluster's executor, or this server (``cluster`` None: a local executor
    per turn on the device, :func:`webapp.turns.executor_turn`)."""

    cluster: Executor | None
    problem: str = ""  # why the cluster that was asked for is not used
    blocked: bool = False  # the cluster cannot be used and runs may not fall back to this server

    def describe(self) -> str:
        if self.cluster is not None:
            return self.cluster.describe()
        runs = LIMITS.runs_per_device
        return f"this server ({runs} run{'s' if runs > 1 else ''} at a time per device)"


def backend() -> Backend:
    """The server's backend, from ``NST_CLUSTER`` (local when unset) and ``NST_CLUSTER_FALLBACK``.

    A cluster that cannot be used now (unreachable, or no worker has joined yet) is tried
    again on a page's next rerun once :data:`RETRY_SECONDS` have passed: a page opened before
    the students' PCs joined starts using them without a restart of the server.
    """
    address = os.environ.get(CLUSTER_VARIABLE, "").strip()
    if address in ("", "local"):
        return Backend(None)
    failed = _failures().get(address)
    try:
        if failed is not None and time.monotonic() - failed[0] < RETRY_SECONDS:
            raise NSTError(failed[1])
        cluster = _cluster(address)
    except NSTError as error:
        if failed is None or time.monotonic() - failed[0] >= RETRY_SECONDS:  # it was tried just now
            _failures()[address] = (time.monotonic(), str(error))
        again = f" (tried again every {RETRY_SECONDS} s)"
        if os.environ.get(FALLBACK_VARIABLE, "").strip().lower() == "local":
            return Backend(
                None, f"{error}{again}. Runs are served by this server meanwhile ({FALLBACK_VARIABLE}=local)."
            )
        return Backend(None, f"{error}{again}. Set {FALLBACK_VARIABLE}=local to serve runs on this server meanwhile.",
                       blocked=True)  # fmt: skip
    _failures().pop(address, None)
    return Backend(cluster)


@st.cache_resource(show_spinner="Connecting to the cluster…")
def _cluster(address: str) -> Executor:
    """The cluster's executor, made once; a failure raises, and Streamlit keeps no raised result."""
    return executor_for(address, fallback="")


@st.cache_resource(show_spinner=False)
def _failures() -> dict[str, tuple[float, str]]:
    """For each address that failed: when, and why (so that a rerun does not wait on it again at once)."""
    return {}


def clear_backend() -> None:
    """Forget the cluster's executor and its failures (tests; the next page connects afresh)."""
    _cluster.clear()
    _failures.clear()
