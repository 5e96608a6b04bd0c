"""Debian's Chromium under Playwright, for the page and lab tests (tests/e2e/)."""

import os

from tests.support import ROOT

SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("RS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SLOW = 90_000  # ms: a start or restart through the page
