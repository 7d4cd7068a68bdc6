"""What each scale's picture gets at a scale up (``Settings.scale_up``), judged on the time-to-quality pairs.

    python benchmarks/scale_up.py [--size 512] [--pairs 3] [--steps 10 30 120] [--save DIR]

Coarse to fine enlarges each scale's picture for the next. ``photo`` adds the photo's fine
detail that the smaller scale could not hold, ``plain`` nothing; ``auto`` (the default) is
``photo`` from the photo and ``plain`` from a picture of one's own, as these figures chose.
(A third way, the start picture's own detail, was measured at aa3b54d and was never the best.)
For each pair of ``benchmarks/time_to_quality.py`` (the same pictures, the same judge: content
error at the output size, style error averaged over the output size and half of it), in float32:

- from the photo (the default start): ``photo`` against ``plain``;
- from a picture of one's own, as ``init="image"``: ``photo`` against ``plain``, with the
  start's own scores as the row with 0 steps. Two such pictures: the one-pass network's
  picture of the pair (:mod:`nst.instant`), and a finished run's (the default run's
  picture, started again to go on from it).

Each row is one run of the default schedule with that many steps, timed from the call to
``nst.transfer`` to its last record (targets included, VGG19 loaded). Lower is better in both
error columns.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from PIL import Image  # noqa: E402
from time_to_quality import Judge, as_png, pairs, run  # noqa: E402

from nst import Settings, build_extractor  # noqa: E402
from nst.instant import load_model, painted  # noqa: E402

from common import machine, table  # noqa: E402

WAYS = {"photo": ("photo", "plain"), "one-pass picture": ("photo", "plain"), "finished picture": ("photo", "plain")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 30, 120])
    parser.add_argument("--starts", nargs="+", default=list(WAYS), choices=list(WAYS))
    parser.add_argument("--save", type=Path, help="folder for the pictures")
    args = parser.parse_args()
    extractor = build_extractor("caffe", last_layer="relu5_1")
    model = load_model(extractor.device)
    rows = []
    for pair, content, painting in pairs(args.pairs):
        judge = Judge(args.size, extractor, content, painting)
        base = Settings(output_size=args.size, precision="float32")
        for start in args.starts:
            own = _own_start(start, model, content, painting, base, extractor)
            if own is not None:
                rows.append(_row(pair, start, "-", 0, 0.0, judge(as_png(own))))
            for way in WAYS[start]:
                for steps in args.steps:
                    settings = base.replace(scale_up=way, iterations=steps, init="content" if own is None else "image")
                    seconds, png = run(content, painting, settings, extractor, init_image=own)
                    rows.append(_row(pair, start, way, steps, seconds, judge(png)))
                    print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
                    if args.save:
                        args.save.mkdir(parents=True, exist_ok=True)
                        stem = "".join(c for c in pair if c.isalnum())[:40]
                        (args.save / f"{stem}-{start.split()[0]}-{way}-{steps}.png").write_bytes(png)
    print(f"# {args.size} px, float32; {machine()}")
    print(table(["pair", "start", "scale up", "steps", "seconds", "content full", "style full / half / avg"], rows))


def _own_start(start: str, model, content, painting, base: Settings, extractor) -> Image.Image | None:
    """The picture a run starts from: None for the photo, else the one-pass picture or a finished run's."""
    if start == "one-pass picture":
        return painted(model, content, painting, base)
    if start == "finished picture":
        return Image.open(io.BytesIO(run(content, painting, base, extractor)[1])).convert("RGB")
    return None


def _row(pair: str, start: str, way: str, steps: int, seconds: float, score: dict[str, float]) -> list[str]:
    return [pair, start, way, str(steps), f"{seconds:.1f}", f"{score['content full']:.3f}",
            f"{score['style full']:.4f} / {score['style half']:.4f} / {score['style']:.4f}"]  # fmt: skip


if __name__ == "__main__":
    main()
