"""Every module of the package imports on its own, in a fresh interpreter: no import cycle hides behind the order
in which `ov_reciprocam/__init__.py` happens to import them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ov_reciprocam"
MODULES = sorted(
    ".".join(("ov_reciprocam", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
    for p in PACKAGE.rglob("*.py")
    if p.name != "__main__.py"
)


def test_every_module_is_listed():
    assert "ov_reciprocam.methods.vit.shortcut" in MODULES and "ov_reciprocam.cli" in MODULES
    assert len(MODULES) > 50


def test_each_module_imports_alone():
    # One interpreter per module, all started together: ~60 imports of OpenVINO in a few seconds.
    runs = {
        m: subprocess.Popen([sys.executable, "-c", f"import {m}"], stderr=subprocess.PIPE, text=True) for m in MODULES
    }
    errors = {m: p.communicate()[1] for m, p in runs.items()}
    failed = {m: errors[m].strip().splitlines()[-1:] for m, p in runs.items() if p.returncode}
    assert not failed, failed


@pytest.mark.parametrize("family", ["cnn", "vit"])
def test_a_family_never_imports_another_familys_names(family):
    other = {"cnn": "vit", "vit": "cnn"}[family]
    for path in (PACKAGE / "methods" / family).glob("*.py"):
        text = path.read_text()
        assert f".{other}" not in text and f"methods.{other}" not in text, path
