#!/usr/bin/env python3
"""A PNG screenshot of a `cxrpipe report` page, taken by headless Chromium, to look at.

    .venv/bin/python scripts/report_screenshot.py demo-out/report/index.html --png report.png

Or from a dataset, writing the report first:

    .venv/bin/python scripts/report_screenshot.py --dataset demo-out/dataset --png report.png

Needs Debian's chromium (apt-get install -y chromium). Prints the PNG's path and how many of
the page's pictures loaded.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("page", nargs="?", type=Path, help="a report's index.html")
    parser.add_argument("--dataset", default=None, help="a dataset root: write its report first")
    parser.add_argument("--png", type=Path, default=Path("report.png"), help="where to write the PNG")
    parser.add_argument("--width", type=int, default=1400, help="window width in pixels")
    parser.add_argument("--height", type=int, default=None,
                        help="window height in pixels (default: the whole page, up to 16000)")
    parser.add_argument("--s3-endpoint", default=None, help="an S3-compatible endpoint for --dataset")
    args = parser.parse_args(argv)
    if (args.page is None) == (args.dataset is None):
        parser.error("give either a report page or --dataset")

    from cxrpipe import storage
    from cxrpipe.report import write_report

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the browser driver is test tooling
    import browser

    with tempfile.TemporaryDirectory(prefix="cxrpipe-report-") as tmp:
        page = args.page or write_report(args.dataset, Path(tmp),
                                         storage.StorageConfig.from_env(args.s3_endpoint))
        loaded = re.search(r'data-images-loaded="([^"]*)"', browser.dump_dom(page))
        png = browser.screenshot(page, args.png, width=args.width, height=args.height)
    print(f"screenshot: {png} (pictures loaded: {loaded.group(1) if loaded else 'unknown'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
