"""Structured logs: one JSON object per line on stderr, the shape Cloud Logging understands.

Usage:  log("INFO", "complaint stored", ticket=t, channel="WhatsApp", opd="PUTR", ms=42)

Inside a Flask request (functions-framework, `serve`) every entry also carries the request's
trace (`logging.googleapis.com/trace`, from `X-Cloud-Trace-Context`) once `configure(project_id)`
has been called (bootstrap.services() does), so Cloud Logging groups a request's lines.

Personal data never reaches a log line: fields named like personal data (DENIED_FIELDS, also as
a part of a snake_case name such as `reporter_name`) are dropped and listed under `redacted`, and
anything that looks like an Indonesian phone number in the message or a string value is masked.
Standard library only, so importing it costs nothing on a cold start.
"""
from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timezone
from typing import Any, Mapping

DENIED_FIELDS = frozenset({"name", "phone", "text", "contact", "reporter", "body"})

TRACE_KEY = "logging.googleapis.com/trace"
SPAN_KEY = "logging.googleapis.com/spanId"
SAMPLED_KEY = "logging.googleapis.com/trace_sampled"

# Cloud Logging's LogSeverity names; anything else is logged as DEFAULT.
SEVERITIES = frozenset(
    {"DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY"}
)
_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL", "EXCEPTION": "ERROR"}

# 08xx / 628xx / +628xx followed by 7-12 digits, optionally split by spaces or dashes, standing
# alone (not inside a hex trace id or a longer token).
_PHONE = re.compile(r"(?<![\w+])(?:\+?62|0)8(?:[ -]?\d){7,12}(?!\w)")
_TRACE_HEADER = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d+))?(?:;o=([01]))?$")


_config = {"project_id": ""}


def configure(project_id: str) -> None:
    """Set the Google Cloud project that request trace ids belong to ("" = no trace fields)."""
    _config["project_id"] = project_id or ""


def request_trace() -> dict[str, Any]:
    """Trace fields of the current Flask request, if any (Flask is never imported from here)."""
    flask = sys.modules.get("flask")
    if flask is None or not _config["project_id"]:
        return {}
    try:
        if not flask.has_request_context():
            return {}
        header = flask.request.headers.get("X-Cloud-Trace-Context")
    except Exception:  # noqa: BLE001 - a half-torn-down request context
        return {}
    return trace_context(header, _config["project_id"])


def _denied(key: str) -> bool:
    lowered = key.lower()
    return lowered in DENIED_FIELDS or any(part in DENIED_FIELDS for part in lowered.split("_"))


def _mask_phones(value: str) -> str:
    return _PHONE.sub("[nomor disamarkan]", value)


def safe_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields` without personal data: denied names dropped (listed under `redacted`)."""
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in fields.items():
        if _denied(key):
            dropped.append(key)
        elif isinstance(value, str):
            kept[key] = _mask_phones(value)
        else:
            kept[key] = value
    if dropped:
        kept["redacted"] = sorted(dropped)
    return kept


def _severity(value: str) -> str:
    upper = str(value).strip().upper()
    upper = _ALIASES.get(upper, upper)
    return upper if upper in SEVERITIES else "DEFAULT"


def format_entry(severity: str, message: str, fields: Mapping[str, Any], now: datetime | None = None) -> str:
    """The JSON line for one entry (no trailing newline)."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    entry: dict[str, Any] = {
        "severity": _severity(severity),
        "message": _mask_phones(str(message)),
        "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    for key, value in safe_fields(fields).items():
        if key not in entry:
            entry[key] = value
    return json.dumps(entry, ensure_ascii=False, default=str, separators=(",", ":"))


def log(severity: str, message: str, **fields: Any) -> None:
    """Write one structured entry to stderr; never raises (a log line must not break a request)."""
    try:
        line = format_entry(severity, message, {**request_trace(), **fields})
    except Exception as exc:  # noqa: BLE001 - logging must not take the caller down
        line = json.dumps({"severity": "ERROR", "message": "log entry could not be encoded",
                           "error": type(exc).__name__})
    stream = sys.stderr
    try:
        stream.write(line + "\n")
        stream.flush()
    except Exception:  # noqa: BLE001 - closed stream at interpreter exit
        pass


def trace_context(header_value: str | None, project_id: str | None) -> dict[str, Any]:
    """Fields linking a log entry to its request, from `X-Cloud-Trace-Context: TRACE/SPAN;o=1`.

    Returns {} when the header or the project is missing or the header is malformed, so the
    result can always be splatted into `log(...)`.
    """
    if not header_value or not project_id:
        return {}
    match = _TRACE_HEADER.match(header_value.strip())
    if not match:
        return {}
    trace_id, span_id, sampled = match.groups()
    fields: dict[str, Any] = {TRACE_KEY: f"projects/{project_id}/traces/{trace_id.lower()}"}
    if span_id:
        # The header carries a decimal span id; Cloud Logging expects 16 hex digits.
        fields[SPAN_KEY] = f"{int(span_id) % 2**64:016x}"
    if sampled is not None:
        fields[SAMPLED_KEY] = sampled == "1"
    return fields
