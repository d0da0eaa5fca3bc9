"""`python -m cxrpipe.cli ...`: the console script's entry point, for subprocesses and tests."""

import sys

from cxrpipe.cli import main

sys.exit(main())
