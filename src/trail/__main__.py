"""`python -m trail`: the trail command line, for when its script is not on PATH."""

import sys

from trail.cli import main

sys.exit(main())
