"""The bad-input table's machinery: a row says what the user brings and what they must see.

A row is one command line (or one API call) with `{placeholders}` for the files it needs, and its expected
outcome: a refusal (exit 1, one `Error:` line matching `says`, no raw library text, nothing half-written), or a
run that succeeds and says something (`note`). Adding a bad input is adding one row to a test module's table.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Text a user must never see: a traceback, OpenVINO's C++ origins, frontend logs, Python's own exception names.
RAW = (
    "Traceback",
    "Exception from",
    "While validating",
    "text_format",
    "src/",
    ".cpp:",
    "[ WARN",
    "[ERROR",
    "basic_ios",
    "Errno",
    "RuntimeWarning",
    "UnicodeDecodeError",
    "PermissionError",
    "RuntimeError",
    "TypeError",
    "ValueError",
    "KeyError",
    "IndexError",
    "AttributeError",
)


@dataclass(frozen=True)
class Row:
    """One bad or odd input and what must happen.

    args: the command line after `ov-reciprocam`, with `{placeholders}` (see `World`).
    says: a regex the one `Error:` line must match (code 1), or stdout/stderr must match (code 0).
    make: writes the files the row needs into its own folder (`{tmp}`) before the command runs.
    check: more assertions on the finished run (its folder, stdout, stderr).
    """

    name: str
    args: tuple[str, ...]
    says: str
    code: int = 1
    make: Callable[[Path], None] | None = None
    check: Callable[[Path, subprocess.CompletedProcess], None] | None = None
    env: dict[str, str] = field(default_factory=dict)


def run(row: Row, places: dict[str, str], tmp: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the row's command in a fresh process, as a user would."""
    import os

    tmp.mkdir(parents=True, exist_ok=True)
    if row.make:
        row.make(tmp)
    args = [a.format(**places, tmp=tmp) for a in row.args]
    env = {**os.environ, **row.env}
    return subprocess.run(
        [sys.executable, "-m", "ov_reciprocam", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def assert_outcome(row: Row, done: subprocess.CompletedProcess, tmp: Path) -> None:
    """The row's expected exit code and words, and never any raw text."""
    both = done.stdout + done.stderr
    raw = [r for r in RAW if r in both]
    assert not raw, f"{row.name}: raw text {raw} in:\n{both[-2000:]}"
    assert done.returncode == row.code, f"{row.name}: exit {done.returncode}, expected {row.code}:\n{both[-2000:]}"
    if row.code == 0:
        assert re.search(row.says, both), f"{row.name}: nothing matches {row.says!r} in:\n{both[-2000:]}"
    else:
        errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, f"{row.name}: expected one Error: line, got:\n{done.stderr[-2000:]}"
        others = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("Error:")]
        assert not others, f"{row.name}: lines besides the error: {others}"
        assert re.search(row.says, errors[0]), f"{row.name}: {errors[0]!r} does not match {row.says!r}"
        leftovers = [p.name for p in tmp.rglob(".*")] if tmp.exists() else []
        assert not leftovers, f"{row.name}: temporary files left: {leftovers}"
    if row.check:
        row.check(tmp, done)


@dataclass(frozen=True)
class Call:
    """One bad value given to the Python API, and the ReciproCamError it must raise (`says`, a regex)."""

    name: str
    call: Callable[[dict[str, Path], Path], object]
    says: str


def check(row: Row, places: dict[str, str], tmp: Path) -> None:
    """Run `row` and assert its outcome: what a parametrized test over a table calls."""
    assert_outcome(row, run(row, places, tmp), tmp)


def check_call(call: Call, places: dict[str, str], tmp: Path) -> None:
    """Call the API as `call` says and assert the ReciproCamError it raises names the cause."""
    import pytest

    import ov_reciprocam as orc

    paths = {k: Path(v) for k, v in places.items()}
    with pytest.raises(orc.ReciproCamError, match=call.says):
        call.call(paths, tmp)


def table_tests(rows: list[Row], calls: list[Call]) -> tuple[Callable[..., None], Callable[..., None]]:
    """A table module's two tests, each case its own test id: `test_cli, test_api = table_tests(ROWS, CALLS)`."""
    import pytest

    @pytest.mark.parametrize("row", rows, ids=lambda r: r.name)
    def test_cli(row: Row, places: dict[str, str], tmp_path: Path) -> None:
        check(row, places, tmp_path)

    @pytest.mark.parametrize("call", calls, ids=lambda c: c.name)
    def test_api(call: Call, places: dict[str, str], tmp_path: Path) -> None:
        check_call(call, places, tmp_path)

    return test_cli, test_api
