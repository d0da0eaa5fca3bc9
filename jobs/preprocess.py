"""spark-submit entry point: `spark-submit jobs/preprocess.py --dataset nih --index ... --images ... --output ...`."""

import sys

from cxrpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["preprocess", *sys.argv[1:]]))
