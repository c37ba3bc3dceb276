"""The citizen's conversation on WhatsApp, Messenger and Instagram.

Citizens greet, complain over several messages, then send a photo and a location. This turns
each inbound message into one clear outcome:

- a bare greeting ("halo min", "mau lapor") gets a short guide, not a ticket;
- `STATUS <tiket>` / `CEK <tiket>`, `BATAL <tiket>` and `ANONIM` are commands;
- a message from the same sender within KMC_CONVERSATION_WINDOW_MINUTES of their case, while it
  is still `Baru` and unanswered, joins that case (text appended, media and location added);
- anything else becomes a new case through the one intake, acknowledged after it is stored.

Idempotent on the message id: a new case's ticket derives from it; a joined message or a
command is recorded in the workbook Log (kind `msg`, key = message id, detail = ticket) so a
redelivered follow-up is never appended twice, even after a restart.
"""
from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import tickets
from ..journal import ANON_LOG, MSG_LOG, WITHDRAWN_LOG, sender_key
from ..logs import log
from ..model import ANONYMOUS, TRIAGE, Channel, Complaint, Contact, InvalidComplaint, Sentiment, Status
from ..case import Case, add_note
from ..stores.port import CellUpdate, ContactRecord, LogEntry
from ..text import clean_text, normalise_phone
from . import replies
from .intake import intake

if TYPE_CHECKING:
    from .context import Services

JOINED_TEXT_LIMIT = 10_000  # a conversation longer than this starts a new case (a cell holds 50 000)
OWNER_LOOKBACK = timedelta(days=90)  # STATUS / ANONIM without a ticket: the sender's latest case

# Flood control per sender (per instance): beyond this many messages in the period, messages
# are not stored and the sender gets one polite answer per period.
FLOOD_MAX_MESSAGES = 30
FLOOD_PERIOD = timedelta(minutes=10)


@dataclass(frozen=True)
class Inbound:
    """One message from a citizen, as a channel parser hands it over (wire format gone)."""

    channel: Channel
    message_id: str
    sender: str  # wa_id / business-scoped user id / PSID / IGSID / comment author id
    sent_at: datetime  # the message's own timestamp, in WIB
    kind: str = "text"  # text | media | audio | location | contacts | greeting | unsupported | comment
    text: str = ""  # typed text, caption, or a placeholder such as "[pesan suara]"
    media: tuple[str, ...] = ()  # references such as "image:<media id>", never downloaded here
    location: str = ""  # exact coordinates, with the kecamatan when it can be told
    link: str = ""  # map link, post permalink
    name: str = ""
    phone: str = ""  # empty for business-scoped ids without a phone number
    reply_to: str = ""  # where answers go when not `sender` (comment:<id>, post:<id>)

    @property
    def recipient(self) -> str:
        return self.reply_to or self.sender

    @property
    def joinable(self) -> bool:
        return not self.reply_to  # public comments are each their own case


@dataclass
class Outcome:
    action: str  # created | redelivered | joined | duplicate | guide | status | withdrawn | anonymous
    #              | rate_limited | ask_text | invalid | thanks | ignored
    ticket: str = ""
    replies: list[str] = field(default_factory=list)  # what was sent back (for tests and logs)


class FloodLimiter:
    """Sliding-window count of messages per sender, in memory (one Cloud Functions instance)."""

    def __init__(self, max_messages: int = FLOOD_MAX_MESSAGES, period: timedelta = FLOOD_PERIOD):
        self.max_messages = max_messages
        self.period = period
        self._seen: dict[str, deque[datetime]] = {}
        self._warned: dict[str, datetime] = {}
        self._counted: dict[str, datetime] = {}  # message ids already counted (insertion order)
        self._lock = threading.Lock()

    def allow(self, sender: str, now: datetime, message_id: str = "") -> tuple[bool, bool]:
        """(allowed, warn): `warn` is True once per period for a sender over the limit.

        A message tried again (the store was down, the task ran twice) counts once."""
        with self._lock:
            if message_id:
                if message_id in self._counted:
                    return True, False
                self._counted[message_id] = now
                if len(self._counted) > 50_000:
                    for key in list(self._counted)[:10_000]:
                        del self._counted[key]
            seen = self._seen.setdefault(sender, deque())
            while seen and now - seen[0] >= self.period:
                seen.popleft()
            if len(seen) < self.max_messages:
                seen.append(now)
                return True, False
            warned = self._warned.get(sender)
            if warned is None or now - warned >= self.period:
                self._warned[sender] = now
                return False, True
            return False, False


