"""Scale per style (``--coarse-styles``): does the result take its fine strokes from one painting and its
large shapes from another?

    python benchmarks/scale_mix.py [--size 384] [--steps 60] [--mix-steps 50 100 200] [--strip assets/scale-mix.jpg]

Tuebingen, The Starry Night (the fine strokes) and The Scream (the large shapes), from ../shared/images.
First the mixed style picture is made with each number of repainting steps (the seconds, and how
close it is: its Gram error at the fine layers against The Starry Night, at the deeper layers
against The Scream). Then three runs on the photo, single scale, float32: The Starry Night alone, The
Scream alone, and the mixed picture (``nst.scale_mix.MIX_STEPS`` steps); for each result, its Gram
error against each painting at the fine layers (relu1_1, relu2_1) and at the deep ones (relu3_1 to
relu5_1). Lower is closer.
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
from nst.scale_mix import FINE_LAYERS, MIX_STEPS, mixed_style  # noqa: E402
from nst.scale_targets import fit_style  # noqa: E402

from common import SHARED_IMAGES, labelled_strip, machine, table  # noqa: E402

FINE = FINE_LAYERS  # the layers the repainting matches
DEEP = ("relu3_1", "relu4_1", "relu5_1")


def errors(extractor, picture: Image.Image, painting: Image.Image, layers: tuple[str, ...]) -> float:
    """Mean relative Gram error of ``picture`` against ``painting`` (fitted to the picture's size) over ``layers``."""
    size = max(picture.size)
    with torch.no_grad():
        ours = extractor(to_tensor(picture), layers)
        theirs = extractor(to_tensor(fit_style(painting, size, 32)), layers)
        return float(torch.stack([relative_squared_error(gram_matrix(ours[n]), gram_matrix(theirs[n]))
                                  for n in layers]).mean())  # fmt: skip


def scores(extractor, picture: Image.Image, fine: Image.Image, coarse: Image.Image) -> list[str]:
    """The four columns: fine layers against each painting, then deep layers against the coarse one and the fine."""
    pairs = ((fine, FINE), (coarse, FINE), (coarse, DEEP), (fine, DEEP))
    return [f"{errors(extractor, picture, painting, layers):.3f}" for painting, layers in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--mix-steps", type=int, nargs="+", default=[25, MIX_STEPS, 100, 200])
    parser.add_argument("--strip", type=Path)
    args = parser.parse_args()
    photo, fine, coarse = (Image.open(SHARED_IMAGES / name).convert("RGB")
                           for name in ("tubingen.jpg", "starry_night.jpg", "the_scream.jpg"))  # fmt: skip
    extractor = build_extractor("caffe", last_layer="relu5_1")
    settings = Settings(output_size=args.size, iterations=args.steps, scales=1, precision="float32", preview_every=0)
    print(f"# tubingen.jpg; fine: starry_night.jpg, coarse: the_scream.jpg; {args.size} px, float32; {machine()}")
    rows, mixed = [], None
    for steps in args.mix_steps:
        started = time.perf_counter()
        picture = mixed_style(fine, coarse, settings, extractor, steps=steps)
        seconds = time.perf_counter() - started
        mixed = picture if steps == MIX_STEPS or mixed is None else mixed
        rows.append([str(steps), f"{seconds:.0f}", *scores(extractor, picture, fine, coarse)])
    for name, painting in (("The Starry Night itself", fine), ("The Scream itself", coarse)):
        rows.append([name, "", *scores(extractor, painting, fine, coarse)])
    print("The mixed style picture:")
    print(table(["repainting steps", "s", "fine vs Starry Night", "fine vs Scream", "deep vs Scream",
                 "deep vs Starry Night"], rows))  # fmt: skip
    assert mixed is not None
    results, rows = {}, []
    for name, style in (("The Starry Night", fine), ("The Scream", coarse), ("mixed", mixed)):
        started = time.perf_counter()
        *_, last = transfer(photo, style, settings, extractor=extractor)
        seconds = time.perf_counter() - started
        results[name] = last.image
        rows.append([name, *scores(extractor, last.image, fine, coarse), f"{seconds:.0f}"])
    print(f"The photo, {args.steps} steps:")
    print(table(["style", "fine vs Starry Night", "fine vs Scream", "deep vs Scream", "deep vs Starry Night", "s"],
                rows))  # fmt: skip
    if args.strip:
        labelled_strip(args.strip, [("fine: The Starry Night", fine), ("coarse: The Scream", coarse), ("mixed", mixed),
                            *((f"photo in {name}", picture) for name, picture in results.items())])  # fmt: skip


if __name__ == "__main__":
    main()
