"""The `ov-reciprocam` command as a user runs it: a subprocess, its exit code, stdout and stderr."""

from __future__ import annotations

import signal
import subprocess
import sys


def cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ov_reciprocam", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


def interruptible() -> None:
    """For `Popen(preexec_fn=...)`: Ctrl-C reaches the child as it reaches a command typed in a terminal. A child
    inherits a signal its parent ignores, and Python then keeps it so: a suite started as a background job of a
    shell without job control (`nohup ... &`) ignores SIGINT, and the runs these tests stop ran to their end."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)
