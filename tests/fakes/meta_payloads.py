"""Builders of realistic Meta webhook deliveries (shapes from Meta's webhook references) + signing.

WhatsApp Cloud API: `{"object": "whatsapp_business_account", "entry": [{"id": WABA_ID,
"changes": [{"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {...},
"contacts": [...], "messages": [...]}}]}]}`; statuses arrive in the same envelope under
`value.statuses`. Messenger / Instagram DMs: `{"object": "page"|"instagram", "entry": [{"id",
"time", "messaging": [{"sender", "recipient", "timestamp", "message": {...}}]}]}`. Page feed:
`entry[].changes[] = {"field": "feed", "value": {"item": "comment", "verb": "add", ...}}`.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from datetime import datetime
from typing import Any

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_NUMBER = "6281328383222"
PAGE_ID = "1142469655832956"
IG_ACCOUNT_ID = "17841400000000001"

_counter = itertools.count(1)


def wamid() -> str:
    """A fresh, realistic-looking WhatsApp message id."""
    n = next(_counter)
    return f"wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABIYFjNFQjA{n:012d}QkE2RjhBAA=="


def epoch(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def signed(payload: Any, secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    """(body, headers) ready to POST to /meta."""
    body = encode(payload)
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)}


# -- WhatsApp ---------------------------------------------------------------------------------

def wa_contact(wa_id: str | None, name: str, user_id: str | None = None) -> dict:
    contact: dict = {"profile": {"name": name}}
    if wa_id:
        contact["wa_id"] = wa_id
    if user_id:
        contact["user_id"] = user_id
    return contact


def wa_message(kind: str, body: dict | None, *, sender: str | None = "6281234567801", at: datetime,
               message_id: str | None = None, user_id: str | None = None, **extra) -> dict:
    message: dict = {"id": message_id or wamid(), "timestamp": epoch(at), "type": kind}
    if sender:
        message["from"] = sender
    if user_id:
        message["from_user_id"] = user_id
    if body is not None:
        message[kind] = body
    message.update(extra)
    return message


def wa_text(text: str, **kw) -> dict:
    return wa_message("text", {"body": text}, **kw)


def wa_image(media_id: str = "1479537139650973", caption: str | None = None, **kw) -> dict:
    body = {"mime_type": "image/jpeg", "sha256": "HgarxhiiiVGa1jMeP0Ke8cFcqMqlIKuPNpfX4hF9k5M=", "id": media_id}
    if caption is not None:
        body["caption"] = caption
    return wa_message("image", body, **kw)


def wa_video(media_id: str = "2179537139650974", caption: str | None = None, **kw) -> dict:
    body = {"mime_type": "video/mp4", "sha256": "x2y3", "id": media_id}
    if caption is not None:
        body["caption"] = caption
    return wa_message("video", body, **kw)


def wa_document(media_id: str = "3179537139650975", filename: str = "foto-jalan.pdf",
                caption: str | None = None, **kw) -> dict:
    body = {"mime_type": "application/pdf", "sha256": "d0c", "id": media_id, "filename": filename}
    if caption is not None:
        body["caption"] = caption
    return wa_message("document", body, **kw)


def wa_sticker(media_id: str = "4179537139650976", **kw) -> dict:
    return wa_message("sticker", {"mime_type": "image/webp", "sha256": "st1", "id": media_id, "animated": False}, **kw)


def wa_audio(media_id: str = "5179537139650977", **kw) -> dict:
    return wa_message("audio", {"mime_type": "audio/ogg; codecs=opus", "sha256": "au1", "id": media_id,
                                "voice": True}, **kw)


def wa_location(lat: float = -1.8457, lng: float = 109.9716, name: str | None = None,
                address: str | None = None, **kw) -> dict:
    body: dict = {"latitude": lat, "longitude": lng}
    if name:
        body["name"] = name
    if address:
        body["address"] = address
    return wa_message("location", body, **kw)


def wa_contacts(name: str = "Pak RT Santoso", phone: str = "+62 812-3456-7899", **kw) -> dict:
    cards = [{"name": {"formatted_name": name, "first_name": name.split()[0]},
              "phones": [{"phone": phone, "wa_id": "6281234567899", "type": "CELL"}]}]
    return wa_message("contacts", None, contacts=cards, **kw)


def wa_button_reply(title: str, **kw) -> dict:
    return wa_message("interactive", {"type": "button_reply", "button_reply": {"id": "btn-1", "title": title}}, **kw)


def wa_list_reply(title: str, **kw) -> dict:
    return wa_message("interactive", {"type": "list_reply", "list_reply": {"id": "row-1", "title": title,
                                                                          "description": "pilihan"}}, **kw)


def wa_button(text: str, **kw) -> dict:
    return wa_message("button", {"payload": text.upper(), "text": text}, **kw)


def wa_reaction(to_message: str, emoji: str = "\U0001F44D", **kw) -> dict:
    return wa_message("reaction", {"message_id": to_message, "emoji": emoji}, **kw)


def wa_unsupported(**kw) -> dict:
    return wa_message("unsupported", None, errors=[{
        "code": 131051, "title": "Message type unknown", "message": "Message type unknown",
        "error_data": {"details": "Message type is currently not supported."}}], **kw)


def wa_system(**kw) -> dict:
    return wa_message("system", {"body": "User A changed from 6281234567801 to 6281234567802",
                                 "wa_id": "6281234567802", "type": "user_changed_number"}, **kw)


def wa_status(message_id: str, status: str = "delivered", *, at: datetime, recipient: str = "6281234567801",
              error_code: int | None = None) -> dict:
    item: dict = {"id": message_id, "status": status, "timestamp": epoch(at), "recipient_id": recipient}
    if status in {"sent", "delivered", "read"}:
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}
    if error_code is not None:
        title = {131047: "Re-engagement message", 131026: "Message undeliverable"}.get(error_code, "Failure")
        item["errors"] = [{"code": error_code, "title": title, "message": title,
                           "error_data": {"details": f"{title} details"},
                           "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]
    return item


def whatsapp(messages: list[dict] = (), contacts: list[dict] | None = None, statuses: list[dict] = (),
             *, changes: int = 1, phone_number_id: str = PHONE_NUMBER_ID) -> dict:
    """One delivery. `contacts` defaults to a profile per distinct sender (names looked up by wa_id)."""
    if contacts is None:
        seen: dict[str, dict] = {}
        for m in messages:
            key = m.get("from") or m.get("from_user_id")
            seen.setdefault(key, wa_contact(m.get("from"), "Budi Santoso", m.get("from_user_id")))
        contacts = list(seen.values())
    value: dict = {"messaging_product": "whatsapp",
                   "metadata": {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": phone_number_id}}
    if messages:
        value["contacts"] = contacts
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}] * changes}]}


def whatsapp_entries(*deliveries: dict) -> dict:
    """Several deliveries' entries merged into one (Meta batches entries)."""
    return {"object": "whatsapp_business_account",
            "entry": [e for d in deliveries for e in d["entry"]]}


