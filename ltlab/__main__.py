"""``python -m ltlab``: the ``ltlab`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
