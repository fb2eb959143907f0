"""``python -m sb3_spiking``: the ``sb3-spiking`` command line."""

import sys

from sb3_spiking.cli import main

if __name__ == "__main__":
    sys.exit(main())