# -- Messenger / Instagram --------------------------------------------------------------------

def dm_event(sender: str, *, at: datetime, text: str | None = None, attachments: list[dict] | None = None,
             mid: str | None = None, echo: bool = False, own_id: str = PAGE_ID) -> dict:
    message: dict = {"mid": mid or f"m_{next(_counter):08d}AaBbCcDdEeFf"}
    if text is not None:
        message["text"] = text
    if attachments:
        message["attachments"] = attachments
    if echo:
        message["is_echo"] = True
        message["app_id"] = 1517776481860111
    ts = int(at.timestamp() * 1000)
    sender_id, recipient_id = (own_id, sender) if echo else (sender, own_id)
    return {"sender": {"id": sender_id}, "recipient": {"id": recipient_id}, "timestamp": ts, "message": message}


def messenger(events: list[dict], *, at: datetime, object_: str = "page", own_id: str = PAGE_ID) -> dict:
    return {"object": object_, "entry": [{"id": own_id, "time": int(at.timestamp() * 1000), "messaging": events}]}


def instagram(events: list[dict], *, at: datetime) -> dict:
    return messenger(events, at=at, object_="instagram", own_id=IG_ACCOUNT_ID)


def image_attachment(url: str = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=123&signature=abc") -> dict:
    return {"type": "image", "payload": {"url": url}}


def page_comment(text: str, *, at: datetime, author_id: str = "2539381862829497", author_name: str = "Rina Wati",
                 comment_id: str | None = None, verb: str = "add", item: str = "comment",
                 page_id: str = PAGE_ID) -> dict:
    post_id = f"{page_id}_1164870100259578"
    value = {"from": {"id": author_id, "name": author_name},
             "post": {"status_type": "added_photos", "is_published": True, "updated_time": at.isoformat(),
                      "permalink_url": f"https://www.facebook.com/kmcketapang/posts/pfbid0{post_id[-6:]}",
                      "promotion_status": "inactive", "id": post_id},
             "message": text, "post_id": post_id, "created_time": int(at.timestamp()),
             "item": item, "verb": verb, "parent_id": post_id}
    if item == "comment":
        value["comment_id"] = comment_id or f"1164870100259578_{next(_counter):016d}"
    return {"object": "page", "entry": [{"id": page_id, "time": int(at.timestamp()),
                                         "changes": [{"field": "feed", "value": value}]}]}


def instagram_comment(text: str, *, at: datetime, author_id: str = "17841401234567890",
                      username: str = "warga.ketapang", comment_id: str | None = None) -> dict:
    value = {"from": {"id": author_id, "username": username},
             "media": {"id": "17990000000000000", "media_product_type": "FEED"},
             "id": comment_id or f"179{next(_counter):014d}", "text": text}
    return {"object": "instagram", "entry": [{"id": IG_ACCOUNT_ID, "time": int(at.timestamp()),
                                              "changes": [{"field": "comments", "value": value}]}]}
