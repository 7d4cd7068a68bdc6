"""Print sizes: a tiled step is the whole-picture step, leaves no seam and stays in its budget."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nst import Settings, SettingsError, transfer
from nst.commands import main
from nst.engine import layout_for
from nst.images import resize_longest, to_tensor
from nst.inputs import prepare_inputs
from nst.objective import objective
from nst.scale_targets import targets_at
from nst.schedule import Scale
from nst.targets import TargetCache
from nst.terms import build_terms
from nst.tiles import GB, margin_for, plan_layout, plan_tiles, tiled_grams, tiled_objective
from nst.winograd import reserved_bytes
from tests.conftest import make_content, make_style

ROOT = Path(__file__).resolve().parents[1]


def _photo_and_painting(size: int) -> tuple[Image.Image, Image.Image]:
    return make_content(size, size * 3 // 4), make_style(size // 2, size // 2)


def _borders(tiles, side: str) -> list[int]:
    """The picture rows (or columns) where one tile's core meets the next."""
    return sorted({tile.top if side == "rows" else tile.left for tile in tiles} - {0})


@pytest.mark.parametrize("style_loss", ["gram", "wasserstein"])
def test_a_tiled_step_gives_the_whole_picture_loss_and_gradient(caffe_extractor, style_loss) -> None:
    settings = Settings(output_size=320, precision="float32", tv_weight=5.0, style_loss=style_loss)
    photo, painting = _photo_and_painting(320)
    inputs = prepare_inputs(settings, photo, painting, None)
    content_t = to_tensor(resize_longest(inputs.content, 320))
    targets = targets_at(caffe_extractor, TargetCache(), settings, content_t, inputs, Scale(320, 1))
    torch.manual_seed(0)
    start = (content_t + 0.1 * torch.randn_like(content_t)).clamp(0, 1)  # (1, 3, 240, 320)

    whole = start.clone().requires_grad_(True)
    closure, expected = objective(caffe_extractor, build_terms(settings, targets), whole)
    closure()
    tiles = plan_tiles(240, 320, 50_000, margin_for(settings.content_layers + settings.style_layers))
    assert len(tiles) == 4  # 2 x 2, boxes of 208 x 240 px or less: cores of 128 x 160 and 80 px of margin
    tiled = start.clone().requires_grad_(True)
    closure, got = tiled_objective(caffe_extractor, build_terms(settings, targets), tiled, torch.float32, tiles)
    closure()

    for name in ("content", "style", "tv", "total"):  # the sums are the whole picture's, up to rounding
        assert got[name] == pytest.approx(expected[name], rel=1e-4), name
    error = (tiled.grad - whole.grad).abs().sum(1)[0]  # (H, W)
    size = whole.grad.abs().sum(1)[0].mean()
    near = torch.zeros_like(error, dtype=torch.bool)
    for row in _borders(tiles, "rows"):
        near[max(0, row - 16) : row + 16] = True
    for column in _borders(tiles, "columns"):
        near[:, max(0, column - 16) : column + 16] = True
    assert near.any() and (~near).any()
    # The margin covers relu5_1's reach (70 px), so every core activation is the whole picture's
    # and the tiles' added gradients make up the whole one at the borders as well as away from them.
    # The Wasserstein loss's eigenvalue solve magnifies the sums' float32 rounding a little.
    bound = {"gram": 0.002, "wasserstein": 0.004}[style_loss]
    assert float(error[~near].mean() / size) < bound
    assert float(error[near].mean() / size) < bound


@pytest.mark.parametrize("style_loss", ["gram", "wasserstein"])
def test_tiled_targets_are_the_whole_picture_targets(caffe_extractor, style_loss) -> None:
    picture = to_tensor(make_style(448, 256))
    whole = tiled_grams(caffe_extractor, picture, ("relu1_1", "relu3_1", "relu5_1"), None, loss=style_loss)
    boxes = []

    def counting(box, layers, visit=None):  # the network, noting the size of every box it reads
        boxes.append(tuple(box.shape[-2:]))
        return caffe_extractor(box, layers, visit=visit)

    tiled = tiled_grams(counting, picture, ("relu1_1", "relu3_1", "relu5_1"), 200_000_000, loss=style_loss)
    assert len(boxes) == 2 and all(h * w < 256 * 448 for h, w in boxes), boxes  # read in two tiles
    for name in whole:
        error = float((tiled[name] - whole[name]).norm() / whole[name].norm())
        assert error < 1e-3, name
    features = tiled_grams(caffe_extractor, picture, ("relu4_2",), 150_000_000, features=True)["relu4_2"]
    expected = tiled_grams(caffe_extractor, picture, ("relu4_2",), None, features=True)["relu4_2"]
    assert features.shape == expected.shape == (1, 512, 32, 56)
    assert float((features - expected).abs().mean() / expected.abs().mean()) < 0.01