def limiter_for(svc: "Services") -> FloodLimiter:
    """The process-wide limiter kept on the services (created on first use)."""
    state = svc.state
    if state.flood_limiter is None:
        state.flood_limiter = FloodLimiter()
    return state.flood_limiter


# -- recognising what the citizen typed -----------------------------------------------------

_GREETING_WORDS = frozenset("""
    assalamualaikum assalamu alaikum assalamualaikom asalamualaikum askum salam wr wb warahmatullahi
    wabarakatuh halo hallo helo hello hai hay hi hy pagi siang sore malam selamat met permisi punten
    min admin mimin kak kakak pak bapak bu ibu bang mas mbak sis gan om
    mau ingin pengen pingin ijin izin lapor melapor laporan aduan mengadu ngadu adu pengaduan kirim
    tanya bertanya nanya boleh bisa saya sy aku mo ya yaa dong nih ni kah apa
    tes test testing p ping start mulai get started kmc ketapang media center
""".split())
_THANKS = re.compile(
    r"^(terima\s*kasih|terimakasih|makasih|makasi|trims|tks|thanks|thx|ok(e|ey|ay)?|sip|siap|baik|"
    r"baiklah|mantap|noted)\b[\s\w!.,]*$", re.IGNORECASE)
_COMMAND = re.compile(r"^\s*(status|cek|check|batal|batalkan|anonim|anonym|anonymous)\b[\s:#-]*(.*)$",
                      re.IGNORECASE | re.DOTALL)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def is_greeting(text: str) -> bool:
    """A bare greeting or "mau lapor" with nothing to act on yet."""
    words = _words(text)
    if not words or len(words) > 10 or re.search(r"\d", text):
        return False
    return all(w in _GREETING_WORDS or re.fullmatch(r"(.)\1*", w) for w in words)


def is_thanks(text: str) -> bool:
    return bool(_THANKS.match(text.strip())) and len(_words(text)) <= 8


def parse_command(text: str, prefix: str) -> tuple[str, str | None, str] | None:
    """(verb, ticket or None, the rest of the text) when the text is a command; else None.

    verb is "status" (STATUS/CEK), "batal" or "anonim"."""
    m = _COMMAND.match(text or "")
    if not m:
        return None
    word, rest = m.group(1).lower(), m.group(2).strip()
    verb = {"cek": "status", "check": "status", "batalkan": "batal", "anonym": "anonim",
            "anonymous": "anonim"}.get(word, word)
    found = tickets.ticket_pattern(prefix).search(rest)
    ticket = tickets.parse_ticket(found.group(0), prefix) if found else None
    if ticket is None and rest:
        ticket = tickets.parse_ticket(rest.split("\n")[0], prefix)
    if ticket is None and rest and verb != "anonim" and len(_words(rest)) > 3:
        return None  # "status jalan di desa kami ..." is a complaint, not a command
    return verb, ticket, rest


# -- the use case -----------------------------------------------------------------------------

def handle_inbound(svc: "Services", msg: Inbound, *, messenger, limiter: FloodLimiter | None = None,
                   now: datetime | None = None) -> Outcome:
    """Turn one inbound message into its outcome; raises StorageUnavailable (caller answers 503)."""
    now = now or svc.now()
    limiter = limiter or limiter_for(svc)
    wb = svc.workbook
    if wb.log_has(MSG_LOG, msg.message_id):
        return Outcome("duplicate")
    own_ticket = tickets.make_ticket(svc.settings.ticket_prefix, msg.sent_at, msg.message_id)
    if wb.find(own_ticket) is not None:
        return Outcome("redelivered", own_ticket)
    # Counted on the message's own time: a backlog stored late after an outage is not a flood.
    allowed, warn = limiter.allow(msg.sender, msg.sent_at, msg.message_id)
    if not allowed:
        out = Outcome("rate_limited")
        if warn:
            _send(messenger, msg, replies.flood_text(), out)
        log("WARNING", "sender over the flood limit: message not stored", channel=str(msg.channel),
            message_id=msg.message_id)
        return out
    if msg.kind == "comment":
        if is_greeting(msg.text) or is_thanks(msg.text) or svc.classify(msg.text)[0] == Sentiment.POSITIVE:
            return Outcome("ignored")  # praise and greetings under a post are not complaints
        return _new_case(svc, msg, messenger)
    if msg.kind == "greeting" or (msg.kind == "text" and is_greeting(msg.text)):
        if not _first_time(svc, msg, ""):
            return Outcome("duplicate")
        out = Outcome("guide")
        _send(messenger, msg, replies.guide_text(svc.settings), out)
        return out
    if msg.kind == "unsupported":
        if not _first_time(svc, msg, ""):
            return Outcome("duplicate")
        out = Outcome("ask_text")
        _send(messenger, msg, replies.unsupported_text(), out)
        return out
    if msg.kind == "text":
        command = parse_command(msg.text, svc.settings.ticket_prefix)
        if command and command[0] == "anonim" and command[1] is None and len(_words(command[2])) > 3:
            # "ANONIM jalan di desa kami rusak ...": an anonymous complaint in one message.
            wb.log_add(LogEntry(ANON_LOG, sender_key(str(msg.channel), msg.sender), now, ""))
            msg = replace(msg, text=command[2])
        elif command:
            return _command(svc, msg, command[:2], messenger, now)
        elif is_thanks(msg.text):
            return Outcome("thanks")
    case = open_case_of(svc, msg) if msg.joinable else None
    if case is not None and len(case.text) + len(msg.text) < JOINED_TEXT_LIMIT:
        return _join(svc, msg, case, messenger)
    return _new_case(svc, msg, messenger)


