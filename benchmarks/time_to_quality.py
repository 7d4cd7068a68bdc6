"""Time to quality, judged at every scale: nst's runs against pastiche's 50 and 100 L-BFGS steps.

    python benchmarks/time_to_quality.py [--size 512] [--precisions float32 auto] [--avx2] [--pairs 3]
        [--methods default "start 128" ...] [--save DIR]

For each content/style pair, one after the other on this machine:

- pastiche (the ``pastiche`` package, float32, L-BFGS, its defaults otherwise) in its own
  process, 100 steps at the output size; its pictures after 50 and 100 steps and the time
  its steps took (its start-up and the targets are not counted);
- nst's default swept over the number of steps (``SWEEP``, fewest first) until a run
  reaches pastiche-50's quality on both axes, then every count between the last one that
  did not and it, fewest first (the first to reach is the result), then the default 120 steps, in each precision
  (float32, and the default: bfloat16 on processors with fast bfloat16 units); each
  experiment (``--methods``) swept the same way in the first precision; timed from the call
  to ``nst.transfer`` to its last record (targets included, VGG19 already loaded);
- single scale at the output size (the paper's schedule) in one run, with a snapshot every
  few steps, until pastiche-50's time: where one size alone gets to in the same time.

Quality is judged on the saved 8-bit pictures, in float32, with the same judge for every
method (Gatys' layers and equal style-layer weights, whatever a method optimises):
content error (relative squared error of relu4_2) and style error (relative Gram error over
relu1_1..relu5_1), each at the output size and at half of it (the picture and the targets
both halved), and their average. A method *reaches* pastiche-50 when its style error
averaged over both sizes and its content error at the output size are both no larger than
pastiche-50's. (Content is judged where the photo is matched, at the output size; at half
size a picture that has taken on more of the painting's large shapes departs further from
the photo's, so that figure is printed but not required.)

``--avx2`` limits oneDNN and PyTorch to AVX2 (a laptop-class CPU without AVX-512 or
bfloat16 units). ``--methods`` picks from :data:`METHODS` (experiments included).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from nst import Settings, TargetCache, build_extractor, evaluate, transfer  # noqa: E402
from nst.device import resolve_precision  # noqa: E402
from nst.examples import photo, style  # noqa: E402

from common import SHARED_IMAGES, machine, run_child, table  # noqa: E402

AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
SWEEP = (10, 15, 20, 25, 30, 35, 40, 50, 60, 80, 100)
DEFAULT_STEPS = Settings().iterations
SNAPSHOT_EVERY = 5

# name -> how the method's Settings differ from the default (given the output size, steps, precision)
METHODS: dict[str, Callable[[Settings], Settings]] = {
    "default": lambda s: s,
    "instant": lambda s: s.replace(init="instant"),  # from the one-pass picture, refined at half size
    "start 128": lambda s: s.replace(start_size=128),
    "plain scale-up": lambda s: s.replace(scale_up="plain"),  # no photo detail added at a scale up
    "shallow layers 256:64:16:4:1": lambda s: s.replace(style_layer_weights=(256, 64, 16, 4, 1)),
    "wasserstein style loss": lambda s: s.replace(style_loss="wasserstein"),
    "EMA of the iterates, decay 0.7": lambda s: s,
    "EMA of the iterates, decay 0.9": lambda s: s,
}
EMA = {"EMA of the iterates, decay 0.7": 0.7, "EMA of the iterates, decay 0.9": 0.9}  # see run()

PASTICHE = r"""
import json, sys, time
from pastiche.pastiche import PasticheArtist, save_image
content, style, size, folder = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
artist = PasticheArtist(content, [style], optimizer="lbfgs", device="cpu", size=size)
seconds, times = 0.0, {}
for step in range(1, 101):
    started = time.perf_counter()
    artist.draw()
    seconds += time.perf_counter() - started
    if step in (50, 100):
        save_image(artist.pastiche, f"{folder}/pastiche-{step}.png")
        times[step] = seconds
