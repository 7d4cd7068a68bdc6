"""``python -m nst video CLIP STYLE -o OUT.mp4 [options]``: a clip from a terminal (:mod:`nst.video`).

Every picture setting is an option as in ``python -m nst``, plus the video's own
(``--temporal-weight``, ``--frame-iterations``) and ``--max-frames``. A progress bar counts
the steps of all frames, with the frame and an ETA for the whole clip. Ctrl-C keeps the
frames done so far as a playable shorter clip.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from nst.commands.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    add_common_options,
    add_instant_option,
    clock,
    fail,
    run_command,
    settings_given,
)
from nst.errors import DivergedError, NSTError
from nst.settings import Settings
from nst.videoio import OUTPUTS, probe

if TYPE_CHECKING:
    from nst.execution.base import Executor


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nst video",
        description="Stylise a video clip without flicker (Ruder et al. 2016): each frame starts from the previous "
        "stylised frame carried along the optical flow and is kept close to it where the motion is known.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("clip", help="the video: MP4, MOV, MKV, WebM, AVI, or an animated GIF or WebP")
    parser.add_argument("style", help="the picture whose style is taken")
    parser.add_argument("-o", "--output", required=True, help=f"where to save the result ({', '.join(OUTPUTS)})")
    parser.add_argument("--max-frames", type=int, metavar="N", help="stylise only the first N frames")
    add_instant_option(parser, "every frame (steadied along the optical flow)")
    add_common_options(parser, video=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the video command; returns the exit status."""
    args = build_parser().parse_args(argv)
    output = Path(args.output)
    return run_command(args, lambda: _settings(args, output),
                       lambda executor, settings: _run(args.clip, args.style, output, settings, args.max_frames,
                                                       executor=executor, quiet=args.quiet,
                                                       instant=args.instant))  # fmt: skip


def _settings(args: argparse.Namespace, output: Path) -> Settings:
    """The settings, the options checked (raises NSTError for a usage error)."""
    settings = Settings(**settings_given(args))
    if args.max_frames is not None and args.max_frames < 1:
        raise NSTError("--max-frames must be at least 1")
    if output.suffix.lower() not in OUTPUTS:
        raise NSTError(f"cannot tell the format of {output}; end its name in {', '.join(OUTPUTS)}")
    return settings.replace(preview_every=0)


def _run(
    clip: str,
    style: str,
    output: Path,
    settings: Settings,
    max_frames: int | None,
    *,
    executor: Executor,
    quiet: bool,
    instant: bool = False,
) -> int:
    from nst.passes import planned_steps, stylize_clip  # noqa: PLC0415  # torch loads only when a command runs

    bar_format = "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} steps [{elapsed}{postfix}]"
    bar = tqdm(total=0, disable=quiet, dynamic_ncols=True, file=sys.stderr, bar_format=bar_format)
    # One pass, frame by frame, on one worker; on several, the multi-pass algorithm (settings.passes).
    run = stylize_clip(executor, clip, style, output, settings, max_frames=max_frames, instant=instant)
    try:
        for progress in run:
            if not bar.total:  # the clip's length is known once the first step is made
                bar.total = planned_steps(progress.frames, settings, executor.workers, instant=instant)
            losses = progress.step.losses  # none for a frame painted in one pass
            bar.set_postfix_str(
                (f"pass {progress.sweep}/{progress.sweeps}, " if progress.sweeps > 1 else "")
                + f"frame {progress.frame}/{progress.frames}, {progress.written} written, ETA {clock(progress.eta)}"
                + (f", style={losses['style']:.3g}, temporal={losses.get('temporal', 0.0):.3g}" if losses else ""),
                refresh=False,
            )
            bar.update(1)
        bar.close()
        if not quiet:
            print(f"saved {output} ({_frames(output)} frames)", file=sys.stderr)
        return EXIT_OK
    except KeyboardInterrupt:
        run.close()  # writes the frames done
        bar.close()
        if output.is_file():
            return fail(f"stopped; the {_frames(output)} frames done are saved in {output}", EXIT_INTERRUPTED)
        return fail("stopped before the first frame was done", EXIT_INTERRUPTED)
    except DivergedError as error:
        bar.close()
        saved = f" (the {_frames(output)} frames done are saved in {output})" if output.is_file() else ""
        return fail(f"{error}{saved}", EXIT_FAILED)
    except NSTError as error:
        bar.close()
        return fail(str(error), EXIT_USAGE)
    finally:
        run.close()


def _frames(path: Path) -> int:
    return probe(path).frames