def open_case_of(svc: "Services", msg: Inbound) -> Case | None:
    """The sender's case this message joins: same channel, within the window, `Baru`, unanswered."""
    window = timedelta(minutes=svc.settings.conversation_window_minutes)
    record = svc.contacts.latest_for(msg.sender, msg.sent_at - window)
    if record is None or record.channel != str(msg.channel) or record.received_at > msg.sent_at + window:
        return None
    case = svc.workbook.find(record.ticket_id)
    if case is None:
        return None
    if case.status.strip() != Status.NEW or case.response.strip() or case.withdrawn:
        return None
    return case


def message_text(msg: Inbound) -> str:
    """What a message adds to the complaint text (a shared location is spelled out)."""
    if msg.kind == "location":
        where = msg.location + (f" — {msg.text}" if msg.text else "")
        return f"[Lokasi dibagikan: {where}]"
    return msg.text


def _piece(msg: Inbound) -> str:
    """The line a follow-up adds to the complaint text."""
    try:
        text = message_text(msg)
        return clean_text(text) if text else ""
    except InvalidComplaint:
        return ""


def _join(svc: "Services", msg: Inbound, case: Case, messenger) -> Outcome:
    ticket = case.ticket_id
    values: dict = {}
    piece = _piece(msg)
    old_text = case.text
    if piece and not old_text.endswith(piece):
        values["text"] = clean_text(f"{old_text}\n{piece}", max_chars=JOINED_TEXT_LIMIT)
    link = _merge_refs(case.link, [*msg.media, msg.link])
    if link != case.link:
        values["link"] = link
    if values and case.tab == TRIAGE and "text" in values:
        routed = svc.route(values["text"])
        if routed.opd != TRIAGE:
            values["category"] = routed.topic
            svc.workbook.move(ticket, routed.opd, values)
            log("INFO", "conversation re-routed out of triage", ticket=ticket, opd=routed.opd)
            values = {}
    if values:
        svc.workbook.update([CellUpdate(ticket, values, case.tab)])
    if msg.location and not case.location.strip():
        # Lokasi is a staff column; the system fills it only while it is still empty.
        svc.workbook.update([CellUpdate(ticket, {"location": msg.location}, case.tab)], staff=True)
    svc.workbook.log_add(LogEntry(MSG_LOG, msg.message_id, msg.sent_at, ticket))
    out = Outcome("joined", ticket)
    if msg.kind in {"media", "audio", "location", "contacts"}:
        _send(messenger, msg, replies.joined_text(ticket, msg.kind), out)
    log("INFO", "message joined its case", ticket=ticket, channel=str(msg.channel), kind=msg.kind)
    return out


def _merge_refs(existing: str, new: list[str]) -> str:
    parts = [p for p in existing.split("\n") if p.strip()]
    for ref in new:
        if ref and ref not in parts:
            parts.append(ref)
    return "\n".join(parts)


def complaint_of(svc: "Services", msg: Inbound) -> Complaint:
    anonymous = svc.workbook.log_has(ANON_LOG, sender_key(str(msg.channel), msg.sender))
    contact = Contact(name=msg.name, phone=normalise_phone(msg.phone) if msg.phone else "",
                      channel_user_id=msg.recipient, anonymous=anonymous)
    text = message_text(msg) or replies.placeholder(msg.kind)
    link = _merge_refs("", [*msg.media, msg.link])
    return Complaint(text=text, channel=msg.channel, received_at=msg.sent_at, contact=contact,
                     source_id=msg.message_id, location=msg.location, link=link)


