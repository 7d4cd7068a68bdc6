"""What the whole server shares, made once per process with ``st.cache_resource``.

The VGG19 feature extractor is read-only and holds nothing of anyone's pictures, so one
per (weights, pooling, device) serves every browser session. The run queue is per device.
"""

from __future__ import annotations

import streamlit as st
from PIL import Image

import nst
from nst import FeatureExtractor, examples
from nst.limits import Limits
from nst.runqueue import RunQueue

LIMITS = Limits.from_env()  # upload size: server.maxUploadSize in .streamlit/config.toml


@st.cache_resource(show_spinner=False, max_entries=4)
def shared_extractor(weights: str, pooling: str, device: str) -> FeatureExtractor:
    """One VGG19 per (weights, pooling, device) for the whole server; it holds no user data."""
    return nst.build_extractor(weights, pooling=pooling, device=device)


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
