"""Colours per region (``--region-colours``): does a region in the photo's colours keep them, while the
other takes the painting's?

    python benchmarks/region_colours.py [--size 384] [--steps 60] [--strip assets/region-colours.jpg]

Tuebingen and The Starry Night from ../shared/images (else generated pictures); the photo's regions are
its sky and the rest (as ``benchmarks/style_masks.py`` finds them), each taking the whole painting.
Three runs, single scale, float32:

- *painting, painting*: both regions in the painting's colours (no colour choice);
- *painting, photo*: the sky in the painting's colours, the town in the photo's (``region_colours``);
- *whole picture*: ``preserve_colour histogram``, the photo's colours everywhere.

For each region of each result, how far its colours are from the photo's colours there and from the
painting's: the 2-Wasserstein distance between the two colour distributions taken as Gaussians (their
means and 3x3 covariances, RGB in 0-255). Near the photo's is a small first number; near the
painting's a small second one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from style_masks import photo_masks  # noqa: E402

from nst import Settings, build_extractor, transfer  # noqa: E402
from nst.colour import colour_statistics  # noqa: E402

from common import inputs, labelled_strip, machine, table  # noqa: E402

CASES = {
    "painting, painting": {},
    "painting, photo": {"region_colours": ("painting", "photo")},
    "whole picture": {"preserve_colour": "histogram"},
}


def gaussian(picture: Image.Image, mask: Image.Image | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The picture's colours (RGB 0-255) as a Gaussian, over the mask's region when given."""
    pixels = np.asarray(picture.convert("RGB"), np.float64).reshape(-1, 3)
    return colour_statistics(pixels, None if mask is None else mask.resize(picture.size))


def _root(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(values.clip(0))) @ vectors.T


def w2(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """2-Wasserstein distance between two Gaussians (mean, covariance)."""
    root = _root(a[1])
    cross = _root(root @ b[1] @ root)
    return float(np.sqrt(((a[0] - b[0]) ** 2).sum() + np.trace(a[1] + b[1] - 2 * cross)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--strip", type=Path)
    args = parser.parse_args()
    photo, painting, names = inputs()
    extractor = build_extractor("caffe", last_layer="relu5_1")
    settings = Settings(output_size=args.size, iterations=args.steps, scales=1, precision="float32", preview_every=0)
    masks = photo_masks(photo)
    theirs = gaussian(painting)
    results, rows = {}, []
    for case, changes in CASES.items():
        started = time.perf_counter()
        *_, last = transfer(photo, [painting, painting], settings.replace(**changes), extractor=extractor, masks=masks)
        seconds = time.perf_counter() - started
        results[case] = last.image
        for region, mask in zip(("sky", "town"), masks, strict=True):
            ours = gaussian(last.image, mask)
            rows.append([case, region, f"{w2(ours, gaussian(photo, mask)):.1f}", f"{w2(ours, theirs):.1f}",
                         f"{seconds:.0f}"])  # fmt: skip
    print(f"# {names}, {args.size} px, {args.steps} steps, float32; {machine()}")
    for region, mask in zip(("sky", "town"), masks, strict=True):
        print(f"# the photo's {region} itself: {w2(gaussian(photo, mask), theirs):.1f} from the painting's colours")
    print(table(["colours (sky, town)", "region", "from the photo's colours there", "from the painting's", "s"],
                rows))  # fmt: skip
    if args.strip:
        labelled_strip(args.strip, [("the photo", photo), *((f"sky, town: {name}" if "," in name else name, picture)
                                                             for name, picture in results.items())])  # fmt: skip


if __name__ == "__main__":
    main()
