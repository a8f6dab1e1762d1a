"""Headless Chromium from the system's packages (`/usr/bin/chromium`), driven by Playwright.
Playwright never downloads a browser here; `./agentcom.py test` installs Debian's `chromium`
when it is missing. Without it, browser tests fail under CI and are skipped elsewhere, with the
reason."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path(os.environ.get("AGENTCOM_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def missing() -> str | None:
    """Why the browser tests cannot run, or None when they can."""
    if CHROMIUM.exists():
        return None
    why = os.environ.get("AGENTCOM_CHROMIUM_MISSING") or "it was not installed"
    return (f"{CHROMIUM} is missing ({why}); install Debian's package as root: "
            "apt-get install -y --no-install-recommends chromium")


@contextmanager
def chromium():
    """A Playwright browser on the system Chromium; closed (with its driver) on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()
