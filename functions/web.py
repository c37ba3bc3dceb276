"""Small HTTP helpers shared by the entry points (framework-agnostic over Flask requests)."""
from __future__ import annotations

import hmac
import json
from typing import Any

from .config import Settings

JSON = {"Content-Type": "application/json; charset=utf-8"}
TEXT = {"Content-Type": "text/plain; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}
# Every HTML page we serve (form, status page, monitoring): no scripts, no framing, no sniffing.
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    # same-origin keeps the browser's Origin header on our own POSTs (the CSRF fallback)
    # and keeps ticket numbers in our URLs away from other sites.
    "Referrer-Policy": "same-origin",
}


def load_json(text: str | bytes) -> tuple[bool, Any]:
    """(ok, value): JSON that is malformed or nested too deeply for Python's parser
    (RecursionError) is `(False, None)`, never an exception."""
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def json_reply(data: Any, status: int = 200, headers: dict | None = None):
    return json.dumps(data, ensure_ascii=False, default=str), status, {**JSON, **(headers or {})}


def error_reply(message: str, status: int):
    """A 4xx/5xx with an Indonesian message a person can act on."""
    return json_reply({"error": message}, status)


def subpath(request, mount: str) -> str:
    """The path below a function's mount: `/form/status` under serve and `/status` in the cloud."""
    path = request.path or "/"
    if path == mount or path.startswith(mount + "/"):
        path = path[len(mount):]
    return "/" + path.strip("/")


def bearer_ok(request, settings: Settings) -> bool:
    """Internal endpoints: bearer KMC_ADMIN_TOKEN (constant-time compare).

    In the cloud the private functions also sit behind IAM (Cloud Scheduler's OIDC token is
    verified by the platform before the request reaches us), so an IAM-authenticated call
    without the admin token is accepted there.
    """
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if settings.admin_token and token and hmac.compare_digest(token.encode(), settings.admin_token.encode()):
        return True
    return settings.in_cloud and settings.private_functions_behind_iam and bool(token)
