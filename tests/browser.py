"""Open a report in a headless Chromium: its DOM after load, or a PNG screenshot.

Test tooling, not shipped: for the browser test and ``scripts/report_screenshot.py``; the report
itself never needs it. Chromium runs with its own throw-away profile and with background networking, component
updates, sync and QUIC off, so it talks to nothing; each run is bounded by a timeout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio")
# Virtual time lets the page's load handler run before the DOM is dumped, without sleeping.
VIRTUAL_TIME_MS = 5000


def find_chromium() -> str:
    """The path of a Chromium executable.

    Raises:
        FileNotFoundError: none installed (on Debian: apt-get install chromium).
    """
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError("no Chromium found (tried " + ", ".join(BROWSERS) + "): apt-get install -y chromium")


def run_chromium(page: Path, actions: list[str], timeout: float = 90.0) -> str:
    """Run headless Chromium on a local page with extra ``actions`` flags; returns its stdout.

    Raises:
        FileNotFoundError: no Chromium.
        subprocess.TimeoutExpired: it ran longer than ``timeout`` seconds (it is killed).
        RuntimeError: it exited with an error (the message holds the end of its stderr).
    """
    with tempfile.TemporaryDirectory(prefix="cxrpipe-chromium-") as profile:
        command = [find_chromium(), *FLAGS, f"--user-data-dir={profile}",
                   f"--virtual-time-budget={VIRTUAL_TIME_MS}", *actions, Path(page).resolve().as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def dump_dom(page: Path, timeout: float = 90.0) -> str:
    """The page's DOM as serialized after its load handlers ran."""
    return run_chromium(page, ["--dump-dom"], timeout)


def page_height(dom: str) -> int | None:
    """The height the report's load handler recorded on <body> (``data-page-height``), if any."""
    found = re.search(r'data-page-height="(\d+)"', dom)
    return int(found.group(1)) if found else None


def screenshot(page: Path, png: Path, width: int = 1400, height: int | None = None,
               max_height: int = 16000, timeout: float = 120.0) -> Path:
    """A PNG of the page; ``height`` None means the whole page (up to ``max_height`` pixels).

    Returns:
        The PNG's path.
    """
    if height is None:
        laid_out = run_chromium(page, ["--dump-dom", f"--window-size={width},3000"], timeout)
        height = min(page_height(laid_out) or 3000, max_height)
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    run_chromium(page, [f"--screenshot={png}", f"--window-size={width},{height}"], timeout)
    if not png.is_file():
        raise RuntimeError(f"chromium wrote no screenshot at {png}")
    return png
