"""``python -m nst batch CONTENT... --style STYLE... -o OUTDIR [options]``: folders of pictures (:mod:`nst.batch`).

Every content x style pair (folders stand for the pictures in them) becomes
``OUTDIR/CONTENT--STYLE.png``. A progress bar counts the pictures, with an ETA for the
whole batch; outputs that exist are skipped, so running the same command again after a stop
goes on where it was. At the end a summary names every picture that failed, and the exit
status is 1 when any did.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from nst.batch import Pair, pictures_in, plan_batch
from nst.commands.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    add_common_options,
    add_instant_option,
    clock,
    fail,
    run_command,
    settings_given,
)
from nst.errors import NSTError
from nst.settings import Settings

if TYPE_CHECKING:
    from nst.execution.base import Executor

FORMATS = ("png", "jpg", "webp")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nst batch",
        description="Stylise every photo in the style of every style picture: one output per pair, named after both.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("content", nargs="+", help="photos, or folders of them")
    parser.add_argument("--style", nargs="+", required=True, help="style pictures, or folders of them")
    parser.add_argument("-o", "--output", required=True, help="the folder for the results (made if missing)")
    parser.add_argument("--format", choices=FORMATS, default="png", help="the results' file format")
    add_instant_option(parser, "every photo")
    add_common_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the batch command; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run_command(args, lambda: _request(args),
                       lambda executor, request: _run(*request, executor, quiet=args.quiet))  # fmt: skip


def _request(args: argparse.Namespace) -> tuple[list[Pair], Settings, bool]:
    """The pairs to make and the settings (raises NSTError for a usage error); the output folder made."""
    settings = Settings(**settings_given(args)).replace(preview_every=0)
    folder = Path(args.output)
    pairs = plan_batch(pictures_in(args.content, "content"), pictures_in(args.style, "style"), folder,
                       "." + args.format)  # fmt: skip
    if folder.exists() and not folder.is_dir():
        raise NSTError(f"{folder} is a file, not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    return pairs, settings, args.instant


def _run(pairs: list[Pair], settings: Settings, instant: bool, executor: Executor, *, quiet: bool) -> int:
    from nst.batch import run_batch  # noqa: PLC0415  # torch loads only when a command runs: --help stays fast

    bar = tqdm(total=len(pairs), disable=quiet, dynamic_ncols=True, file=sys.stderr, unit="picture",
               bar_format="{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} pictures [{elapsed}{postfix}]")  # fmt: skip
    made, skipped, failed = 0, 0, []
    seconds: list[float] = []  # per picture made
    started = time.perf_counter()
    events = run_batch(pairs, settings, executor, instant=instant)
    workers = executor.workers
    finished = 0
    try:
        for event in events:
            if event.kind == "step" and event.progress is not None:
                step = event.progress
                # Pictures are made `workers` at a time; `seconds` holds the time between two
                # finished pictures, so it already counts them in parallel.
                left = max(0, len(pairs) - finished - workers)
                each = sum(seconds) / len(seconds) if seconds else (step.elapsed + step.eta) / workers
                bar.set_postfix_str(
                    f"{event.pair.output.name}: step {step.step}/{step.total}, ETA {clock(step.eta + left * each)}",
                    refresh=False,
                )
                continue
            finished += 1
            if event.kind == "done":
                made += 1
                seconds.append(time.perf_counter() - started - sum(seconds))
            elif event.kind == "skipped":
                skipped += 1
            else:
                failed.append(f"{event.pair.content.name} + {event.pair.style.name}: {event.message}")
                seconds.append(time.perf_counter() - started - sum(seconds))
            bar.update(1)
        bar.close()
    except KeyboardInterrupt:
        events.close()
        bar.close()
        return fail(f"stopped after {made} new pictures; run the same command again to go on", EXIT_INTERRUPTED)
    finally:
        events.close()
    if not quiet or failed:
        print(f"made {made}, skipped {skipped} (already there), failed {len(failed)}", file=sys.stderr)
    for line in failed:
        print(f"  failed: {line}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK
