"""``python -m nst``: see :mod:`nst.commands`."""

import sys

from nst.commands import main

if __name__ == "__main__":
    sys.exit(main())
