"""`python -m spillway.cli` runs the `spillway` command."""

import sys

from spillway.cli import main

sys.exit(main())
