"""What every command shares: its options (one per Settings field, -q, -v, --cluster), exit
codes, the executor it runs on, and failure handling: bad input ends with a one-line message
and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from PIL import Image

from nst.errors import NSTError
from nst.settings import Settings, default_iterations

if TYPE_CHECKING:
    from nst.execution.base import Executor

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
NOT_OPTIONS = ("preview_every",)  # set through --save-every
ALIASES = {
    "content_weight": ["--alpha", "-a"],
    "style_weight": ["--beta", "-b"],
    "iterations": ["-n"],
    "output_size": ["--size"],
}


def add_common_options(parser: argparse.ArgumentParser, *, video: bool = False) -> None:
    """-q, -v, ``--cluster`` and one option per Settings field (the video-only ones only for ``video``)."""
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    parser.add_argument(
        "--cluster",
        metavar="ADDRESS",
        default=None,
        help="run on a Ray cluster: HOST:6379 (its head's address) or auto (the cluster this machine is in); "
        "'local' runs here "
        "(default: the NST_CLUSTER variable, else local). Needs: pip install -r requirements-cluster.txt",
    )
    _add_settings(parser, video=video)


def add_instant_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--instant``: the one-pass network instead of the optimisation (:mod:`nst.instant`)."""
    parser.add_argument(
        "--instant",
        action="store_true",
        help=f"paint {what} in one pass of a feed-forward network (Ghiasi et al. 2017; a fraction of a second "
        "each): takes --size, --style-strength, --preserve-colour, --style-blend and --device; the optimisation's "
        "settings do not apply (--init instant starts the optimisation from the one-pass picture instead)",
    )


T = TypeVar("T")


def run_command(args: argparse.Namespace, prepare: Callable[[], T], run: Callable[[Executor, T], int]) -> int:
    """The shape of every command: ``prepare()`` checks the arguments (an NSTError there is a usage
    error, exit 2, said on one line), the executor opens, ``run(executor, prepared)`` gives the exit
    status, and the executor is let go whatever happens."""
    try:
        prepared = prepare()
        executor = open_executor(args.cluster, quiet=args.quiet)
    except NSTError as error:
        return fail(str(error), EXIT_USAGE)
    try:
        return run(executor, prepared)
    finally:
        executor.close()


def open_executor(address: str | None, *, quiet: bool) -> Executor:
    """The executor ``--cluster`` names (default: ``NST_CLUSTER``, else here), with the backend
    said on stderr when it is a cluster.

    Raises:
        ClusterError: the cluster cannot be used (and ``NST_CLUSTER_FALLBACK`` is not ``local``).
    """
    from nst.execution import executor_for  # noqa: PLC0415  # torch loads only when a command runs: --help stays fast

    executor = executor_for(address)
    if executor.remote and not quiet:
        print(f"running on {executor.describe()}", file=sys.stderr)
    return executor


def _add_settings(parser: argparse.ArgumentParser, *, video: bool) -> None:
    group = parser.add_argument_group("settings")
    for field in dataclasses.fields(Settings):
        if field.name in NOT_OPTIONS or (field.metadata.get("video") and not video):
            continue
        flags = ["--" + field.name.replace("_", "-")] + ALIASES.get(field.name, [])
        extra: dict[str, Any] = {"choices": field.metadata["choices"]} if "choices" in field.metadata else {}
        default = field.default
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else ("" if default is None else default)
        group.add_argument(
            *flags,
            dest=field.name,
            type=_kind(field),
            default=argparse.SUPPRESS,  # only what the user sets overrides Settings' defaults
            metavar=None if extra else field.name.split("_")[-1].upper(),
            help=f"{field.metadata['help']} (default: {shown})",
            **extra,
        )


def settings_given(args: argparse.Namespace) -> dict[str, Any]:
    """The Settings fields given on the command line (after setting up logging as ``-v`` asks).

    ``--init instant`` without ``-n`` takes :func:`~nst.settings.default_iterations` steps (10), not
    the optimisation's 120: it starts from a finished picture.
    """
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Settings) if hasattr(args, f.name)}
    if given.get("init") == "instant" and "iterations" not in given:
        given["iterations"] = default_iterations(given["init"])
    return given


def _kind(field: dataclasses.Field[Any]) -> Callable[[str], Any]:
    annotation = str(field.type)
    if annotation.startswith("tuple[float"):
        return _float_list
    if annotation.startswith("tuple[int"):
        return _whole_list
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


def _whole_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.replace(" ", ",").split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers separated by commas, not {text!r}") from None


def clock(seconds: float) -> str:
    """Seconds as m:ss."""
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}:{seconds:02d}"


def check_output(output: Path) -> None:
    """Refuse an output whose format or folder is unknown, before any work."""
    known = Image.registered_extensions()
    if output.suffix.lower() not in known or known[output.suffix.lower()] not in Image.SAVE:
        raise NSTError(f"cannot tell the format of {output}; end its name in .png, .jpg or .webp")
    if output.parent != Path("") and not output.parent.is_dir():
        raise NSTError(f"the folder {output.parent} does not exist")


def fail(message: str, status: int) -> int:
    """Say what went wrong on one line; returns the exit status."""
    print(f"nst: error: {message}", file=sys.stderr)
    return status
