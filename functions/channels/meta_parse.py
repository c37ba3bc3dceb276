"""Meta webhook wire format -> Inbound messages and delivery statuses. Pure: no I/O.

Covers the WhatsApp Cloud API (`whatsapp_business_account`, field `messages`), Messenger
(`page`, `entry[].messaging`), Instagram DMs (`instagram`, `entry[].messaging`), Facebook Page
feed comments and visitor posts (`page`, field `feed`) and Instagram comments (`instagram`,
field `comments`). Every entry, change and message of a delivery is read. What is not a citizen
message (reactions, read receipts, echoes, the Page's own comments, system notices) is listed
in `Delivery.skipped` by kind only, for the log.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

from ..model import Channel
from ..services.conversation import Inbound
from ..services.replies import DeliveryStatus
from ..text import mask_phone

MEDIA_TYPES = ("image", "video", "document", "sticker")
# A message's own time is believed within this window around its arrival (Meta redelivers for
# up to 7 days); outside it (year 1, 1970, 2100, `true`) the arrival time is used instead.
MAX_AGE = timedelta(days=30)
MAX_AHEAD = timedelta(days=1)  # clocks disagree; never a date far ahead
SIGNATURE_HEADER = "X-Hub-Signature-256"


def verify_signature(raw: bytes, header: str | None, secret: str) -> bool:
    """HMAC-SHA256 of the raw body with the app secret, compared in constant time."""
    if not header or not secret:
        return False
    scheme, _, digest = header.strip().partition("=")
    if scheme.lower() != "sha256" or not digest:
        return False
    expected = signature(raw, secret).partition("=")[2]
    return hmac.compare_digest(expected, digest.strip().lower())


@dataclass
class Delivery:
    messages: list[Inbound] = field(default_factory=list)
    statuses: list[DeliveryStatus] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # kinds only (no personal data), for the log
    malformed: list[str] = field(default_factory=list)  # what could not be read, for the log


class _Bad(ValueError):
    pass


def _obj(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise _Bad(f"{what} is not an object")
    return value


def _list(value: Any, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"{what} is not a list")
    return value


def _str(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value).strip()


def to_wib(value: Any, tz: ZoneInfo) -> datetime | None:
    """Epoch seconds or milliseconds (number or string), or an ISO 8601 string -> aware datetime."""
    if value is None or value == "" or isinstance(value, bool) or isinstance(value, (dict, list)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        try:
            text = str(value).replace("Z", "+00:00")
            if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
                text = text[:-2] + ":" + text[-2:]  # 2024-01-01T00:00:00+0000
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        try:
            return moment.astimezone(tz)
        except (OverflowError, ValueError):  # year 1 or 9999 near the edge of the range
            return None
    if number <= 0:
        return None
    if number > 1e11:  # milliseconds
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, tz=timezone.utc).astimezone(tz)
    except (OverflowError, OSError, ValueError):
        return None


def parse_delivery(payload: Any, *, tz: ZoneInfo, now: datetime, place_of: Callable[[str], str] = lambda s: "",
                   phone_number_id: str = "") -> Delivery:
    """Read a whole webhook delivery; never raises on bad shapes (they land in `malformed`)."""
    out = Delivery()
    if not isinstance(payload, dict):
        out.malformed.append("body is not a JSON object")
        return out
    kind = _str(payload.get("object"))
    try:
        entries = _list(payload.get("entry"), "entry")
    except _Bad as e:
        out.malformed.append(str(e))
        return out
    ctx = _Ctx(tz, now, place_of, phone_number_id, out)
    for index, entry in enumerate(entries):
        try:
            entry = _obj(entry, f"entry[{index}]")
            if kind == "whatsapp_business_account":
                for change in _list(entry.get("changes"), "changes"):
                    _guard(ctx, _whatsapp_change, ctx, _obj(change, "change"))
            elif kind in {"page", "instagram"}:
                channel = Channel.FACEBOOK if kind == "page" else Channel.INSTAGRAM
                own_id = _str(entry.get("id"))
                for event in _list(entry.get("messaging"), "messaging"):
                    _guard(ctx, _messaging_event, ctx, channel, own_id, _obj(event, "messaging event"))
                for change in _list(entry.get("changes"), "changes"):
                    _guard(ctx, _feed_change, ctx, channel, own_id, entry, _obj(change, "change"))
            else:
                out.skipped.append(f"object:{kind or '?'}")
                break
        except _Bad as e:
            out.malformed.append(str(e))
    return out


@dataclass
class _Ctx:
    tz: ZoneInfo
    now: datetime
    place_of: Callable[[str], str]
    phone_number_id: str
    out: Delivery

    def when(self, value: Any) -> datetime:
        moment = to_wib(value, self.tz)
        if moment is None:
            self.out.malformed.append("missing or invalid timestamp (arrival time used)")
            return self.now
        if not self.now - MAX_AGE <= moment <= self.now + MAX_AHEAD:
            self.out.malformed.append("implausible timestamp (arrival time used)")
            return self.now
        return moment


def _guard(ctx: _Ctx, fn, *args) -> None:
    """One bad message must not hide the others in the same delivery."""
    try:
        fn(*args)
    except _Bad as e:
        ctx.out.malformed.append(str(e))
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        ctx.out.malformed.append(f"unreadable item ({type(e).__name__})")


# -- WhatsApp Cloud API -----------------------------------------------------------------------

def _whatsapp_change(ctx: _Ctx, change: dict) -> None:
    field_name = _str(change.get("field"))
    if field_name != "messages":
        ctx.out.skipped.append(f"whatsapp field:{field_name or '?'}")
        return
    value = _obj(change.get("value"), "change.value")
    metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    ours = _str(metadata.get("phone_number_id"))
    if ctx.phone_number_id and ours and ours != ctx.phone_number_id:
        ctx.out.skipped.append("whatsapp other phone number")
        return
    names: dict[str, str] = {}
    for contact in _list(value.get("contacts"), "contacts"):
        if not isinstance(contact, dict):
            continue
        profile = contact.get("profile") if isinstance(contact.get("profile"), dict) else {}
        name = _str(profile.get("name"))
        for key in (_str(contact.get("wa_id")), _str(contact.get("user_id"))):
            if key:
                names[key] = name
    for message in _list(value.get("messages"), "messages"):
        _guard(ctx, _whatsapp_message, ctx, _obj(message, "message"), names)
    for status in _list(value.get("statuses"), "statuses"):
        _guard(ctx, _whatsapp_status, ctx, _obj(status, "status"))
    for error in _list(value.get("errors"), "errors"):
        code = error.get("code") if isinstance(error, dict) else None
        ctx.out.skipped.append(f"whatsapp error:{code}")


def _whatsapp_status(ctx: _Ctx, status: dict) -> None:
    message_id = _str(status.get("id"))
    if not message_id:
        raise _Bad("status without id")
    errors = []
    for err in _list(status.get("errors"), "status.errors"):
        if isinstance(err, dict):
            code = err.get("code")
            errors.append((int(code) if str(code).isdigit() else None, _str(err.get("title"))[:120]))
    ctx.out.statuses.append(DeliveryStatus(message_id, _str(status.get("status")), ctx.when(status.get("timestamp")),
                                           tuple(errors)))


def _whatsapp_message(ctx: _Ctx, m: dict, names: dict[str, str]) -> None:
    message_id = _str(m.get("id"))
    phone = _str(m.get("from"))
    user_id = _str(m.get("from_user_id"))
    sender = phone or user_id
    if not message_id or not sender:
        raise _Bad("whatsapp message without id or sender")
    kind = _str(m.get("type"))
    base = dict(channel=Channel.WHATSAPP, message_id=message_id, sender=sender,
                sent_at=ctx.when(m.get("timestamp")), name=names.get(phone) or names.get(user_id) or "",
                phone=phone)
    body = m.get(kind) if isinstance(m.get(kind), dict) else {}
    if kind == "text":
        ctx.out.messages.append(Inbound(**base, kind="text", text=_str(body.get("body"))))
    elif kind in MEDIA_TYPES:
        ref = f"{kind}:{_str(body.get('id'))}"
        if kind == "document" and _str(body.get("filename")):
            ref += f" ({_str(body.get('filename'))[:80]})"
        ctx.out.messages.append(Inbound(**base, kind="media", text=_str(body.get("caption")), media=(ref,)))
    elif kind == "audio":
        ctx.out.messages.append(Inbound(**base, kind="audio", text="[pesan suara]",
                                        media=(f"audio:{_str(body.get('id'))}",)))
    elif kind == "location":
        ctx.out.messages.append(Inbound(**base, **_location(ctx, body)))
    elif kind == "contacts":
        ctx.out.messages.append(Inbound(**base, kind="contacts", text=_shared_contacts(m.get("contacts"))))
    elif kind == "interactive":
        reply = body.get(_str(body.get("type"))) if isinstance(body.get(_str(body.get("type"))), dict) else {}
        title = _str(reply.get("title")) or _str(reply.get("body")) or _str(reply.get("description"))
        ctx.out.messages.append(Inbound(**base, kind="text" if title else "unsupported", text=title))
    elif kind == "button":
        text = _str(body.get("text")) or _str(body.get("payload"))
        ctx.out.messages.append(Inbound(**base, kind="text" if text else "unsupported", text=text))
    elif kind == "request_welcome":
        ctx.out.messages.append(Inbound(**base, kind="greeting"))
    elif kind in {"reaction", "system", "ephemeral", "revoke"}:
        ctx.out.skipped.append(f"whatsapp {kind}")
    else:  # unsupported, unknown, order, poll, ... : ask the citizen for text
        ctx.out.messages.append(Inbound(**base, kind="unsupported"))


def _location(ctx: _Ctx, body: dict) -> dict:
    lat, lng = body.get("latitude"), body.get("longitude")
    if not isinstance(lat, (int, float, str)) or not isinstance(lng, (int, float, str)) or lat == "" or lng == "":
        raise _Bad("location without coordinates")
    float(lat), float(lng)  # noqa: B018 - validates; the exact given digits are kept below
    words = ", ".join(p for p in (_str(body.get("name")), _str(body.get("address"))) if p)
    place = ctx.place_of(words) if words else ""
    coords = f"{lat}, {lng}"
    return dict(kind="location", text=words, location=f"{coords} ({place})" if place else coords,
                link=f"https://maps.google.com/?q={lat},{lng}")


def _shared_contacts(cards: Any) -> str:
    """Shared contact cards, with phone numbers masked (the OPD row never holds a full number)."""
    parts = []
    for card in cards if isinstance(cards, list) else []:
        if not isinstance(card, dict):
            continue
        name = card.get("name") if isinstance(card.get("name"), dict) else {}
        label = _str(name.get("formatted_name")) or _str(name.get("first_name")) or "tanpa nama"
        phones = [mask_phone(_str(p.get("phone"))) for p in card.get("phones") or [] if isinstance(p, dict)]
        parts.append(label + (f" ({', '.join(p for p in phones if p)})" if any(phones) else ""))
    return f"[kontak dibagikan: {'; '.join(parts)}]" if parts else "[kontak dibagikan]"


# -- Messenger and Instagram direct messages --------------------------------------------------

def _messaging_event(ctx: _Ctx, channel: Channel, own_id: str, event: dict) -> None:
    sender = _str((event.get("sender") or {}).get("id")) if isinstance(event.get("sender"), dict) else ""
    message = event.get("message") if isinstance(event.get("message"), dict) else None
    postback = event.get("postback") if isinstance(event.get("postback"), dict) else None
    if message is None and postback is None:
        known = [k for k in ("read", "delivery", "reaction", "optin", "referral") if k in event]
        ctx.out.skipped.append(f"{channel} {known[0] if known else 'event'}")
        return
    if (message and message.get("is_echo")) or (own_id and sender == own_id):
        ctx.out.skipped.append(f"{channel} echo")
        return
    if not sender:
        raise _Bad(f"{channel} message without sender")
    when = ctx.when(event.get("timestamp"))
    if postback is not None:
        mid = _str(postback.get("mid")) or f"postback:{sender}:{event.get('timestamp')}"
        ctx.out.messages.append(Inbound(channel=channel, message_id=mid, sender=sender, sent_at=when, kind="greeting"))
        return
    mid = _str(message.get("mid"))
    if not mid:
        raise _Bad(f"{channel} message without mid")
    base = dict(channel=channel, message_id=mid, sender=sender, sent_at=when)
    if message.get("is_deleted"):
        ctx.out.skipped.append(f"{channel} deleted")
        return
    text = _str(message.get("text"))
    media: list[str] = []
    kind = "text"
    location = {}
    for att in message.get("attachments") or []:
        if not isinstance(att, dict):
            continue
        a_type = _str(att.get("type"))
        payload = att.get("payload") if isinstance(att.get("payload"), dict) else {}
        coords = payload.get("coordinates") if isinstance(payload.get("coordinates"), dict) else None
        if coords:
            location = _location(ctx, {"latitude": coords.get("lat"), "longitude": coords.get("long"),
                                       "name": att.get("title")})
        elif a_type == "audio":
            kind = "audio"
            media.append(f"audio:{_str(payload.get('url'))}")
        elif a_type:
            media.append(f"{a_type}:{_str(payload.get('url')) or _str(payload.get('sticker_id'))}")
    if location and not text and not media:
        ctx.out.messages.append(Inbound(**base, **location))
        return
    if kind == "audio" and not text:
        text = "[pesan suara]"
    elif media and kind == "text":
        kind = "media"
    if not text and not media:
        kind = "unsupported" if message.get("is_unsupported") or not message.get("attachments") else kind
    ctx.out.messages.append(Inbound(**base, kind=kind, text=text, media=tuple(media),
                                    location=location.get("location", ""), link=location.get("link", "")))


# -- Page feed comments / visitor posts and Instagram comments ---------------------------------

FEED_ITEMS = {"comment", "post", "status", "photo", "video"}


def _feed_change(ctx: _Ctx, channel: Channel, own_id: str, entry: dict, change: dict) -> None:
    field_name = _str(change.get("field"))
    value = _obj(change.get("value"), "change.value")
    author = value.get("from") if isinstance(value.get("from"), dict) else {}
    author_id = _str(author.get("id"))
    if channel == Channel.FACEBOOK and field_name == "feed":
        item, verb = _str(value.get("item")), _str(value.get("verb"))
        if item not in FEED_ITEMS or verb != "add":
            ctx.out.skipped.append(f"feed {item or '?'}:{verb or '?'}")
            return
        if not author_id or author_id == own_id:
            ctx.out.skipped.append("feed page's own")
            return
        if item == "comment":
            ident = _str(value.get("comment_id"))
            reply_to = f"comment:{ident}"
        else:
            ident = _str(value.get("post_id"))
            reply_to = f"post:{ident}"
        post = value.get("post") if isinstance(value.get("post"), dict) else {}
        link = _str(post.get("permalink_url")) or _str(value.get("link")) or f"https://www.facebook.com/{ident}"
        media = (f"photo:{_str(value.get('photo'))}",) if _str(value.get("photo")) else ()
        text = _str(value.get("message"))
        name = _str(author.get("name"))
        when = value.get("created_time") or entry.get("time")
    elif channel == Channel.INSTAGRAM and field_name in {"comments", "live_comments"}:
        if not author_id or author_id == own_id:
            ctx.out.skipped.append("instagram own comment")
            return
        ident = _str(value.get("id"))
        reply_to = f"comment:{ident}"
        media_obj = value.get("media") if isinstance(value.get("media"), dict) else {}
        link = f"instagram-media:{_str(media_obj.get('id'))}" if _str(media_obj.get("id")) else ""
        media = ()
        text = _str(value.get("text"))
        name = _str(author.get("username"))
        when = value.get("timestamp") or entry.get("time")
    else:
        ctx.out.skipped.append(f"{channel} field:{field_name or '?'}")
        return
    if not ident:
        raise _Bad(f"{channel} {field_name} without id")
    if not text:
        ctx.out.skipped.append(f"{channel} comment without text")
        return
    ctx.out.messages.append(Inbound(channel=channel, message_id=f"{field_name}:{ident}", sender=author_id,
                                    sent_at=ctx.when(when), kind="comment", text=text, media=media, link=link,
                                    name=name, reply_to=reply_to))


# -- building the wire format (the demo sends real signed webhooks through the handler) ---------

def whatsapp_text_delivery(*, message_id: str, wa_id: str, name: str, text: str, at: datetime,
                           phone_number_id: str = "") -> dict:
    """A one-message WhatsApp Cloud API delivery, shaped as Meta sends it."""
    return {"object": "whatsapp_business_account", "entry": [{"id": "0", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6281328383222", "phone_number_id": phone_number_id or "0"},
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": message_id, "timestamp": str(int(at.timestamp())), "type": "text",
                      "text": {"body": text}}]}}]}]}


def signature(raw: bytes, secret: str) -> str:
    """The X-Hub-Signature-256 header value Meta computes for `raw`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()
