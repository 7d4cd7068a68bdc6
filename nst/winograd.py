"""VGG19's 3x3 convolutions by Winograd's minimal filtering (NNPACK) on AVX2 CPUs in float32.

On a CPU without AVX-512, the laptop kind, oneDNN computes a 3x3 convolution directly; the
NNPACK library that ships inside PyTorch computes it with Winograd's F(6x6, 3x3) transform,
which needs about a quarter of the multiplications. For VGG19's convolutions at 512 px it
takes 0.34 to 0.69 times oneDNN's time for the forward pass and the input's gradient
together, 0.51 times over the 13 up to conv5_1 (measured on a 2-core AMD EPYC without
AVX-512, ``benchmarks/winograd_layers.py``), and each layer's gradient agrees with oneDNN's
to about 1e-5 of its norm.

PyTorch itself only picks NNPACK for batches of 16 or more and never for the backward pass,
so the picture's gradient is made here: for a stride-1 convolution padded by 1 it is the
same convolution of the output's gradient with the kernel transposed (in and out channels
swapped) and turned by 180 degrees. No weight gradient is made (the network is frozen), and
nothing is kept for the backward pass but the turned kernel.

NNPACK keeps a work buffer per thread that grows to the largest input it has seen (about 3.6
times that input's bytes) and is never given back, so a large input is convolved in strips
of rows (each with its neighbours' edge rows): the buffer stays near :data:`STRIP_ELEMENTS`
times 3.6 floats whatever the picture's size, and the memory budget's plans count it
(:func:`reserved_bytes`). Strips cost time (each call has its own set-up): a 64-channel map
of 512x384 takes 0.095 s whole, 0.16 s in strips of 8 M values, 0.20 s in strips of 4 M.

Used where all of these hold: the picture is on the CPU in float32 (not under bfloat16
autocast), the layer's map has at least :data:`MIN_PIXELS` positions, PyTorch has NNPACK, and
the CPU runs PyTorch's AVX2 kernels (the only kind measured). ``NST_WINOGRAD=0`` turns it
off, ``NST_WINOGRAD=1`` on wherever NNPACK runs.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

STRIP_ELEMENTS = 8 * 2**20  # input values per NNPACK call, at most: a work buffer of about 120 MB
WORK_BYTES_PER_VALUE = 20  # NNPACK's buffer per input value of one call, with the heap's slack (a
# step's peak above oneDNN's: 111 MB at 512x384 in strips of 8 M; 185 MB and 396 MB at 512x384 and
# 1024x768 in strips of 16 M)
TURNED_BYTES = 52 * 2**20  # the turned kernels up to conv5_1
MIN_PIXELS = 1500  # smaller maps go to oneDNN: NNPACK transforms the kernel at every call, which
# then costs more than it saves (512 channels at 24x33: 0.94x oneDNN's time, at 12x16: 2.5x; at 34x46: 0.65x)
MEASURED_CAPABILITIES = ("AVX2",)  # where NNPACK was measured faster than oneDNN


@functools.cache
def nnpack_ready() -> bool:
    """Whether PyTorch has NNPACK here; the first call also initialises it (it must be, once)."""
    try:
        return bool(torch._nnpack_available())
    except RuntimeError:
        return False


def wanted() -> bool:
    """Whether this process uses Winograd convolutions where they apply (see the module's notes)."""
    choice = os.environ.get("NST_WINOGRAD", "auto").strip().lower()
    if choice in ("0", "off", "false", "no"):
        return False
    if not nnpack_ready():
        return False
    return choice in ("1", "on", "true", "yes") or torch.backends.cpu.get_cpu_capability() in MEASURED_CAPABILITIES


def applies(x: torch.Tensor, conv: nn.Conv2d) -> bool:
    """Whether this convolution of ``x`` goes through NNPACK: VGG19's kind, on the CPU, in float32."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and conv.weight.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")
        and conv.kernel_size == (3, 3)
        and conv.stride == (1, 1)
        and conv.padding == (1, 1)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and x.shape[-2] * x.shape[-1] >= MIN_PIXELS
        and not torch.compiler.is_compiling()  # NNPACK has no fake-tensor kernel for TorchInductor to trace
        and wanted()
    )


def reserved_bytes(pixels: int, device: torch.device, precision: torch.dtype) -> int:
    """What a run at ``pixels`` holds above oneDNN's for Winograd: the work buffer of its largest
    convolution (64 channels at full size, or a strip; once grown it stays, so tiles of the same
    picture are counted the same) and the turned kernels; 0 where Winograd is not used. The
    memory budget's plans count it (nst.tiles)."""
    if device.type != "cpu" or precision != torch.float32 or not wanted():
        return 0
    return TURNED_BYTES + WORK_BYTES_PER_VALUE * min(STRIP_ELEMENTS, 64 * pixels)


def turned(weight: torch.Tensor) -> torch.Tensor:
    """The kernel whose convolution is the transposed one: channels swapped, turned by 180 degrees
    (a normal tensor even when first asked for under ``torch.inference_mode``: autograd keeps it)."""
    with torch.inference_mode(False):
        return weight.detach().transpose(0, 1).flip(2, 3).contiguous()


def convolve(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A 3x3 convolution, stride 1, zero padding 1, in strips of rows where ``x`` is large."""
    x = x.contiguous()
    height = x.shape[-2]
    rows = max(1, STRIP_ELEMENTS // max(1, x.shape[0] * x.shape[1] * x.shape[-1]))
    if rows >= height:
        return torch._nnpack_spatial_convolution(x, weight, bias, [1, 1])
    strips = []
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        strip = x[..., max(0, top - 1) : bottom + 1, :]
        above, below = int(top == 0), int(bottom == height)  # zero rows where the picture ends
        if above or below:
            strip = F.pad(strip, (0, 0, above, below))
        strips.append(torch._nnpack_spatial_convolution(strip.contiguous(), weight, bias, [0, 1]))
    return torch.cat(strips, dim=-2)


class _Conv3x3(torch.autograd.Function):
    """The convolution and the picture's gradient through it, both by :func:`convolve`."""

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, back: torch.Tensor
    ) -> torch.Tensor:
        ctx.save_for_backward(back)
        return convolve(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        (back,) = ctx.saved_tensors
        return convolve(grad, back, None), None, None, None


def conv3x3(x: torch.Tensor, conv: nn.Conv2d, back: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` by Winograd; ``back`` is :func:`turned` of its weight (kept by the caller)."""
    if not (torch.is_grad_enabled() and x.requires_grad):  # targets, scores: no backward pass
        return convolve(x, conv.weight, conv.bias)
    return _Conv3x3.apply(x, conv.weight, conv.bias, back)  # type: ignore[no-any-return]
