"""``python -m nst CONTENT STYLE -o OUT.png [options]``: the engine from a terminal.

Every :class:`~nst.settings.Settings` field is an option (``--style-weight``,
``--style-layers relu1_1,relu2_1``), with the same help text the app shows. A progress
bar shows the losses and an ETA; ``--save-every N`` writes intermediate pictures. Bad
input ends with a one-line message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from nst.errors import DivergedError, NSTError
from nst.images import save_picture
from nst.layers import VGG19_LAYERS
from nst.presets import PRESETS, preset
from nst.settings import Settings

if TYPE_CHECKING:
    from nst.executor import Executor

log = logging.getLogger("nst")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
NOT_OPTIONS = ("preview_every",)  # set through --save-every
ALIASES = {
    "content_weight": ["--alpha", "-a"],
    "style_weight": ["--beta", "-b"],
    "iterations": ["-n"],
    "output_size": ["--size"],
}


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
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    add_cluster_option(parser)
    _add_settings(parser, video=False)
    return parser


def add_cluster_option(parser: argparse.ArgumentParser) -> None:
    """``--cluster ADDRESS``: run on a Ray cluster (its default: the ``NST_CLUSTER`` variable, else here)."""
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        default=None,
        help="run on a Ray cluster: HOST:6379 (its head's address) or auto (the cluster this machine is in); "
        "'local' runs here "
        "(default: the NST_CLUSTER variable, else local). Needs: pip install -r requirements-cluster.txt",
    )


def open_executor(address: str | None, *, quiet: bool) -> Executor:
    """The executor ``--cluster`` names, with the backend said on stderr when it is a cluster.

    Raises:
        ClusterError: the cluster cannot be used (and ``NST_CLUSTER_FALLBACK`` is not ``local``).
    """
    from nst.executor import executor_for

    executor = executor_for(address)
    if executor.name != "local" and not quiet:
        print(f"running on {executor.describe()}", file=sys.stderr)
    return executor


def _add_settings(parser: argparse.ArgumentParser, *, video: bool) -> None:
    """One option per Settings field (the video-only ones only in the video command's parser)."""
    group = parser.add_argument_group("settings")
    for field in dataclasses.fields(Settings):
        if field.name in NOT_OPTIONS or (field.metadata.get("video") and not video):
            continue
        flags = ["--" + field.name.replace("_", "-")] + ALIASES.get(field.name, [])
        kind = _kind(field)
        extra: dict[str, Any] = {"choices": field.metadata["choices"]} if "choices" in field.metadata else {}
        default = field.default
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else ("" if default is None else default)
        group.add_argument(
            *flags,
            dest=field.name,
            type=kind,
            default=argparse.SUPPRESS,  # only what the user sets overrides Settings' defaults
            metavar=None if extra else field.name.split("_")[-1].upper(),
            help=f"{field.metadata['help']} (default: {shown})",
            **extra,
        )


def settings_given(args: argparse.Namespace) -> dict[str, Any]:
    """The Settings fields given on the command line (after setting up logging as ``-v`` asks)."""
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(Settings) if hasattr(args, f.name)}


