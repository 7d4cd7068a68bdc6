"""The command line, ``python -m nst``: one module per command, what they share in :mod:`nst.commands.common`.

- ``python -m nst CONTENT STYLE -o OUT.png``: :mod:`nst.commands.picture`
- ``python -m nst batch CONTENT... --style STYLE... -o OUTDIR``: :mod:`nst.commands.batch`
- ``python -m nst video CLIP STYLE -o OUT.mp4``: :mod:`nst.commands.video`

Every command runs on the executor that ``--cluster`` names, by default the ``NST_CLUSTER``
variable's, else in this process. Only the command given is imported (``--help`` stays fast).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

COMMANDS = ("batch", "video")  # the first argument that names one of these runs it; else a picture


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command the arguments name; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name, rest = (argv[0], argv[1:]) if argv[:1] and argv[0] in COMMANDS else ("picture", argv)
    command = importlib.import_module(f"nst.commands.{name}")
    status: int = command.main(rest)
    return status
