"""journal.py owns the Log: every kind declared once, keys as earlier versions wrote them,
retentions that outlive their readers, and no module spelling a kind or a key by hand."""
from __future__ import annotations

import ast
import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

from functions import journal
from functions.journal import KINDS, cutoffs

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)

# Files other engineers own this round (issue 17 part B): they keep a local constant until the
# merge (coord17.md); the kinds are declared here all the same.
NOT_YET: set[str] = set()  # every module builds its entries through journal.py


def test_keys_are_byte_identical_to_what_earlier_versions_wrote():
    """Old Log entries must still deduplicate: these are the spellings of the code before journal.py."""
    at = datetime(2026, 11, 2, 8, 30, tzinfo=timezone(timedelta(hours=7)))
    assert journal.reminder_key("PUTR", "KMC-261102-AB3X9") == "PUTR:KMC-261102-AB3X9"
    assert journal.overdue_list_key("2026-11-02", "DLH") == "2026-11-02:DLH"
    assert journal.overdue_notice("2026-11-02", "DLH") == "overdue:2026-11-02:DLH"
    assert journal.reminder_notice("PUTR", ["A", "B"]) == "reminder:PUTR:" + journal.short_hash("A,B")
    assert journal.short_hash("A,B") == hashlib.sha256(b"A,B").hexdigest()[:12]
    assert journal.whatsapp_delivery_key("alert:PUTR:abc", "62812") == "alert:PUTR:abc|wa|" + journal.short_hash("62812")
    assert journal.email_delivery_key("overdue:2026-11-02:DLH") == "overdue:2026-11-02:DLH|email"
    assert journal.delivery_problem_key(journal.fallback_key("k|wa|1")) == "k|wa|1|fallback:gagal"
    assert journal.reply_callback_key("KMC-1", "wamid.X") == "KMC-1#cb:wamid.X"
    assert journal.reply_failed_key("KMC-1", at) == "KMC-1#2026-11-02T08:30:00+07:00"
    assert journal.write_problem_key(at, "teks")[:14] == "write:20261102" and len(journal.write_problem_key(at, "t")) == 31
    assert journal.move_problem_key("KMC-1", "DLH", at) == "KMC-1:move:DLH:20261102"
    assert journal.forward_problem_key("KMC-1", "x" * 50) == "KMC-1:forward:" + "x" * 40
    assert journal.late_intake_problem_key(at) == "late:2026-11-02"
    assert journal.dead_letter_problem_key("j" * 300) == ("dead:" + "j" * 300)[:200]
    assert journal.feed_state_key(at, "{}").startswith("20261102T013000Z-")  # UTC stamp
    assert journal.media_seen_key(at, "{}", 2).endswith("-2")
    assert journal.lease_key("daily", "ab12") == "daily#ab12"
    assert journal.archive_key(2025) == "2025"
    assert journal.sender_key("WhatsApp", "628123") == hashlib.sha256(b"WhatsApp|628123").hexdigest()[:20]
    assert journal.url_key("https://x.example/a") == hashlib.sha256(b"https://x.example/a").hexdigest()[:24]
    assert journal.idempotency_key(0, "k1") == hashlib.sha256(b"0|k1").hexdigest()[:32]


def test_stored_kind_names_are_unchanged():
    assert {k: v.name for k, v in KINDS.items()} == {k: k for k in KINDS}
    assert set(KINDS) == {
        "digest", "reminder", "problem", "problem-reported", "notify", "notify-failed", "msg", "anonim", "batal",
        "reply", "reply_failed", "reply_gave_up", "lease", "lease-released", "feed-state", "media-seen",
        "media-retry", "archive_spreadsheet", "monitoring-url", "open311-idem", "selftest", "tab_ids"}


def test_cutoffs_name_exactly_the_kinds_that_expire():
    cut = cutoffs(NOW)
    assert set(cut) == {k for k, v in KINDS.items() if v.retention is not None}
    assert all(cut[k] == NOW - KINDS[k].retention for k in cut)
    for kept in ("archive_spreadsheet", "anonim", "batal", "reply_gave_up", "tab_ids"):
        assert kept not in cut


def test_retentions_outlive_their_readers():
    from functions.services.jobs import DAILY_LEASE, MEDIA_LEASE, SWEEP_LEASE
    from functions.services.replies import SERVICE_WINDOW

    assert KINDS["msg"].retention > journal.META_REDELIVERY and KINDS["msg"].retention > SERVICE_WINDOW
    assert KINDS["reply"].retention > journal.META_REDELIVERY
    assert KINDS["feed-state"].retention >= 7 * journal.FEED_STATE_REFRESH
    assert KINDS["media-seen"].retention >= timedelta(days=30)  # media.toml memory_days
    assert KINDS["lease"].retention > max(DAILY_LEASE, MEDIA_LEASE, SWEEP_LEASE)
    assert KINDS["problem-reported"].retention >= KINDS["problem"].retention
    assert KINDS["notify"].retention > timedelta(days=365)  # /monitoring takes findings up to a year old
    assert all(k.why and k.key and k.writers and k.readers for k in KINDS.values())


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "LogEntry":
            yield node


def test_no_module_spells_a_kind_or_a_key_by_hand():
    """Every LogEntry outside journal.py takes a kind constant from journal.py and a key that is
    not an f-string; no module defines a constant holding a stored kind name."""
    offences = []
    for path in sorted((ROOT / "functions").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "functions/journal.py" or rel in NOT_YET:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _calls(tree):
            args = call.args
            if args and isinstance(args[0], ast.Constant):
                offences.append(f"{rel}:{call.lineno} kind literal {args[0].value!r}")
            if len(args) > 1 and isinstance(args[1], ast.JoinedStr):
                offences.append(f"{rel}:{call.lineno} key f-string")
        for node in tree.body:
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                    and node.value.value in KINDS and any(getattr(t, "id", "").isupper() for t in node.targets)):
                offences.append(f"{rel}:{node.lineno} defines kind {node.value.value!r}")
    assert offences == []


def test_docs_log_md_lists_every_kind_with_its_retention():
    text = (ROOT / "docs" / "log.md").read_text(encoding="utf-8")
    for kind in KINDS.values():
        [row] = [line for line in text.splitlines() if line.startswith(f"| `{kind.name}` |")]
        kept = "kept for ever" if kind.retention is None else f"{kind.retention.days} days"
        assert kept in row, kind.name
