"""The citizen's messages live in `functions/digest/templates/citizen.toml`: every message the
code asks for exists there, every message there is used, and a forgotten value is an error
(never a blank or a literal `$ticket` in what a citizen reads)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from functions.digest.citizen import keys, say

ROOT = Path(__file__).resolve().parents[2]


def asked_for() -> set[str]:
    """Message keys named in the code: say("key" ...) and the f"prefix_{kind}" families."""
    text = (ROOT / "functions/services/replies.py").read_text(encoding="utf-8")
    literal = set(re.findall(r'say\("([a-z_]+)"', text)) | set(re.findall(r'else "([a-z_]+_other)"\)', text))
    families = {f"{p}_{k}" for p in re.findall(r'say\(f"([a-z]+)_\{kind\}"', text)
                for k in ("audio", "media", "location", "contacts")}
    return literal | families


def test_every_message_the_code_asks_for_exists_and_every_message_is_used():
    assert asked_for() - keys() == set()
    assert keys() - asked_for() == set()


def test_a_forgotten_value_is_an_error_not_a_blank():
    with pytest.raises(KeyError):
        say("withdrawn")
    assert "KMC-261102-AB3X9" in say("withdrawn", ticket="KMC-261102-AB3X9")


def test_messages_keep_their_line_breaks_and_join_continued_lines():
    guide = say("guide", prefix="KMC")
    assert guide.splitlines()[0] == "Halo, terima kasih sudah menghubungi Ketapang Media Center (KMC)."
    assert "contoh STATUS KMC-250101-AB3X9." in guide and len(guide.splitlines()) == 8
    assert "\n" not in say("privacy") and "tidak ditampilkan ke publik" in say("privacy")