print(json.dumps(times))
"""


def pairs(count: int) -> list[tuple[str, Image.Image, Image.Image]]:
    """Up to ``count`` (name, content, style): the shared pictures, then generated ones."""
    found = []
    shared = [("tubingen.jpg", "starry_night.jpg"), ("tubingen.jpg", "the_scream.jpg")]
    for content, painting in shared:
        if (SHARED_IMAGES / content).exists() and (SHARED_IMAGES / painting).exists():
            found.append((f"{content} + {painting}", _open(SHARED_IMAGES / content), _open(SHARED_IMAGES / painting)))
    found.append(("coffee (scikit-image) + generated mosaic", photo("coffee"), style("mosaic", 512)))
    found.append(
        ("chelsea the cat (scikit-image) + generated strokes", photo("chelsea the cat"), style("strokes", 512))
    )
    return found[:count]


def _open(path: Path) -> Image.Image:
    return Image.open(path).convert("RGB")


class Judge:
    """Content and style error of a picture at the output size and at half of it."""

    def __init__(self, size: int, extractor, content: Image.Image, painting: Image.Image) -> None:
        self.sizes = (size, size // 2)
        self.extractor, self.content, self.style = extractor, content, painting
        self.caches = {s: TargetCache() for s in self.sizes}

    def __call__(self, png: bytes) -> dict[str, float]:
        scores = {}
        for name, size in zip(("full", "half"), self.sizes, strict=True):
            judge = Settings(output_size=size, precision="float32")  # Gatys' layers, equal weights
            terms = evaluate(png, self.content, self.style, judge, extractor=self.extractor, cache=self.caches[size])
            scores[f"content {name}"], scores[f"style {name}"] = terms["content"], terms["style"]
        scores["content"] = (scores["content full"] + scores["content half"]) / 2
        scores["style"] = (scores["style full"] + scores["style half"]) / 2
        return scores


def as_png(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")  # judge what a user downloads: 8-bit pixels
    return buffer.getvalue()


def run(
    content, painting, settings: Settings, extractor, decay: float | None = None, init_image=None
) -> tuple[float, bytes]:
    """Seconds and the final picture; with ``decay``, the exponential moving average of the pictures
    instead of the last one (restarted at every scale, debiased as Adam's moments are)."""
    started = time.perf_counter()
    if decay is None:
        quiet = settings.replace(preview_every=0)
        *_, last = transfer(content, painting, quiet, extractor=extractor, init_image=init_image)
        return time.perf_counter() - started, as_png(last.image)
    average, count, size = None, 0, None
    for progress in transfer(content, painting, settings.replace(preview_every=1), extractor=extractor):
        pixels = np.asarray(progress.image, dtype=np.float32)
        if progress.size != size:  # a new scale: start again
            average, count, size = np.zeros_like(pixels), 0, progress.size
        count += 1
        average = decay * average + (1 - decay) * pixels
    picture = Image.fromarray(np.clip(average / (1 - decay**count), 0, 255).round().astype(np.uint8))
    return time.perf_counter() - started, as_png(picture)


def snapshots(content, painting, settings: Settings, extractor, seconds: float) -> list[tuple[int, float, bytes]]:
    """(step, seconds, picture) every few steps of one run, until ``seconds`` have passed."""
    taken, started = [], time.perf_counter()
    for progress in transfer(content, painting, settings.replace(preview_every=SNAPSHOT_EVERY), extractor=extractor):
        if progress.image is not None:
            now = time.perf_counter()
            taken.append((progress.step, now - started, as_png(progress.image)))
            started += time.perf_counter() - now  # the snapshot's own encoding is not the method's time
        if taken and taken[-1][1] >= seconds:
            break
    return taken


def reaches(score: dict[str, float], target: dict[str, float]) -> bool:
    """At least as good on both axes: style error averaged over both sizes, content error at the output size."""
    return score["content full"] <= target["content full"] and score["style"] <= target["style"]


def main() -> None:  # noqa: C901, PLR0915  # one benchmark, its steps in order
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["float32", "auto"],
        choices=("auto", "float32", "bfloat16"),
        help="the default method runs in each; experiments and single scale in the first",
    )
    parser.add_argument("--avx2", action="store_true", help="limit oneDNN and PyTorch to AVX2 (a laptop-class CPU)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=["default"], choices=sorted(METHODS))
    parser.add_argument("--no-single", action="store_true", help="leave out the single-scale run")
    parser.add_argument(
        "--keep-pastiche",
        type=Path,
        help="keep pastiche's pictures and times here and reuse them "
        "(for trying experiments; a reported table runs pastiche in the same run)",
    )
    parser.add_argument("--save", type=Path, help="folder for the pictures and a contact sheet per pair")
    args = parser.parse_args()
    if args.avx2 and any(os.environ.get(k) != v for k, v in AVX2.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **AVX2})
    extractor = build_extractor("caffe", last_layer="relu5_1")
    precisions = [(p, str(resolve_precision(p, torch.device("cpu"))).removeprefix("torch.")) for p in args.precisions]
    summary, details = [], []
    for pair, content, painting in pairs(args.pairs):
        folder = Path(tempfile.mkdtemp(prefix="nst-ttq-"))
        content.save(folder / "content.png")
        painting.save(folder / "style.png")
        judge = Judge(args.size, extractor, content, painting)
        kept = (
            args.keep_pastiche / f"{args.size}-{''.join(c for c in pair if c.isalnum())}"
            if args.keep_pastiche
            else None
        )
        if kept is not None and (kept / "times.json").exists():  # while trying experiments: pastiche does not change
            folder = kept
            theirs = json.loads((kept / "times.json").read_text())
        else:
            theirs = run_child(PASTICHE, str(folder / "content.png"), str(folder / "style.png"), str(args.size),
                               str(folder))  # fmt: skip
            if kept is not None:
                kept.mkdir(parents=True, exist_ok=True)
                for name in ("pastiche-50.png", "pastiche-100.png"):
                    (kept / name).write_bytes((folder / name).read_bytes())
                (kept / "times.json").write_text(json.dumps(theirs))
        pictures: dict[str, bytes] = {}
        results: list[tuple[str, int, float, dict[str, float], str]] = []  # name, steps, seconds, score, reached
        for steps in (50, 100):
            png = (folder / f"pastiche-{steps}.png").read_bytes()
            pictures[f"pastiche {steps}"] = png
            results.append((f"pastiche {steps}", steps, theirs[str(steps)], judge(png), ""))
        target, target_seconds = results[0][3], theirs["50"]
        log = functools.partial(print, f"{pair}:", file=sys.stderr, flush=True)
        log(f"pastiche 50: {target_seconds:.1f} s, content {target['content']:.3f}, style {target['style']:.4f}")
        runs = [("default", p, dtype) for p, dtype in precisions]
        runs += [(m, *precisions[0]) for m in args.methods if m != "default"]
        for method, precision, dtype in runs:
            base, name, first = Settings(output_size=args.size, precision=precision), f"{method} ({dtype})", None
            attempt = functools.partial(_attempt, method, base, content, painting, extractor, judge, target, log)
            missed = 0  # the largest count tried that did not reach
            for coarse in SWEEP:
                made = attempt(coarse)
                if made is None:
                    missed = coarse
                    continue
                for steps in range(missed + 1, coarse):  # the counts in between, fewest first
                    finer = attempt(steps)
                    if finer is not None:
                        made = finer
                        break
                first = made[:2]
                pictures[f"{name} {first[0]}"] = made[2]
                results.append((f"{name}, first to reach", *first, made[3], "yes"))
                break
            if method == "default":  # and the whole default run, for its final quality
                seconds, png = run(content, painting, base.replace(iterations=DEFAULT_STEPS), extractor)
                score = judge(png)
                pictures[f"{name} {DEFAULT_STEPS}"] = png
                results.append((name, DEFAULT_STEPS, seconds, score, "yes" if reaches(score, target) else "no"))
            summary.append([pair, name] + _reached(first, target_seconds))
        if not args.no_single:
            base = Settings(output_size=args.size, precision=precisions[0][0])
            single = base.replace(scales=1, iterations=1000)
            taken = snapshots(content, painting, single, extractor, target_seconds)
            first = None
            for steps, seconds, png in taken:
                score = judge(png)
                if first is None and reaches(score, target):
                    first = (steps, seconds)
                    results.append((f"single scale ({precisions[0][1]}), first to reach", steps, seconds, score, "yes"))
            steps, seconds, png = taken[-1]
            pictures[f"single scale {steps}"] = png
            results.append(
                (
                    f"single scale ({precisions[0][1]}), pastiche-50's time",
                    steps,
                    seconds,
                    judge(png),
                    "yes" if first else "no",
                )
            )
            summary.append([pair, f"single scale ({precisions[0][1]})"] + _reached(first, target_seconds))
        for name, steps, seconds, score, reached in results:
            details.append([pair, name, steps, f"{seconds:.1f}", f"{seconds / target_seconds:.2f}",
                            f"{score['content full']:.3f} / {score['content half']:.3f} / {score['content']:.3f}",
                            f"{score['style full']:.4f} / {score['style half']:.4f} / {score['style']:.4f}",
                            reached])  # fmt: skip
        if args.save:
            _sheet(args.save, pair, pictures)
    isa = "AVX2 only" if args.avx2 else "all its instructions"
    print(f"# {args.size} px, CPU limited to {isa}; {machine()}")
    print(
        "# time to reach pastiche-50's quality on both axes: style error averaged over the output size and half of it,"
    )
    print("# content error at the output size (each no larger than pastiche-50's)")
    print(table(["pair", "method", "steps", "seconds", "vs pastiche-50's time"], summary))
    print()
    print(table(["pair", "run", "steps", "seconds", "vs pastiche-50's time", "content full / half / avg",
                 "style full / half / avg", "reaches pastiche-50"], details))  # fmt: skip
    print(json.dumps({"summary": summary}), file=sys.stderr)


