"""A real headless browser (Debian's Chromium) that opens a page from disk and gives back the DOM its scripts made.

`.ci/run` installs Chromium when it is missing and sets OV_RECIPROCAM_CI, so there a missing browser fails
the tests; elsewhere they skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

# The flags a sandboxed, offline machine needs: no sandbox as root, no GPU, no calls home.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("OV_RECIPROCAM_CI"):
        pytest.fail("Chromium is missing in CI: .ci/run should have installed Debian's chromium package")
    pytest.skip("Chromium is not installed (Debian's chromium package; .ci/run installs it)")


def _run(page: Path, fragment: str, *extra: str) -> subprocess.CompletedProcess:
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    with tempfile.TemporaryDirectory() as profile:
        command = [chromium(), *FLAGS, f"--user-data-dir={profile}", *extra, url]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)


def rendered(page: Path, fragment: str = "", *flags: str) -> str:
    """The page's DOM after its scripts ran, opened at `page#fragment` (with Chromium's `flags`, say a window size)."""
    done = _run(page, fragment, "--dump-dom", *flags)
    assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def screenshot(page: Path, picture: Path, size: str = "1100,700") -> None:
    done = _run(page, "", f"--screenshot={picture}", f"--window-size={size}")
    assert done.returncode == 0 and picture.is_file(), done.stderr[-2000:]
