"""``python -m skclip_noise``: the ``skclip-noise`` command line."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
