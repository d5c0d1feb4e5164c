"""`python -m trail.cli`: the trail command line."""

import sys

from trail.cli import main

sys.exit(main())
