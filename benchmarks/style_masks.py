"""The painting's own regions (``--style-masks``): does each part of the painting land on its region of the photo?

    python benchmarks/style_masks.py [--size 384] [--steps 60] [--strip assets/style-masks.jpg]

Tuebingen and The Starry Night from ../shared/images (else generated pictures). The photo's
regions: its sky (blue, bright, in the upper half) and the rest. The painting's: its sky (the
upper 62%) and its village and cypress (the rest). Two runs, single scale, float32:

- *whole painting*: both regions take the whole painting (masks on the photo only);
- *style masks*: the photo's sky takes the painting's sky, the rest its village.

For each run and each region of the result, the relative Gram error (relu1_1..relu4_1) against
each part of the painting: a region matched to its own part has a lower error against it than
against the other part. ``--strip`` saves the masks and both results side by side.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from nst import Settings, build_extractor, transfer  # noqa: E402
from nst.images import to_tensor  # noqa: E402
from nst.losses import gram_matrix, relative_squared_error  # noqa: E402

from common import inputs, labelled_strip, machine, table  # noqa: E402

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
SKY_SHARE = 0.62  # of the painting's height


def photo_masks(photo: Image.Image) -> list[Image.Image]:
    pixels = np.asarray(photo, dtype=np.int32)
    h, w = pixels.shape[:2]
    yy = np.mgrid[0:h, 0:w][0]
    sky = (pixels[..., 2] > pixels[..., 0] + 40) & (pixels[..., 2] > 140) & (yy < 0.55 * h)
    if sky.mean() < 0.05:  # generated pictures: the upper half
        sky = yy < h // 2
    return [Image.fromarray((m * 255).astype(np.uint8)) for m in (sky, ~sky)]


def painting_masks(painting: Image.Image) -> list[Image.Image]:
    w, h = painting.size
    top = Image.new("L", (w, h), 0)
    top.paste(255, (0, 0, w, round(SKY_SHARE * h)))
    return [top, Image.eval(top, lambda v: 255 - v)]


def error(extractor, picture: torch.Tensor, mask: np.ndarray, part: Image.Image) -> float:
    """Relative Gram error of the picture's masked positions against the painting's part."""
    with torch.no_grad():
        ours = extractor(picture, LAYERS)
        theirs = extractor(to_tensor(part), LAYERS)
        errors = []
        for name in LAYERS:
            h, w = ours[name].shape[-2:]
            m = torch.from_numpy(np.asarray(Image.fromarray(mask).resize((w, h)), dtype=np.float32) / 255)[None, None]
            guided = gram_matrix(ours[name] * m, float(m.pow(2).sum()))
            errors.append(relative_squared_error(guided, gram_matrix(theirs[name])))
    return float(torch.stack(errors).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--strip", type=Path)
    args = parser.parse_args()
    photo, painting, names = inputs()
    extractor = build_extractor("caffe", last_layer="relu5_1")
    settings = Settings(output_size=args.size, iterations=args.steps, scales=1, precision="float32", preview_every=0)
    masks, parts = photo_masks(photo), painting_masks(painting)
    w, h = painting.size
    cut = round(SKY_SHARE * h)
    pieces = {"sky": painting.crop((0, 0, w, cut)), "village": painting.crop((0, cut, w, h))}
    results, rows = {}, []
    for case, style_masks in (("whole painting", None), ("style masks", parts)):
        started = time.perf_counter()
        styles = painting if style_masks else [painting, painting]
        *_, last = transfer(photo, styles, settings, extractor=extractor, masks=masks, style_masks=style_masks)
        seconds = time.perf_counter() - started
        results[case] = last.image
        picture = to_tensor(last.image)
        for region, mask in zip(("sky", "rest"), masks, strict=True):
            grey = np.asarray(mask.resize(last.image.size))
            scores = {piece: error(extractor, picture, grey, part) for piece, part in pieces.items()}
            rows.append([case, region, f"{scores['sky']:.3f}", f"{scores['village']:.3f}", f"{seconds:.0f}"])
    print(f"# {names}, {args.size} px, {args.steps} steps, float32; {machine()}")
    print(table(["run", "region of the photo", "error vs the painting's sky", "error vs its village", "s"], rows))
    if args.strip:
        _strip(args.strip, photo, masks, painting, parts, results)


def _strip(path: Path, photo, masks, painting, parts, results) -> None:
    tiles = [("the photo's regions", _tinted(photo, masks)), ("the painting's", _tinted(painting, parts))]
    labelled_strip(path, tiles + list(results.items()))


def _tinted(picture: Image.Image, masks: list[Image.Image]) -> Image.Image:
    """The picture with its first region tinted blue and its second red."""
    out = np.asarray(picture.convert("RGB"), dtype=np.float32)
    for mask, tint in zip(masks, ((40, 90, 255), (255, 60, 40)), strict=True):
        m = np.asarray(mask.resize(picture.size), dtype=np.float32)[..., None] / 255 * 0.45
        out = out * (1 - m) + np.array(tint, dtype=np.float32) * m
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


if __name__ == "__main__":
    main()
