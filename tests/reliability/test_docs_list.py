"""docs/reliability.md lists every case of the bad-input tables and no other, so the promise and the tests cannot
drift apart."""

from __future__ import annotations

import re

import test_models
import test_outputs
import test_values
from paths import REPO

# A row of the docs' case tables: | case | CLI or API | outcome |
_ROW = re.compile(r"^\| (.+?) \| (?:CLI|API) \|", re.MULTILINE)


def test_every_case_is_listed_in_the_docs():
    text = (REPO / "docs" / "reliability.md").read_text()
    cases = [c.name for m in (test_values, test_models, test_outputs) for c in (*m.ROWS, *m.CALLS)]
    assert len(cases) > 50
    missing = [name for name in cases if f"| {name} |" not in text]
    assert not missing, f"add these cases to docs/reliability.md: {missing}"
    stale = [name for name in _ROW.findall(text) if name not in cases]
    assert not stale, f"docs/reliability.md lists cases no test has: {stale}"
