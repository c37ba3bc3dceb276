"""docs/security.md names the test covering each threat: every test it names must exist, so the
review cannot silently point at a test that was renamed or removed."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REF = re.compile(r"`?(tests/[\w/]+\.py)?::(\w+)(?:\[[^\]]*\])?`?")


def named_tests(text: str) -> list[tuple[str, str]]:
    """(file, test) for `tests/x.py::test_a` and for the `::test_b` shorthand that follows it."""
    out, current = [], None
    for m in REF.finditer(text):
        current = m.group(1) or current
        assert current, f"'::{m.group(2)}' has no file before it"
        out.append((current, m.group(2)))
    return out


def defined(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_every_test_named_in_the_security_review_exists():
    refs = named_tests((ROOT / "docs" / "security.md").read_text())
    assert len(refs) > 40
    missing = [f"{f}::{t}" for f, t in refs if not (ROOT / f).exists() or t not in defined(ROOT / f)]
    assert missing == []
