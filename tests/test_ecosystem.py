"""docs/ecosystem.md runs as written: every bash and Python snippet, in order, from a copy of the repo's root."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from paths import REPO, SAMPLES

DOC = REPO / "docs" / "ecosystem.md"
SNIPPETS = re.findall(r"^```(bash|python)\n(.*?)^```$", DOC.read_text(), flags=re.S | re.M)
# ov-reciprocam and benchmark_app first from the venv that runs the tests, as its activate script would put them.
PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
# What a snippet writes: every out/ path it names (the first snippet's model included).
WRITTEN = re.compile(r"\bout/[\w.-]+")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A folder laid out as the repo's root (samples/ linked), with the model the first snippet makes in out/."""
    root = tmp_path_factory.mktemp("ecosystem")
    (root / "samples").symlink_to(SAMPLES)
    check(*SNIPPETS[0], root)
    return root


def check(kind: str, code: str, cwd: Path) -> None:
    """Run one snippet as a user would (bash, or a Python process) and check the files it names were written."""
    env = os.environ | {"PATH": PATH, "MPLBACKEND": "Agg"}
    command = ["bash", "-euo", "pipefail", "-c", code] if kind == "bash" else [sys.executable, "-c", code]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    for written in WRITTEN.findall(code):
        assert (cwd / written).is_file(), f"{written} was not written"


def test_the_doc_shows_every_tool():
    text = "\n".join(code for _, code in SNIPPETS)
    for tool in ("ov-reciprocam patch", "benchmark_app", "Visualizer", "plt.imshow", "draw_map"):
        assert tool in text, tool


@pytest.mark.parametrize(("kind", "code"), SNIPPETS[1:], ids=[f"{k}-{i + 1}" for i, (k, _) in enumerate(SNIPPETS[1:])])
def test_snippet_runs(kind, code, root):
    if "benchmark_app" in code and shutil.which("benchmark_app", path=PATH) is None:
        pytest.skip("benchmark_app is not installed (the openvino wheel brings it)")
    if "model_api" in code:
        pytest.importorskip("model_api")
    check(kind, code, root)
