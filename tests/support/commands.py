"""The `ov-reciprocam` command as a user runs it: a subprocess, its exit code, stdout and stderr."""

from __future__ import annotations

import subprocess
import sys


def cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ov_reciprocam", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )
