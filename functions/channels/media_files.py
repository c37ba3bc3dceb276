"""`serve`: GET /media/<name> opens a stored attachment for KMC staff, never for the public.

The local media store links rows to `KMC_PUBLIC_URL/media/kasus/2026/...`. Opening such a link
asks for the admin login: the browser's own password prompt (HTTP Basic; any user name, the
password is KMC_ADMIN_TOKEN) or `Authorization: Bearer KMC_ADMIN_TOKEN` from a script. Without
KMC_ADMIN_TOKEN set, nobody can open the files through the server. In the cloud the links point
at Cloud Storage instead (functions/media_store/gcs.py) and this path is not deployed.
"""
from __future__ import annotations

import base64
import binascii
import hmac
from typing import TYPE_CHECKING

from ..media_store.port import valid_name
from ..services.attachments import kit_of
from ..web import bearer_ok

if TYPE_CHECKING:
    from ..services.context import Services

REALM = 'Basic realm="KMC Aduan - lampiran (kata sandi: token admin)", charset="UTF-8"'
INLINE = ("image/", "audio/", "video/", "application/pdf")


def _basic_ok(request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    if not token or header[:6].lower() != "basic ":
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    password = decoded.partition(":")[2]
    return hmac.compare_digest(password.encode(), token.encode())


def _text(message: str, status: int, extra: dict | None = None):
    headers = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store",
               "X-Content-Type-Options": "nosniff", **(extra or {})}
    return message, status, headers


def serve_media(request, svc: "Services", name: str):
    settings = svc.settings
    if not settings.admin_token:
        return _text("Lampiran hanya dapat dibuka oleh admin KMC; KMC_ADMIN_TOKEN belum diatur di server.", 403)
    if not (bearer_ok(request, settings) or _basic_ok(request, settings.admin_token)):
        return _text("Masuk dengan token admin KMC untuk membuka lampiran.", 401, {"WWW-Authenticate": REALM})
    kit = kit_of(svc)
    if kit is None or not valid_name(name):
        return _text("Lampiran tidak ditemukan.", 404)
    found = kit.store.get(name)
    if found is None:
        return _text("Lampiran tidak ditemukan (mungkin sudah dihapus atas permintaan pelapor).", 404)
    data, mime = found
    disposition = "inline" if mime.startswith(INLINE) else "attachment"
    return data, 200, {"Content-Type": mime, "Content-Disposition": f'{disposition}; filename="{name.rsplit("/", 1)[-1]}"',
                       "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
                       "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; sandbox",
                       "Referrer-Policy": "no-referrer"}
