"""Values checked where they enter: recipes, layouts, labels, photos, options (CLI and API)."""

from __future__ import annotations

import pytest
from table import Call, Row, check, check_call

import ov_reciprocam as orc

ROWS = [
    Row(
        "scale zero",
        ("explain", "{dog}", "{photo}", "--mean", "127.5", "--scale", "0", "--rgb", "-o", "{tmp}/out"),
        says=r"scale",
    ),
]

CALLS = [
    Call("Recipe scale zero", lambda p, tmp: orc.Recipe(scale=(0.0,)), says=r"scale"),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_cli(row, places, tmp_path):
    check(row, places, tmp_path)


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
def test_api(call, places, tmp_path):
    check_call(call, places, tmp_path)
