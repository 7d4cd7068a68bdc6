"""``python -m nst CONTENT STYLE -o OUT.png [options]``: the engine from a terminal.

Every :class:`~nst.settings.Settings` field is an option (``--style-weight``,
``--style-layers relu1_1,relu2_1``), with the same help text the app shows. A progress
bar shows the losses and an ETA; ``--save-every N`` writes intermediate pictures. Bad
input ends with a one-line message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image
from tqdm import tqdm

from nst.commands.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    add_common_options,
    add_instant_option,
    check_output,
    clock,
    fail,
    run_command,
    settings_given,
)
from nst.errors import ClusterError, DivergedError, NSTError
from nst.images import save_picture
from nst.layers import VGG19_LAYERS
from nst.presets import PRESETS, preset
from nst.settings import Settings

if TYPE_CHECKING:
    from nst.execution.base import Executor
    from nst.progress import Progress


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; one option per Settings field, plus input and output."""
    parser = argparse.ArgumentParser(
        prog="python -m nst",
        description="Neural style transfer (Gatys et al.): repaint CONTENT in the style of STYLE.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Layer names: " + ", ".join(VGG19_LAYERS) + " (Keras names such as block4_conv2 work too). "
        "Video clips: python -m nst video CLIP STYLE -o OUT.mp4 (python -m nst video --help). Folders: python -m "
        "nst batch PHOTOS... --style STYLES... -o OUTDIR (python -m nst batch --help).",
    )
    parser.add_argument("content", help="the photo whose structure is kept")
    parser.add_argument(
        "style", nargs="+", help="the picture whose style is taken; several blend (weights: --style-blend)"
    )
    parser.add_argument("-o", "--output", required=True, help="where to save the result (.png, .jpg or .webp)")
    parser.add_argument(
        "--save-every",
        type=int,
        default=0,
        metavar="N",
        help="also save the picture every N steps (the engine's preview_every)",
    )
    parser.add_argument("--save-dir", help="folder for those pictures (default: OUTPUT's name + _steps)")
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="start from a named set of settings; options given too override it: "
        + "; ".join(f"{name}: {text}" for name, (text, _) in PRESETS.items()),
    )
    parser.add_argument("--init-image", metavar="PICTURE", help="start from this picture (sets --init image)")
    parser.add_argument(
        "--resume",
        metavar="PICTURE",
        help="go on from an earlier result: -n more steps, numbered on from --resume-step; coarse to fine starts "
        "at the picture's own size",
    )
    parser.add_argument("--resume-step", type=int, default=0, metavar="N", help="the step the --resume picture reached")
    parser.add_argument(
        "--masks",
        nargs="+",
        metavar="MASK",
        help="one grey picture per style picture, in their order: white where that style goes, black where not; "
        "pixels no mask covers keep the photo",
    )
    parser.add_argument(
        "--style-masks",
        nargs="+",
        metavar="MASK",
        help="with --masks, one grey picture per mask, on the style pictures: the i-th selects the part of the "
        "i-th style picture (or of the only one) that paints the photo's region i (its sky onto the sky)",
    )
    parser.add_argument(
        "--coarse-styles",
        nargs="+",
        metavar="PICTURE",
        help="scale per style (Gatys et al. 2017): the large shapes from these pictures, the fine strokes (layers "
        "relu1_1 and relu2_1) from the style pictures. One picture for every style picture, or one each in their "
        "order (with --masks: one per region); give a style picture itself to leave it as it is. Each is first "
        "repainted with its style picture's strokes (50 steps at the style size)",
    )
    add_instant_option(parser, "the photo")
    add_common_options(parser)
    return parser


@dataclass(frozen=True)
class Request:
    """What the picture command was asked to make, checked."""

    content: str
    style: list[str]
    settings: Settings
    output: Path
    save_every: int
    save_dir: Path
    init: str | None
    resume: tuple[str, int] | None
    masks: list[str] | None
    instant: bool = False
    style_masks: list[str] | None = None
    coarse_styles: list[str] | None = None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the picture command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run_command(
        args, lambda: _request(args), lambda executor, request: _run(executor, request, quiet=args.quiet)
    )


def _request(args: argparse.Namespace) -> Request:
    """The arguments checked and turned into settings (raises NSTError for a usage error)."""
    changes = settings_given(args)
    changes = {**(preset(args.preset) if args.preset else {}), **changes}
    if args.init_image:
        changes["init"] = "image"
    output = Path(args.output)
    settings = Settings(**changes)
    check_output(output)
    if args.save_every < 0:
        raise NSTError("--save-every must be zero or more")
    if args.resume_step < 0:
        raise NSTError("--resume-step must be zero or more")
    if args.resume and args.init_image:
        raise NSTError("give --resume or --init-image, not both")
    if args.instant:
        _check_instant(args)
    _check_masks(args)
    save_dir = Path(args.save_dir) if args.save_dir else output.with_name(output.stem + "_steps")
    resume = (args.resume, args.resume_step) if args.resume else None
    return Request(args.content, args.style, settings.replace(preview_every=args.save_every), output,
                   args.save_every, save_dir, args.init_image, resume, args.masks, args.instant,
                   args.style_masks, args.coarse_styles)  # fmt: skip


def _check_masks(args: argparse.Namespace) -> None:
    """One mask per style picture, or with style masks one per region and one style picture or one per region."""
    if args.style_masks and not args.masks:
        raise NSTError("--style-masks say which part of a painting paints which region: give the regions too (--masks)")
    if args.style_masks and len(args.style_masks) != len(args.masks):
        raise NSTError(f"give one style mask per mask: {len(args.style_masks)} style masks for {len(args.masks)} masks")
    if args.masks and len(args.masks) != len(args.style) and not (args.style_masks and len(args.style) == 1):
        raise NSTError(f"give one mask per style picture: {len(args.masks)} masks for {len(args.style)} style pictures")