def test_a_result_made_in_tiles_shows_no_seam_at_the_tile_borders(caffe_extractor) -> None:
    # The generated photo's edges sit at fixed fractions of its width; this crop keeps them at least
    # 37 px from the tile borders (every 96 px across, 240 down), so a step there is what the run adds.
    photo, painting = make_content(760, 480).crop((15, 0, 655, 480)), make_style(320, 320)
    # 4 tiled L-BFGS boxes: 0.74 GB and what Winograd's convolutions hold where this CPU uses them
    # (0.95 GB in all on an AVX2 CPU; on one with AVX-512 they are not used and 0.95 GB needs no tiles).
    budget = int(0.74 * GB) + reserved_bytes(640 * 480, caffe_extractor.device, torch.float32)
    settings = Settings(output_size=640, scales=1, iterations=6, precision="float32", memory_budget=budget / GB)
    layout = layout_for(settings, (640, 480), budget, torch.float32, 0, caffe_extractor.device)
    assert layout.tiled and layout.optimizer == "lbfgs", "the budget must force tiles"
    last = list(transfer(photo, painting, settings, extractor=caffe_extractor))[-1]
    assert last.image is not None and last.image.size == (640, 480)
    pixels = np.asarray(last.image, dtype=np.float32)
    start = np.asarray(photo.resize((640, 480)), dtype=np.float32)
    assert np.abs(pixels - start).mean() > 5, "the run must have changed the picture"
    across_columns = np.abs(np.diff(pixels, axis=1)).mean(axis=(0, 2))  # between column x and x+1
    across_rows = np.abs(np.diff(pixels, axis=0)).mean(axis=(1, 2))
    columns, rows = _borders(layout.tiles, "columns"), _borders(layout.tiles, "rows")
    assert columns or rows
    for steps, borders in ((across_columns, columns), (across_rows, rows)):
        if borders:  # the step across each border stands out from none but the picture's own largest tenth
            at = np.zeros(len(steps), dtype=bool)
            at[[border - 1 for border in borders]] = True
            assert steps[at].max() <= np.percentile(steps[~at], 90), (steps[at], np.percentile(steps[~at], 90))


PEAK = r"""
import json, sys
import torch
from nst import Settings, build_extractor, transfer
from tests.conftest import make_content, make_style

def rss_kb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))

torch.set_num_threads(2)
budget = float(sys.argv[1])
extractor = build_extractor("caffe", last_layer="relu5_1")
photo, painting = make_content(768, 576), make_style(384, 384)
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")  # start the peak (VmHWM) afresh, with the model loaded
base = rss_kb("VmRSS")
settings = Settings(output_size=768, scales=1, iterations=1, precision="float32", memory_budget=budget)
for progress in transfer(photo, painting, settings, extractor=extractor):
    pass
print(json.dumps({"peak_mb": (rss_kb("VmHWM") - base) / 1024}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measures Linux's peak resident memory")
def test_peak_memory_stays_within_the_budget_when_tiled() -> None:
    def peak(budget: float) -> float:
        done = subprocess.run([sys.executable, "-c", PEAK, str(budget)], cwd=ROOT, capture_output=True, text=True,
                              timeout=600, check=True)  # fmt: skip
        return float(json.loads(done.stdout.splitlines()[-1])["peak_mb"])

    whole, tiled = peak(0), peak(0.7)  # 768x576 float32: about 0.9 GB whole; 10 tiles in 0.7 GB
    assert whole > 0.7 * 1024, "the whole-picture step must need more than the budget, or the test proves nothing"
    assert tiled < 0.7 * 1024, (tiled, whole)


def test_a_budget_too_small_is_refused_with_a_message() -> None:
    with pytest.raises(SettingsError, match=r"too small for 4096x3072 px: it needs at least [\d.]+ GB"):
        plan_layout(3072, 4096, budget=GB // 2, precision=torch.float32, optimizer="lbfgs", whole_history=6)
    photo, painting = _photo_and_painting(64)
    with pytest.raises(SettingsError, match="too small"):  # refused before any work
        next(transfer(photo, painting, Settings(output_size=1024, memory_budget=0.01)))
    with pytest.raises(SettingsError, match="memory_budget"):
        Settings(memory_budget=-1)


def test_the_command_line_takes_a_budget_and_writes_the_dpi(tmp_path, capsys) -> None:
    photo, painting = _photo_and_painting(96)
    photo.save(tmp_path / "photo.png")
    painting.save(tmp_path / "painting.png")
    out = tmp_path / "out.png"
    args = [str(tmp_path / "photo.png"), str(tmp_path / "painting.png"), "-o", str(out), "--size", "64", "-n", "3"]
    assert main([*args, "-q", "--dpi", "150"]) == 0
    assert Image.open(out).info["dpi"] == pytest.approx((150, 150), abs=0.05)  # PNG stores dots per metre
    assert main([*args, "-q", "--size", "1024", "--memory-budget", "0.01"]) == 2
    assert "memory budget of 0.01 GB is too small" in capsys.readouterr().err
