"""``python -m nst``: see :mod:`nst.cli`."""

import sys

from nst.cli import main

if __name__ == "__main__":
    sys.exit(main())