def _new_case(svc: "Services", msg: Inbound, messenger) -> Outcome:
    try:
        receipt = intake(svc, complaint_of(svc, msg))
    except InvalidComplaint as e:
        out = Outcome("invalid")
        _send(messenger, msg, e.message, out)
        return out
    if not receipt.created:
        return Outcome("redelivered", receipt.ticket_id)
    out = Outcome("created", receipt.ticket_id)
    _send(messenger, msg, replies.ack_text(svc, receipt, msg.kind), out)
    return out


# -- commands ---------------------------------------------------------------------------------

def owns(record: ContactRecord | None, msg: Inbound) -> bool:
    """Only the citizen who filed a case may ask about it, withdraw it or hide their name."""
    if record is None:
        return False
    c = record.contact
    if c.channel_user_id and c.channel_user_id == msg.sender:
        return True
    return bool(msg.phone and c.phone and normalise_phone(c.phone) == normalise_phone(msg.phone))


def _command(svc: "Services", msg: Inbound, command: tuple[str, str | None], messenger, now: datetime) -> Outcome:
    verb, ticket = command
    record = svc.contacts.get(ticket) if ticket else svc.contacts.latest_for(msg.sender, now - OWNER_LOOKBACK)
    if ticket is None and record is not None:
        ticket = record.ticket_id
    mine = owns(record, msg)
    case = svc.workbook.find(ticket) if (ticket and mine) else None
    out = Outcome({"status": "status", "batal": "withdrawn", "anonim": "anonymous"}[verb], ticket or "")
    # Recorded before answering, whatever the answer: a redelivered command (Meta redelivers
    # until it gets a 200) is answered once; two deliveries at once race on the one record.
    if not _first_time(svc, msg, ticket if (ticket and mine) else ""):
        return Outcome("duplicate")
    if verb == "anonim":
        text = _anonymous(svc, msg, case, record if mine else None, now)
    elif case is None:
        text = replies.unknown_ticket_text(svc.settings, ticket)
        out.ticket = ""
    elif verb == "status":
        text = replies.status_text(svc, case)
    else:
        text = _withdraw(svc, msg, case, now)
    _send(messenger, msg, text, out)
    return out


def _first_time(svc: "Services", msg: Inbound, ticket: str) -> bool:
    """Record the message id as handled; False when it already was (a redelivery)."""
    return svc.workbook.log_add(LogEntry(MSG_LOG, msg.message_id, msg.sent_at, ticket))


def _withdraw(svc: "Services", msg: Inbound, case: Case, now: datetime) -> str:
    """Withdrawal is the note mark (`case.WITHDRAWN_MARK`, decoded into `Case.withdrawn`),
    written first; the `batal` Log entry is the audit trail. A repeated BATAL writes nothing."""
    if case.closed:
        return replies.cannot_withdraw_text(case.ticket_id, case.status.strip())
    if case.withdrawn:
        return replies.withdrawn_text(case.ticket_id)
    note = add_note(case.note, replies.withdrawn_note(now))
    svc.workbook.update([CellUpdate(case.ticket_id, {"note": note}, case.tab)])
    svc.workbook.log_add(LogEntry(WITHDRAWN_LOG, case.ticket_id, now, str(msg.channel)))
    log("INFO", "case withdrawn by the citizen", ticket=case.ticket_id, channel=str(msg.channel))
    return replies.withdrawn_text(case.ticket_id)


def _anonymous(svc: "Services", msg: Inbound, case: Case | None, record: ContactRecord | None, now: datetime) -> str:
    svc.workbook.log_add(LogEntry(ANON_LOG, sender_key(str(msg.channel), msg.sender), now, ""))
    if case is None or record is None:
        return replies.anonymous_text(None)
    svc.contacts.put(replace(record, contact=replace(record.contact, anonymous=True)))
    if case.reporter != ANONYMOUS or case.contact:
        svc.workbook.update([CellUpdate(case.ticket_id, {"reporter": ANONYMOUS, "contact": ""}, case.tab)])
    log("INFO", "reporter made anonymous", ticket=case.ticket_id)
    return replies.anonymous_text(case.ticket_id)


def _send(messenger, msg: Inbound, text: str, out: Outcome) -> None:
    """Answer the citizen; a failed answer is logged, never undoes what was stored."""
    try:
        result = messenger.send_text(msg.recipient, text, str(msg.channel))
    except Exception as e:  # noqa: BLE001 - the case is stored; the answer is best effort
        log("ERROR", "answer to citizen failed", channel=str(msg.channel), action=out.action,
            error=f"{type(e).__name__}")
        return
    if not result.ok:
        log("WARNING", "answer to citizen refused", channel=str(msg.channel), action=out.action,
            code=result.error_code)
    out.replies.append(text)
