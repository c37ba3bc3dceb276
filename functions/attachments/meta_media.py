"""Download what a citizen attached on WhatsApp, Messenger or Instagram, through the Graph API.

WhatsApp Cloud API (https://developers.facebook.com/documentation/business-messaging/whatsapp/
business-phone-numbers/media/): the webhook carries a media id (valid 7 days). `GET /{media-id}`
with the access token answers `{"url", "mime_type", "sha256", "file_size", "id"}`; the `url` is
short-lived (minutes) and is itself fetched with the same `Authorization: Bearer` token.
Messenger and Instagram (Messenger Platform webhook `messages`, `attachments[].payload.url`):
the attachment carries a signed CDN URL that is fetched as is, and expires too.

Every request goes through functions/http_client.py (timeouts, bounded retries on 429/5xx and
broken connections); a download stops reading at the size limit plus one byte.
"""
from __future__ import annotations

import base64
import hashlib

from ..http_client import HttpClient, HttpUnavailable
from .port import Fetched, FetchFailed, too_large

EXPIRED = "tautan Meta sudah kedaluwarsa atau berkas sudah dihapus Meta"


class MetaMediaFetcher:
    def __init__(self, graph_url: str, whatsapp_token: str, *, http: HttpClient | None = None):
        self.graph_url = graph_url.rstrip("/")
        self.token = whatsapp_token
        self.http = http or HttpClient(timeout=(5.0, 30.0), retries=2, backoff=1.0)

    def fetch(self, value: str, max_bytes: int) -> Fetched:
        """`value` is a WhatsApp media id or a Messenger/Instagram attachment URL."""
        if value.startswith("https://"):
            return self._download(value, max_bytes, headers={})
        if not value.isdigit():
            raise FetchFailed("unreachable", "rujukan berkas tidak dikenal")
        if not self.token:
            raise FetchFailed("no_token", "WHATSAPP_ACCESS_TOKEN belum diatur, berkas tidak dapat diunduh")
        auth = {"Authorization": f"Bearer {self.token}"}
        try:
            meta = self.http.request("GET", f"{self.graph_url}/{value}", headers=auth)
        except HttpUnavailable as e:
            raise FetchFailed("unreachable", "Graph API tidak menjawab") from e
        if meta.status in (400, 404, 410) or not meta.ok or not isinstance(meta.body, dict) or not meta.body.get("url"):
            if meta.status in (400, 404, 410):
                raise FetchFailed("expired", EXPIRED)
            raise FetchFailed("unreachable", f"Graph API menjawab HTTP {meta.status}")
        size = meta.body.get("file_size")
        if isinstance(size, (int, str)) and str(size).isdigit() and int(size) > max_bytes:
            raise too_large(int(size), max_bytes)
        got = self._download(str(meta.body["url"]), max_bytes, headers=auth)
        digest = str(meta.body.get("sha256") or "").strip()
        if digest and len(got.data) <= max_bytes and not _same_digest(got.data, digest):
            raise FetchFailed("corrupt", "berkas rusak saat diunduh (sha256 tidak cocok)")
        return Fetched(got.data, str(meta.body.get("mime_type") or ""))

    def _download(self, url: str, max_bytes: int, headers: dict) -> Fetched:
        try:
            resp = self.http.request("GET", url, headers=headers, max_bytes=max_bytes)
        except HttpUnavailable as e:
            raise FetchFailed("unreachable", "server berkas Meta tidak menjawab") from e
        if resp.status in (401, 403, 404, 410):
            raise FetchFailed("expired", EXPIRED)
        if not resp.ok or not isinstance(resp.body, bytes):
            raise FetchFailed("unreachable", f"server berkas Meta menjawab HTTP {resp.status}")
        if len(resp.body) > max_bytes:
            raise too_large(len(resp.body), max_bytes)
        return Fetched(resp.body, resp.headers.get("Content-Type", ""))


def _same_digest(data: bytes, given: str) -> bool:
    """Meta writes the SHA-256 as hex in some answers and as base64 in others: either matches."""
    raw = hashlib.sha256(data).digest()
    return given.lower() == raw.hex() or given == base64.b64encode(raw).decode("ascii")
