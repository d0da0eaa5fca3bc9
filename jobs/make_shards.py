"""spark-submit entry point: `spark-submit jobs/make_shards.py --input OUT --output SHARDS [--classes A,B]`."""

import sys

from cxrpipe.cli import main

if __name__ == "__main__":
    sys.exit(main(["shards", *sys.argv[1:]]))
