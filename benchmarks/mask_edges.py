"""Regions: how far does one region's style bleed into its neighbour, with soft and with eroded ("inside") masks?

    python benchmarks/mask_edges.py [--size 384] [--steps 60] [--strip FILE]

Tuebingen (else a generated picture) split down the middle: its left half takes The Starry
Night, its right half The Scream (else generated paintings). One run per ``Settings.mask_edges``
(single scale, float32, the same seed). For bands of the result 16 px wide on each side of the
edge, at growing distance from it, the band's relative Gram error (relu1_1..relu3_1, the band's
guided Gram matrices) against its own half's painting divided by its error against the other
half's: below 1 the band looks like its own painting, near or above 1 the neighbour's has bled
in. Both halves' bands are averaged at each distance. ``--strip`` saves both results.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from nst import Settings, build_extractor, transfer  # noqa: E402
from nst.images import to_tensor  # noqa: E402
from nst.losses import gram_matrix, relative_squared_error  # noqa: E402

from common import SHARED_IMAGES, inputs, machine, table  # noqa: E402

LAYERS = ("relu1_1", "relu2_1", "relu3_1")
BAND = 16  # px


def band_error(extractor, picture: torch.Tensor, band: slice, painting: torch.Tensor) -> float:
    """Relative Gram error of the picture's columns ``band`` against the painting."""
    with torch.no_grad():
        ours, theirs = extractor(picture, LAYERS), extractor(painting, LAYERS)
        width = picture.shape[-1]
        errors = []
        for name in LAYERS:
            h, w = ours[name].shape[-2:]
            mask = torch.zeros(1, 1, h, w)
            mask[
                ...,
                round(band.start * w / width) : max(round(band.stop * w / width), round(band.start * w / width) + 1),
            ] = 1
            errors.append(relative_squared_error(gram_matrix(ours[name] * mask, float(mask.sum())),
                                                 gram_matrix(theirs[name])))  # fmt: skip
    return float(torch.stack(errors).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--strip", type=Path)
    args = parser.parse_args()
    photo, left_painting, names = inputs()
    scream = SHARED_IMAGES / "the_scream.jpg"
    right_painting = (Image.open(scream).convert("RGB") if scream.exists()
                      else left_painting.transpose(Image.Transpose.ROTATE_90))  # fmt: skip
    extractor = build_extractor("caffe", last_layer="relu5_1")
    settings = Settings(output_size=args.size, iterations=args.steps, scales=1, precision="float32", preview_every=0)
    width, height = photo.size
    left = Image.new("L", (width, height), 0)
    left.paste(255, (0, 0, width // 2, height))
    masks = [left, Image.eval(left, lambda v: 255 - v)]
    paintings = [to_tensor(p.resize((args.size, round(args.size * p.height / p.width))))
                 for p in (left_painting, right_painting)]  # fmt: skip
    distances = (0, 16, 32, 48, 64, 96)
    rows, results = [], {}
    for edges in ("soft", "inside"):
        started = time.perf_counter()
        *_, last = transfer(photo, [left_painting, right_painting], settings.replace(mask_edges=edges),
                            extractor=extractor, masks=masks)  # fmt: skip
        seconds = time.perf_counter() - started
        results[edges] = last.image
        picture = to_tensor(last.image)
        middle = picture.shape[-1] // 2
        ratios = []
        for d in distances:
            own_left = band_error(extractor, picture, slice(middle - d - BAND, middle - d), paintings[0])
            other_left = band_error(extractor, picture, slice(middle - d - BAND, middle - d), paintings[1])
            own_right = band_error(extractor, picture, slice(middle + d, middle + d + BAND), paintings[1])
            other_right = band_error(extractor, picture, slice(middle + d, middle + d + BAND), paintings[0])
            ratios.append((own_left / other_left + own_right / other_right) / 2)
        rows.append([edges, *(f"{r:.3f}" for r in ratios), f"{seconds:.0f}"])
    print(f"# {names} + the_scream.jpg, {args.size} px, {args.steps} steps, float32; {machine()}")
    print(table(["mask edges", *(f"{d}-{d + BAND} px from the edge" for d in distances), "s"], rows))
    if args.strip:
        both = list(results.values())
        sheet = Image.new("RGB", (sum(p.width for p in both) + 8, both[0].height), "white")
        sheet.paste(both[0], (0, 0))
        sheet.paste(both[1], (both[0].width + 8, 0))
        sheet.save(args.strip, quality=88)
        print(f"saved {args.strip}: soft (left), inside (right)")


if __name__ == "__main__":
    main()