def _kind(field: dataclasses.Field[Any]) -> Callable[[str], Any]:
    annotation = str(field.type)
    if annotation.startswith("tuple[float"):
        return _float_list
    if annotation.startswith("tuple[str"):
        return str  # Settings accepts "relu1_1,relu2_1"
    if annotation.startswith("float"):
        return float
    if annotation.startswith("int"):
        return int
    return str


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.replace(" ", ",").split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, not {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["video"]:
        from nst.video_cli import main as video_main

        return video_main(argv[1:])
    if argv[:1] == ["batch"]:
        from nst.batch_cli import main as batch_main

        return batch_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    changes = settings_given(args)
    changes = {**(preset(args.preset) if args.preset else {}), **changes}
    if args.init_image:
        changes["init"] = "image"
    output = Path(args.output)
    try:
        settings = Settings(**changes)
        _check_output(output)
        if args.save_every < 0:
            raise NSTError("--save-every must be zero or more")
        if args.resume_step < 0:
            raise NSTError("--resume-step must be zero or more")
        if args.resume and args.init_image:
            raise NSTError("give --resume or --init-image, not both")
        if args.masks and len(args.masks) != len(args.style):
            raise NSTError(
                f"give one mask per style picture: {len(args.masks)} masks for {len(args.style)} style pictures"
            )
    except NSTError as error:
        return _fail(str(error), EXIT_USAGE)
    save_dir = Path(args.save_dir) if args.save_dir else output.with_name(output.stem + "_steps")
    try:
        executor = open_executor(args.cluster, quiet=args.quiet)
    except NSTError as error:
        return _fail(str(error), EXIT_USAGE)
    try:
        return _run(
            executor,
            args.content,
            args.style,
            settings,
            output,
            args.save_every,
            save_dir,
            quiet=args.quiet,
            init=args.init_image,
            resume=(args.resume, args.resume_step) if args.resume else None,
            masks=args.masks,
        )
    finally:
        executor.close()


def _run(
    executor: Executor,
    content: str,
    style: list[str],
    settings: Settings,
    output: Path,
    save_every: int,
    save_dir: Path,
    *,
    quiet: bool,
    init: str | None = None,
    resume: tuple[str, int] | None = None,
    masks: list[str] | None = None,
) -> int:
    from tqdm import tqdm  # imported late: --help stays fast

    from nst.engine import Resume
    from nst.executor import ClusterError, Job

    settings = settings.replace(preview_every=save_every)  # the progress bar needs no pictures
    latest: Image.Image | None = None
    # tqdm's own ETA assumes equal steps; coarse-to-fine steps grow, so the engine's ETA is shown
    bar_format = "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"
    bar = tqdm(total=settings.iterations, disable=quiet, dynamic_ncols=True, file=sys.stderr, bar_format=bar_format)
    where = Resume(*resume) if resume is not None else None
    styles = style[0] if len(style) == 1 and not masks else style

    def on_tile(done: int, count: int) -> None:  # a print-size step: its tiles, two passes each
        bar.set_postfix_str(f"{postfix}, tile {done}/{count}")

    postfix = ""
    job = Job(content, styles, settings, resume=where, init_image=init, masks=masks, on_tile=on_tile)
    run = executor.run(job, on_note=lambda note: bar.write(f"nst: {note}", file=sys.stderr))
    try:
        for progress in run:
            width, height = progress.size
            postfix = (
                f"ETA {_clock(progress.eta)}, scale {progress.scale}/{progress.scales} {width}x{height}, "
                f"content={progress.content_loss:.3g}, style={progress.style_loss:.3g}, loss={progress.loss:.3g}"
            )
            bar.set_postfix_str(postfix, refresh=False)
            bar.update(1)
            if progress.image is not None:
                latest = progress.image
                if save_every and (progress.step % save_every == 0) and not progress.done:
                    save_dir.mkdir(parents=True, exist_ok=True)
                    save_picture(progress.image, save_dir / f"step_{progress.step:05d}.png", dpi=settings.dpi)
        bar.close()
        if latest is None:  # the last step always brings a picture
            return _fail("the run ended without a picture", EXIT_FAILED)
        save_picture(latest, output, dpi=settings.dpi)
        if not quiet:
            print(f"saved {output} ({latest.width}x{latest.height})", file=sys.stderr)
        return EXIT_OK
    except KeyboardInterrupt:
        bar.close()
        if latest is not None:
            save_picture(latest, output, dpi=settings.dpi)
            return _fail(f"stopped; the latest picture is saved in {output}", EXIT_INTERRUPTED)
        return _fail("stopped before the first picture", EXIT_INTERRUPTED)
    except (DivergedError, ClusterError) as error:
        bar.close()
        if error.last_image is not None:
            save_picture(error.last_image, output, dpi=settings.dpi)
            return _fail(f"{error} (the last good picture is saved in {output})", EXIT_FAILED)
        return _fail(str(error), EXIT_FAILED)
    except NSTError as error:
        bar.close()
        return _fail(str(error), EXIT_USAGE)
    finally:
        run.close()


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}:{seconds:02d}"


def _check_output(output: Path) -> None:
    known = Image.registered_extensions()
    if output.suffix.lower() not in known or known[output.suffix.lower()] not in Image.SAVE:
        raise NSTError(f"cannot tell the format of {output}; end its name in .png, .jpg or .webp")
    if output.parent != Path("") and not output.parent.is_dir():
        raise NSTError(f"the folder {output.parent} does not exist")


def _fail(message: str, status: int) -> int:
    print(f"nst: error: {message}", file=sys.stderr)
    return status
