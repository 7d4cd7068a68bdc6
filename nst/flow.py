"""Optical flow between video frames, warping along it, and where the warp can be trusted.

Video without flicker (:mod:`nst.video`) starts each frame from the previous stylised frame
carried along the scene's motion, and keeps it close to that wherever the motion is known
(Ruder, Dosovitskiy and Brox, "Artistic style transfer for videos", 2016). The motion is
OpenCV's DIS optical flow (Kroeger et al., "Fast optical flow using dense inverse search",
2016), computed on the photo frames, not on the stylised ones. DIS is dense, follows the
large displacements of hand-held footage through its coarse-to-fine patch search, and is
fast: about 20 ms for a 512 px frame on a 2-core CPU (Farneback's: about 35 ms; the
DeepFlow and EpicFlow Ruder et al. used are slower and not in OpenCV's main package), so
the flow costs nothing beside the optimisation's steps (``benchmarks/video.py``).

Flows here are ``(H, W, 2)`` float32 arrays of ``(dx, dy)`` in pixels. ``flow(a, b)`` maps
each pixel ``p`` of frame ``a`` to where it is seen in frame ``b``: ``a(p) ~ b(p + flow(p))``.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

# Ruder et al.'s thresholds for the forward-backward check and for motion boundaries, where
# the flow of a pixel cannot be trusted (their equations 4 and 5).
CONSISTENCY_SCALE, CONSISTENCY_SLACK = 0.01, 0.5
BOUNDARY_SCALE, BOUNDARY_SLACK = 0.01, 0.002
# Their consistency checker's smoothing: occluded pixels count as -1 (distrust), motion boundaries
# as 0, the rest as 1; a Gaussian of this sigma, then clipped to [0, 1]. Distrust spreads 1-2 px past
# an occlusion's edge, where bilinear warping mixes foreground and background.
TRUST_SIGMA = 0.8


def optical_flow(first: Image.Image, second: Image.Image) -> np.ndarray:
    """Dense flow from ``first`` to ``second`` (pictures of the same size), DIS at its medium preset.

    Examples:
        >>> flow = optical_flow(frame_a, frame_b)  # doctest: +SKIP
        >>> flow.shape  # (height, width, 2): dx, dy in pixels  # doctest: +SKIP
        (288, 512, 2)
    """
    if first.size != second.size:
        raise ValueError(f"frames of different sizes: {first.size} and {second.size}")
    dis = cv2.DISOpticalFlow.create(cv2.DISOpticalFlow_PRESET_MEDIUM)
    width, height = first.size
    flow = dis.calc(_grey(first), _grey(second), np.zeros((height, width, 2), dtype=np.float32))
    return np.asarray(flow, dtype=np.float32)


def warp(picture: Image.Image, flow: np.ndarray) -> Image.Image:
    """``picture`` (frame ``b``) carried into frame ``a``'s pixels along ``flow(a, b)``:
    each pixel ``p`` of the result is ``picture(p + flow(p))``, bilinear; pixels whose source
    falls outside the picture take the nearest edge pixel.
    """
    pixels = np.asarray(picture.convert("RGB"))
    xs, ys = _sample_points(flow)
    moved = cv2.remap(pixels, xs, ys, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return Image.fromarray(moved)


def certainty(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Where a picture warped along ``backward`` = flow(current, previous) can be trusted:
    a ``(H, W)`` float32 array from 0 (disoccluded, on a motion boundary, coming from outside
    the previous frame, or beside such a pixel) to 1 (trusted).

    ``forward`` = flow(previous, current). A pixel seen in both frames goes there and back
    to where it started, so ``backward(p) + forward(p + backward(p))`` is about zero; where
    it is not, the pixel was hidden in the previous frame (Ruder et al.'s equation 4).
    Pixels at the edges of moving objects, where the flow changes fast, are left out too
    (their equation 5). The verdicts are then smoothed as their consistency checker does
    (:data:`TRUST_SIGMA`).
    """
    height, width = backward.shape[:2]
    xs, ys = _sample_points(backward)
    there = cv2.remap(forward, xs, ys, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    round_trip = np.sum((backward + there) ** 2, axis=2)
    scale = np.sum(backward**2, axis=2) + np.sum(there**2, axis=2)
    consistent = round_trip <= CONSISTENCY_SCALE * scale + CONSISTENCY_SLACK
    dx_dy = [np.gradient(backward[..., k]) for k in range(2)]  # per component: (d/dy, d/dx)
    change: np.ndarray = sum((part**2 for pair in dx_dy for part in pair), np.zeros_like(backward[..., 0]))
    calm = change <= BOUNDARY_SCALE * np.sum(backward**2, axis=2) + BOUNDARY_SLACK
    inside = (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)
    seen = consistent & inside
    verdict = np.where(seen, np.where(calm, 1.0, 0.0), -1.0).astype(np.float32)
    if TRUST_SIGMA > 0:
        verdict = np.asarray(cv2.GaussianBlur(verdict, (0, 0), TRUST_SIGMA, borderType=cv2.BORDER_REPLICATE))
    return np.clip(verdict, 0.0, 1.0).astype(np.float32)


def _grey(picture: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(picture.convert("L")))


def _sample_points(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The absolute coordinates ``p + flow(p)``, as the two float32 maps ``cv2.remap`` takes."""
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return grid_x + flow[..., 0], grid_y + flow[..., 1]
