"""`python -m wgan ...`: see wgan/cli.py."""

import sys

from wgan.cli import main

sys.exit(main())
