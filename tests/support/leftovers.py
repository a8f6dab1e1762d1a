"""Processes a test left running, found by what they mention: a test's own folder appears in the
command line or the environment of every process a local fleet starts (hub, sidecars, agents)."""
from __future__ import annotations

import os
from pathlib import Path


def processes_mentioning(text: str) -> list[str]:
    """Live processes (zombies aside) whose command line or environment holds `text`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()[0] in ("Z", "X"):
                continue
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline + environ:
            found.append(f"{entry}: {cmdline.replace(bytes(1), b' ').decode(errors='replace')}")
    return found
