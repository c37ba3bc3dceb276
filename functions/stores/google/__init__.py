"""The production store on Google Sheets: the shared OPD spreadsheet and the private contacts one.

One module per role (docs/sheets.md "Code layout"):
  http.py         the ONE place a Sheets request goes through (timeouts, retries, pacing)
  codec.py        cell values <-> Python (date serials, literal text), A1 arithmetic
  coalescer.py    concurrent callers share one write
  layout.py       what bootstrap builds, as batchUpdate requests (pure)
  index.py        metadata cache (sheet ids, column maps) and the ticket index
  reading.py      the whole-workbook read and `find`
  appends.py      intake's append, coalesced
  commit.py       a job's writes as one atomic batchUpdate plus one check
  repair.py       what a check found displaced by staff, and how to put it right (pure)
  log.py          the Log tab: read, append, expiry
  config_tabs.py  Rute, Kontak OPD, Model Rute
  workbook.py     GoogleWorkbook: the roles above on one instance
  contacts.py     GoogleContactBook

The names below are loaded on first use, so importing a light module of the package (codec,
layout) does not import `requests` and the HTTP stack.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "GoogleWorkbook": "workbook",
    "GoogleContactBook": "contacts",
    "CONTACT_TITLE": "contacts",
    "Coalescer": "coalescer",
    "to_serial": "codec",
    "from_serial": "codec",
    "SheetsHTTPClient": "http",
    "SheetsApiError": "http",
    "AmbiguousWrite": "http",
    "RetryPolicy": "http",
    "shared_client": "http",
    "client_for": "http",
}

__all__ = ["AmbiguousWrite", "CONTACT_TITLE", "Coalescer", "GoogleContactBook", "GoogleWorkbook", "RetryPolicy",
           "SheetsApiError", "SheetsHTTPClient", "client_for", "from_serial", "shared_client", "to_serial"]

if TYPE_CHECKING:
    from .codec import from_serial, to_serial
    from .coalescer import Coalescer
    from .contacts import CONTACT_TITLE, GoogleContactBook
    from .http import AmbiguousWrite, RetryPolicy, SheetsApiError, SheetsHTTPClient, client_for, shared_client
    from .workbook import GoogleWorkbook


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