def _attempt(
    method, base: Settings, content, painting, extractor, judge, target, log, steps: int
) -> tuple[int, float, bytes, dict[str, float]] | None:
    """The method's run of ``steps`` steps when it reaches pastiche-50's quality (``target``), else None."""
    settings = METHODS[method](base.replace(iterations=steps))
    seconds, png = run(content, painting, settings, extractor, EMA.get(method))
    score = judge(png)
    log(f"{method} ({settings.precision}) {steps}: {seconds:.1f} s, content {score['content']:.3f}, "
        f"style {score['style']:.4f}")  # fmt: skip
    return (steps, seconds, png, score) if reaches(score, target) else None


def _reached(first: tuple[int, float] | None, target_seconds: float) -> list[str]:
    if first is None:
        return ["-", "not reached", "-"]
    steps, seconds = first
    return [str(steps), f"{seconds:.1f}", f"{seconds / target_seconds:.2f}"]


def _sheet(folder: Path, pair: str, pictures: dict[str, bytes]) -> None:
    """The pictures side by side with their names, at full size and at half size below."""
    from PIL import ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    opened = {name: Image.open(io.BytesIO(png)).convert("RGB") for name, png in pictures.items()}
    width, height = next(iter(opened.values())).size
    sheet = Image.new("RGB", (len(opened) * (width + 8), height + height // 2 + 40), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (name, picture) in enumerate(opened.items()):
        x = index * (width + 8)
        sheet.paste(picture.resize((width, height)), (x, 20))
        sheet.paste(picture.resize((width // 2, height // 2), Image.Resampling.LANCZOS), (x, height + 32))
        draw.text((x + 4, 4), name, fill="black")
    stem = "".join(c if c.isalnum() else "-" for c in pair.split(" + ")[0] + "-" + pair.split(" + ")[1])[:60]
    sheet.save(folder / f"ttq-{stem}.jpg", quality=88)


if __name__ == "__main__":
    main()
