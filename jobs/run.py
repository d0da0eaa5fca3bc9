"""spark-submit entry point: `spark-submit jobs/run.py --dataset nih --index ... --images ... --output ...`."""

import sys

from cxrpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