def _check_instant(args: argparse.Namespace) -> None:
    """The one-pass network paints the whole photo at once: nothing to resume, start from or mask."""
    given = [flag for flag, value in (("--masks", args.masks), ("--style-masks", args.style_masks),
             ("--coarse-styles", args.coarse_styles),
             ("--resume", args.resume), ("--init-image", args.init_image), ("--save-every", args.save_every))
             if value]  # fmt: skip
    if given:
        raise NSTError(f"--instant paints in one pass: it takes no {' or '.join(given)}")


def _run(executor: Executor, request: Request, *, quiet: bool) -> int:
    if request.instant:
        return _run_instant(executor, request, quiet=quiet)
    from nst.jobs.picture import PictureJob  # noqa: PLC0415  # torch loads only when a command runs
    from nst.progress import Resume  # noqa: PLC0415  # (the same: --help stays fast)

    settings, output = request.settings, request.output  # the progress bar needs no pictures: preview_every only
    # tqdm's own ETA assumes equal steps; coarse-to-fine steps grow, so the engine's ETA is shown
    bar_format = "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"
    bar = tqdm(total=settings.iterations, disable=quiet, dynamic_ncols=True, file=sys.stderr, bar_format=bar_format)
    where = Resume(*request.resume) if request.resume is not None else None
    styles = request.style[0] if len(request.style) == 1 and not request.masks else request.style
    postfix = ""

    def on_tile(done: int, count: int) -> None:  # a print-size step: its tiles, two passes each
        bar.set_postfix_str(f"{postfix}, tile {done}/{count}")

    job = PictureJob(request.content, styles, settings, resume=where, init_image=request.init, masks=request.masks,
                     style_masks=request.style_masks, coarse_styles=request.coarse_styles,
                     on_tile=on_tile)  # fmt: skip
    if request.coarse_styles and not quiet:
        bar.write("nst: first each coarse picture is repainted with its style picture's strokes", file=sys.stderr)
    run = executor.run(job, on_note=lambda note: bar.write(f"nst: {note}", file=sys.stderr))
    latest: Image.Image | None = None
    try:
        for progress in run:
            postfix = _postfix(progress)
            bar.set_postfix_str(postfix, refresh=False)
            bar.update(1)
            if progress.image is not None:
                latest = progress.image
                _save_step(request, progress.step, progress.done, progress.image)
        bar.close()
        return _saved(latest, output, settings, quiet)
    except KeyboardInterrupt:
        bar.close()
        if latest is not None:
            save_picture(latest, output, dpi=settings.dpi)
            return fail(f"stopped; the latest picture is saved in {output}", EXIT_INTERRUPTED)
        return fail("stopped before the first picture", EXIT_INTERRUPTED)
    except (DivergedError, ClusterError) as error:
        bar.close()
        if error.last_image is not None:
            save_picture(error.last_image, output, dpi=settings.dpi)
            return fail(f"{error} (the last good picture is saved in {output})", EXIT_FAILED)
        return fail(str(error), EXIT_FAILED)
    except NSTError as error:
        bar.close()
        return fail(str(error), EXIT_USAGE)
    finally:
        run.close()


def _run_instant(executor: Executor, request: Request, *, quiet: bool) -> int:
    """``--instant``: the one-pass picture, saved; the time it took said on stderr."""
    from nst.jobs.instant import InstantJob  # noqa: PLC0415  # torch loads only when a command runs

    styles = request.style[0] if len(request.style) == 1 else request.style
    run = executor.run(InstantJob(request.content, styles, request.settings),
                       on_note=lambda note: print(f"nst: {note}", file=sys.stderr))  # fmt: skip
    try:
        progress = next(iter(run))
    except NSTError as error:
        return fail(str(error), EXIT_FAILED if isinstance(error, ClusterError) else EXIT_USAGE)
    except KeyboardInterrupt:
        return fail("stopped before the picture", EXIT_INTERRUPTED)
    finally:
        run.close()
    if not quiet:
        print(f"painted in one pass in {progress.elapsed:.2f} s", file=sys.stderr)
    return _saved(progress.image, request.output, request.settings, quiet)


def _postfix(progress: Progress) -> str:
    width, height = progress.size
    return (
        f"ETA {clock(progress.eta)}, scale {progress.scale}/{progress.scales} {width}x{height}, "
        f"content={progress.content_loss:.3g}, style={progress.style_loss:.3g}, loss={progress.loss:.3g}"
    )


def _save_step(request: Request, step: int, done: bool, picture: Image.Image) -> None:
    """``--save-every N``: the picture of every N-th step, in the steps folder."""
    if request.save_every and step % request.save_every == 0 and not done:
        request.save_dir.mkdir(parents=True, exist_ok=True)
        save_picture(picture, request.save_dir / f"step_{step:05d}.png", dpi=request.settings.dpi)


def _saved(latest: Image.Image | None, output: Path, settings: Settings, quiet: bool) -> int:
    if latest is None:  # the last step always brings a picture
        return fail("the run ended without a picture", EXIT_FAILED)
    save_picture(latest, output, dpi=settings.dpi)
    if not quiet:
        print(f"saved {output} ({latest.width}x{latest.height})", file=sys.stderr)
    return EXIT_OK
