"""`meta_webhook` (path `/meta`): Meta's webhooks for WhatsApp, Messenger, Instagram and Page feeds.

GET: the verification handshake (`hub.mode`, `hub.verify_token`, `hub.challenge` echoed).
POST: the raw body is capped (3 MB), its `X-Hub-Signature-256` checked with WHATSAPP_APP_SECRET
in constant time BEFORE anything is parsed or written; then every entry, change and message is
put in the durable intake queue (the paced writer stores them and answers the citizen).
Answers: 401/403 for a missing/bad signature (nothing written), 400 for a body that is
not UTF-8, 413 for an oversized body, 503 when the queue is unavailable (Meta redelivers; the
message id makes redelivery a duplicate), and 200 for everything else, including signed payloads we
cannot read (logged), so Meta does not retry what will never succeed.
"""
from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING

from ..logs import log
from ..model import StorageUnavailable
from ..services.accept import accept_inbound, accept_status
from ..web import TEXT, error_reply, json_reply, load_json
from .meta_parse import SIGNATURE_HEADER, parse_delivery, verify_signature

if TYPE_CHECKING:
    from ..services.context import Services

MAX_BODY_BYTES = 3 * 1024 * 1024


def handle_meta(request, svc: "Services"):
    if request.method == "GET":
        return handshake(request, svc.settings)
    if request.method != "POST":
        return error_reply("Gunakan GET (verifikasi) atau POST (webhook).", 405)
    return receive(request, svc)


def handshake(request, settings):
    mode = request.args.get("hub.mode", "")
    token = request.args.get("hub.verify_token", "")
    challenge = request.args.get("hub.challenge", "")
    expected = settings.whatsapp_verify_token
    if (mode == "subscribe" and expected and token
            and hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8"))
            and challenge and len(challenge) <= 256):
        log("INFO", "meta webhook verified")
        return challenge, 200, {**TEXT, "X-Content-Type-Options": "nosniff"}
    log("WARNING", "meta webhook verification refused", mode=mode[:20])
    return error_reply("Verifikasi webhook ditolak.", 403)


def _read_body(request) -> bytes | None:
    """The raw body, or None when it is over the cap (without reading an unbounded stream)."""
    length = request.content_length
    if length is not None:
        if length > MAX_BODY_BYTES:
            return None
        return request.get_data(cache=True)
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    return None if len(raw) > MAX_BODY_BYTES else raw


def receive(request, svc: "Services"):
    started = time.perf_counter()
    settings = svc.settings
    if not settings.whatsapp_app_secret:
        log("CRITICAL", "WHATSAPP_APP_SECRET is not set: webhooks cannot be verified")
        return error_reply("Webhook belum dikonfigurasi (WHATSAPP_APP_SECRET).", 500)
    try:
        raw = _read_body(request)
    except Exception as e:  # noqa: BLE001 - werkzeug refuses over MAX_CONTENT_LENGTH
        if getattr(e, "code", None) == 413:
            raw = None
        else:
            raise
    if raw is None:
        log("WARNING", "meta webhook body over the cap", limit=MAX_BODY_BYTES)
        return error_reply("Isi permintaan terlalu besar (maksimal 3 MB).", 413)
    header = request.headers.get(SIGNATURE_HEADER)
    if not header:
        log("WARNING", "meta webhook without signature")
        return error_reply("Tanda tangan X-Hub-Signature-256 tidak ada.", 401)
    if not verify_signature(raw, header, settings.whatsapp_app_secret):
        log("WARNING", "meta webhook with a bad signature")
        return error_reply("Tanda tangan X-Hub-Signature-256 tidak cocok.", 403)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        log("WARNING", "meta webhook body is not UTF-8")
        return error_reply("Isi permintaan bukan UTF-8 yang valid.", 400)
    ok, payload = load_json(text)  # nested too deeply counts as malformed, never a 500
    if not ok:
        log("WARNING", "meta webhook: signed but not JSON; ignored")
        return json_reply({"ok": True, "ignored": "malformed"})
    delivery = parse_delivery(payload, tz=settings.tz, now=svc.now(), place_of=_place_of,
                              phone_number_id=settings.whatsapp_phone_number_id)
    if delivery.malformed:
        log("WARNING", "meta webhook: parts could not be read", problems="; ".join(delivery.malformed[:10]))
    if delivery.skipped:
        log("INFO", "meta webhook: not messages", kinds=",".join(sorted(set(delivery.skipped))))
    # Accept, don't store: each message goes into the durable intake queue and the paced writer
    # stores it and answers the citizen (services/intake_worker.py). Nothing here touches Sheets.
    actions: list[str] = []
    tickets: list[str] = []
    try:
        for status in delivery.statuses:
            accept_status(svc, status)
        for message in sorted(delivery.messages, key=lambda m: m.sent_at):
            ticket, new = accept_inbound(svc, message)
            actions.append("queued" if new else "duplicate")
            tickets.append(ticket)
    except StorageUnavailable as e:
        log("ERROR", "meta webhook: intake queue unavailable; Meta will redeliver", error=str(e))
        return error_reply("Antrean penyimpanan sedang tidak tersedia; kirim ulang nanti.", 503)
    log("INFO", "meta webhook accepted", messages=len(delivery.messages), statuses=len(delivery.statuses),
        duplicates=actions.count("duplicate"), ms=round((time.perf_counter() - started) * 1000))
    return json_reply({"ok": True, "actions": actions, "tickets": tickets,
                       "statuses": len(delivery.statuses), "malformed": len(delivery.malformed)})

def _place_of(words: str) -> str:
    """The kecamatan (and desa) named in a shared location's name/address, or ''."""
    try:
        from ..location import find_location

        return find_location(words)
    except Exception as e:  # noqa: BLE001 - a location hint must never lose the message
        log("WARNING", "location lookup failed", error=type(e).__name__)
        return ""
