"""Structured logs: one JSON line per entry, Cloud Logging fields, never personal data."""
import json
from datetime import datetime, timezone

import pytest

from functions.logs import SPAN_KEY, TRACE_KEY, format_entry, log, safe_fields, trace_context


def _lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_log_writes_one_json_object_per_line_to_stderr(capsys):
    log("INFO", "complaint stored", ticket="KMC-250101-AB12", channel="WhatsApp", opd="PUTR", ms=42)
    log("warning", "sheets slow", ms=2100)
    first, second = _lines(capsys)
    assert first["severity"] == "INFO"
    assert first["message"] == "complaint stored"
    assert (first["ticket"], first["channel"], first["opd"], first["ms"]) == (
        "KMC-250101-AB12", "WhatsApp", "PUTR", 42)
    assert first["time"].endswith("Z")
    assert second["severity"] == "WARNING"
    assert capsys.readouterr().out == ""


def test_time_is_utc_rfc3339():
    when = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    assert json.loads(format_entry("INFO", "x", {}, now=when))["time"] == "2025-01-02T03:04:05.678Z"


@pytest.mark.parametrize("given,expected", [
    ("info", "INFO"), ("WARN", "WARNING"), ("error", "ERROR"), ("critical", "CRITICAL"),
    ("debug", "DEBUG"), ("loud", "DEFAULT"),
])
def test_severity_uses_cloud_logging_names(given, expected):
    assert json.loads(format_entry(given, "x", {}))["severity"] == expected


@pytest.mark.parametrize("field", [
    "name", "phone", "text", "contact", "reporter", "body",
    "Phone", "reporter_name", "phone_number", "contact_full", "raw_body",
])
def test_personal_data_fields_never_reach_the_log(capsys, field):
    log("INFO", "intake", ticket="KMC-250101-AB12", **{field: "Budi Santoso 081328383222"})
    (entry,) = _lines(capsys)
    assert field not in entry
    assert entry["redacted"] == [field]
    assert entry["ticket"] == "KMC-250101-AB12"
    raw = json.dumps(entry)
    assert "Budi" not in raw and "081328383222" not in raw


@pytest.mark.parametrize("number", ["081328383222", "+6281328383222", "6281328383222", "0813-2838-3222"])
def test_phone_numbers_in_message_or_values_are_masked(capsys, number):
    log("ERROR", f"send failed to {number}", error=f"graph api rejected {number}")
    (entry,) = _lines(capsys)
    assert number not in entry["message"] and number not in entry["error"]
    assert "[nomor disamarkan]" in entry["message"]


def test_ids_that_merely_contain_digits_are_kept():
    fields = safe_fields({"ticket": "KMC-250101-AB12", "message_id": "wamid.HBgM6281328383222",
                          "opd": "PUTR", "ms": 12})
    assert fields["ticket"] == "KMC-250101-AB12"
    assert fields["opd"] == "PUTR" and fields["ms"] == 12
    assert "redacted" not in fields


def test_fields_cannot_override_severity_message_or_time():
    entry = json.loads(format_entry("INFO", "real", {"severity": "EMERGENCY", "message": "fake",
                                                     "time": "yesterday"}))
    assert (entry["severity"], entry["message"]) == ("INFO", "real")
    assert entry["time"] != "yesterday"


def test_unserialisable_values_are_stringified(capsys):
    log("INFO", "x", when=datetime(2025, 1, 1, tzinfo=timezone.utc), path=object)
    (entry,) = _lines(capsys)
    assert entry["when"].startswith("2025-01-01")


def test_trace_context_from_cloud_header():
    fields = trace_context("105445aa7843bc8bf206b12000100000/1;o=1", "kmc-aduan")
    assert fields[TRACE_KEY] == "projects/kmc-aduan/traces/105445aa7843bc8bf206b12000100000"
    assert fields[SPAN_KEY] == "0000000000000001"
    assert fields["logging.googleapis.com/trace_sampled"] is True


def test_trace_context_without_span():
    assert trace_context("105445AA7843BC8BF206B12000100000", "p") == {
        TRACE_KEY: "projects/p/traces/105445aa7843bc8bf206b12000100000"}


@pytest.mark.parametrize("header,project", [
    (None, "p"), ("", "p"), ("105445aa7843bc8bf206b12000100000/1;o=1", ""),
    ("not-a-trace", "p"), ("105445aa/1;o=1", "p"),
])
def test_trace_context_is_empty_when_unusable(header, project):
    assert trace_context(header, project) == {}


def test_trace_fields_survive_into_the_entry(capsys):
    log("INFO", "x", **trace_context("105445aa7843bc8bf206b12000100000/7;o=0", "p"))
    (entry,) = _lines(capsys)
    assert entry[TRACE_KEY] == "projects/p/traces/105445aa7843bc8bf206b12000100000"
    assert entry["logging.googleapis.com/trace_sampled"] is False


def test_entries_inside_a_request_carry_its_trace(capsys):
    from flask import Flask

    from functions import logs

    app = Flask(__name__)
    logs.configure("kmc-aduan")
    try:
        with app.test_request_context(headers={"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/3;o=1"}):
            log("INFO", "complaint stored", ticket="KMC-250101-AB12")
        with app.test_request_context():  # no header: nothing to link
            log("INFO", "no trace")
        log("INFO", "outside a request")
    finally:
        logs.configure("")
    inside, without_header, outside = _lines(capsys)
    assert inside[TRACE_KEY] == "projects/kmc-aduan/traces/105445aa7843bc8bf206b12000100000"
    assert inside[SPAN_KEY] == "0000000000000003"
    assert TRACE_KEY not in without_header and TRACE_KEY not in outside


def test_no_trace_until_the_project_is_known(capsys):
    from flask import Flask

    app = Flask(__name__)
    with app.test_request_context(headers={"X-Cloud-Trace-Context": "105445aa7843bc8bf206b12000100000/3;o=1"}):
        log("INFO", "x")
    (entry,) = _lines(capsys)
    assert TRACE_KEY not in entry


def test_importing_logs_stays_cheap():
    import subprocess
    import sys

    code = "import sys; import functions.logs; print(sorted(m for m in ('flask', 'requests', 'gspread') if m in sys.modules))"
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
