"""What the citizen reads on WhatsApp / Messenger / Instagram, and sending OPD answers back.

- The texts (Bahasa Indonesia, in `digest/templates/citizen.toml`): acknowledgement, guide,
  status, withdrawal, anonymity, flood; the functions here fill them in.
- `send_responses(svc, now)` (called by the sweep): each case with a response and no
  `reply_sent_at` is answered on the channel the citizen used, then `reply_sent_at` is stamped in
  one batch write. Outside WhatsApp's 24-hour customer-service window the approved template
  (WHATSAPP_TEMPLATE, WHATSAPP_TEMPLATE_LANGUAGE) is used; Messenger/Instagram use the
  HUMAN_AGENT tag. Failures (synchronous, or reported later by a status callback such as 131047)
  are recorded in the workbook Log and retried with a growing pause, at most MAX_ATTEMPTS times;
  at most one message per recipient per run (Meta's per-recipient pace).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..digest.citizen import say
from ..journal import (MSG_LOG, REPLY_FAILED_LOG, REPLY_GAVE_UP_LOG, REPLY_LOG, reply_callback_key,
                       reply_failed_key)
from ..logs import log
from ..timefmt import long_wib, short_wib
from ..case import WITHDRAWN_MARK, Case, add_note, all_cases
from ..model import OUTSIDE, TRIAGE, Channel, Receipt, Status
from ..stores.port import CellUpdate, Changes, ContactBook, LogEntry
from ..messaging.port import NOT_CONFIGURED, WINDOW_CLOSED_CODES, SendResult, Template

if TYPE_CHECKING:
    from ..schema import Schema
    from .context import Services

SERVICE_WINDOW = timedelta(hours=24)
MAX_ATTEMPTS = 4
RETRY_BASE = timedelta(minutes=15)
META_CHANNELS = frozenset({Channel.WHATSAPP, Channel.FACEBOOK, Channel.INSTAGRAM})


# -- texts ------------------------------------------------------------------------------------

def status_url(settings, ticket: str) -> str:
    return f"{settings.public_url}/form/status?tiket={ticket}"


def promise(sla_hours: float) -> str:
    return say("promise_default") if sla_hours == 48 else say("promise_hours", hours=f"{sla_hours:g}")


def opd_name(schema: "Schema", key: str) -> str:
    if key == TRIAGE:
        return say("opd_triage")
    try:
        opd = schema.opd(key)
    except KeyError:
        return key
    return say("opd_outside") if key == OUTSIDE else opd.name


def placeholder(kind: str) -> str:
    """The complaint text when a citizen sent no words (never invented content)."""
    return say(f"placeholder_{kind}" if kind in {"audio", "media", "location", "contacts"} else "placeholder_other")


def ack_text(svc: "Services", receipt: Receipt, kind: str = "text") -> str:
    s, t = svc.settings, receipt.ticket_id
    lines = [say("ack_head")]
    if kind == "audio":
        lines.append(say("ack_audio"))
    elif kind in {"location", "media", "contacts"}:
        lines.append(say("ack_no_words"))
    lines.append(say("ack_body", ticket=t, opd=opd_name(svc.schema, receipt.opd), promise=promise(s.sla_hours),
                     deadline=long_wib(receipt.deadline, s.tz), url=status_url(s, t)))
    lines.append(say("ack_join", minutes=s.conversation_window_minutes))
    lines.append(say("privacy"))
    return "\n".join(lines)


def guide_text(settings) -> str:
    return say("guide", prefix=settings.ticket_prefix)


def unsupported_text() -> str:
    return say("unsupported")


def flood_text() -> str:
    return say("flood")


def joined_text(ticket: str, kind: str) -> str:
    what = say(f"joined_{kind}" if kind in {"media", "audio", "location", "contacts"} else "joined_other")
    return say("joined", what=what, ticket=ticket)


def status_text(svc: "Services", case: Case) -> str:
    t, tz = case.ticket_id, svc.settings.tz
    lines = [say("status_head", ticket=t, status=case.status.strip() or Status.NEW, opd=opd_name(svc.schema, case.tab))]
    if case.received_at is not None:
        lines.append(say("status_received", received=long_wib(case.received_at, tz)))
    if case.response.strip():
        lines.append(say("status_response", response=case.response.strip()))
    elif case.deadline is not None:
        lines.append(say("status_waiting", deadline=long_wib(case.deadline, tz)))
    if case.withdrawn:
        lines.append(say("status_withdrawn"))
    lines.append(say("status_link", url=status_url(svc.settings, t)))
    return "\n".join(lines)


def unknown_ticket_text(settings, ticket: str | None) -> str:
    if not ticket:
        return say("unknown_sender", prefix=settings.ticket_prefix)
    return say("unknown_ticket", ticket=ticket)


def cannot_withdraw_text(ticket: str, status: str) -> str:
    return say("cannot_withdraw", ticket=ticket, status=status)


def withdrawn_text(ticket: str) -> str:
    return say("withdrawn", ticket=ticket)


def withdrawn_note(now: datetime) -> str:
    """The note line that makes a case withdrawn (the codec reads WITHDRAWN_MARK back)."""
    return f"{WITHDRAWN_MARK} pada {short_wib(now)}."


def anonymous_text(ticket: str | None) -> str:
    return say("anonymous_case", ticket=ticket) if ticket else say("anonymous_next")


def response_text(svc: "Services", case: Case) -> str:
    ticket, status = case.ticket_id, case.status.strip()
    lines = [say("response_head", ticket=ticket, opd=opd_name(svc.schema, case.tab)), "", case.response.strip(), ""]
    if status:
        lines.append(say("response_status", status=status))
    lines.append(say("response_tail", url=status_url(svc.settings, ticket)))
    return "\n".join(lines)


def public_response_text(svc: "Services", ticket: str, tab: str) -> str:
    """Under a public comment: no answer text in public, a link to the status page instead."""
    return say("response_public", ticket=ticket, opd=opd_name(svc.schema, tab), url=status_url(svc.settings, ticket))


def response_template(svc: "Services", case: Case) -> Template:
    """Body parameters of the approved template (see docs/channels.md: {{1}} tiket, {{2}} OPD, {{3}} status,
    {{4}} tanggapan)."""
    s = svc.settings
    return Template(s.whatsapp_template, s.whatsapp_template_language,
                    (case.ticket_id, opd_name(svc.schema, case.tab), case.status.strip() or "Diproses", case.response.strip()))


# -- sending OPD answers (the sweep) ----------------------------------------------------------

@dataclass
class ReplyReport:
    sent: list[str] = field(default_factory=list)
    templated: list[str] = field(default_factory=list)  # sent as the approved template
    deferred: list[str] = field(default_factory=list)  # per-recipient pace or waiting to retry
    failed: list[str] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)
    no_contact: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"balasan ke pelapor: {len(self.sent)} terkirim"
        if self.templated:
            text += f" ({len(self.templated)} lewat template)"
        return (text + f", {len(self.deferred)} ditunda, {len(self.failed)} gagal"
                + (f", {len(self.gave_up)} dihentikan" if self.gave_up else "")
                + (f", {len(self.no_contact)} tanpa kontak" if self.no_contact else ""))


def _failures(entries: list[LogEntry]) -> dict[str, list[LogEntry]]:
    out: dict[str, list[LogEntry]] = {}
    for e in entries:
        out.setdefault(e.key.split("#", 1)[0], []).append(e)
    return out


def _window_closed_before(fails: list[LogEntry]) -> bool:
    return any(e.detail.split("|", 1)[0] in {str(c) for c in WINDOW_CLOSED_CODES} for e in fails)


def _last_inbound(contacts: ContactBook, recipient: str, now: datetime, recent_msgs: list[LogEntry]) -> datetime | None:
    """When the citizen last wrote to us (their newest case, or a logged follow-up/command)."""
    latest = None
    record = contacts.latest_for(recipient, now - SERVICE_WINDOW)
    if record is not None:
        latest = record.received_at
    for entry in recent_msgs:
        if latest is not None and entry.at <= latest:
            continue
        owner = contacts.get(entry.detail) if entry.detail else None
        if owner is not None and owner.contact.channel_user_id == recipient:
            latest = entry.at
    return latest


def send_responses(svc: "Services", now: datetime | None = None, *, messenger=None, dry_run: bool = False,
                   tabs: dict | None = None, changes: Changes | None = None) -> ReplyReport:
    """Send new OPD answers to citizens on WhatsApp / Facebook / Instagram; stamp reply_sent_at.

    `tabs` is the sweep's own read of the workbook and `changes` its one commit, so the sweep
    stays at a constant number of store requests; without them this reads and writes itself.
    A crash between sending and the commit sends that answer again on the next sweep."""
    now = now or svc.now()
    messenger = messenger or svc.messenger
    wb = svc.workbook
    report = ReplyReport()
    entries_so_far = wb.log_entries()
    failures = _failures([e for e in entries_so_far if e.kind == REPLY_FAILED_LOG])
    gave_up = {e.key for e in entries_so_far if e.kind == REPLY_GAVE_UP_LOG}
    recent_msgs = [e for e in entries_so_far if e.kind == MSG_LOG and e.at >= now - SERVICE_WINDOW]
    own = changes is None
    changes = Changes() if changes is None else changes
    paced: set[str] = set()
    for case in all_cases(wb.read_all() if tabs is None else tabs):
        if not case.response.strip() or case.reply_sent:
            continue
        if case.channel not in META_CHANNELS or case.ticket_id in gave_up:
            continue
        _reply_one(svc, messenger, case, now, report, changes, failures.get(case.ticket_id, []),
                   recent_msgs, paced, dry_run)
    if own and changes:
        written = wb.commit(changes)
        if written.missing:
            log("WARNING", "reply stamps: rows not found", tickets=",".join(written.missing))
    if report.sent or report.failed:
        log("INFO", "replies sent", summary=report.summary())
    return report


def _reply_one(svc: "Services", messenger, case: Case, now: datetime, report: ReplyReport, changes: Changes,
               fails: list[LogEntry], recent_msgs: list[LogEntry], paced: set[str], dry_run: bool) -> None:
    """Answer one citizen (or say why not): at most one message per recipient per run, failures
    retried with a growing pause and given up after MAX_ATTEMPTS."""
    ticket, tab = case.ticket_id, case.tab
    record = svc.contacts.get(ticket)
    recipient = record.contact.channel_user_id if record else ""
    if not recipient:
        report.no_contact.append(ticket)
        return
    waiting = fails and now - max(e.at for e in fails) < RETRY_BASE * (2 ** (len(fails) - 1))
    if waiting or recipient in paced:
        report.deferred.append(ticket)
        return
    paced.add(recipient)
    if dry_run:
        report.sent.append(ticket)
        return
    result, templated = _deliver(svc, messenger, case, recipient, now, fails, recent_msgs)
    if result.ok:
        report.sent.append(ticket)
        if templated:
            report.templated.append(ticket)
        changes.update(ticket, {"reply_sent_at": now}, tab)
        if case.channel == Channel.WHATSAPP and result.message_id:
            changes.log.append(LogEntry(REPLY_LOG, result.message_id, now, ticket))
        return
    report.failed.append(ticket)
    changes.log.append(LogEntry(REPLY_FAILED_LOG, reply_failed_key(ticket, now), now,
                                f"{result.error_code or ''}|{'template' if templated else 'text'}"))
    last_try = len(fails) + 1 >= MAX_ATTEMPTS
    if last_try or not (result.retry_later or result.window_closed):
        if last_try:
            report.gave_up.append(ticket)
            changes.log.append(LogEntry(REPLY_GAVE_UP_LOG, ticket, now, str(result.error_code or "")))
        changes.update(ticket, {"note": add_note(case.note, _failure_note(result, gave_up=last_try))}, tab)


def _deliver(svc: "Services", messenger, case: Case, recipient: str, now: datetime, fails, recent_msgs) -> tuple[SendResult, bool]:
    """Send one answer; (result, sent_as_template)."""
    channel = case.channel
    if recipient.startswith(("comment:", "post:")):
        text = public_response_text(svc, case.ticket_id, case.tab)
        return messenger.send_text(recipient, text, channel, public=True), False
    last = _last_inbound(svc.contacts, recipient, now, recent_msgs)
    window_open = last is not None and now - last < SERVICE_WINDOW and not _window_closed_before(fails)
    text = response_text(svc, case)
    if channel != Channel.WHATSAPP:
        return messenger.send_text(recipient, text, channel, tag="" if window_open else "HUMAN_AGENT"), False
    if window_open:
        result = messenger.send_text(recipient, text, channel)
        if result.ok or not result.window_closed:
            return result, False
    return messenger.send_template(recipient, response_template(svc, case), channel), True


def _failure_note(result: SendResult, *, gave_up: bool) -> str:
    if result.error == NOT_CONFIGURED:
        return ("Balasan otomatis ke kanal ini belum diaktifkan KMC (token akses belum dipasang); "
                "hubungi pelapor secara manual.")
    code = f" (kode {result.error_code})" if result.error_code else ""
    if gave_up:
        return f"Balasan ke pelapor gagal terkirim{code} setelah {MAX_ATTEMPTS} percobaan; hubungi pelapor secara manual."
    return f"Balasan ke pelapor ditolak{code}; hubungi pelapor secara manual bila perlu."






# -- status callbacks (WhatsApp) --------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryStatus:
    message_id: str  # our outgoing message id
    status: str  # sent | delivered | read | failed | deleted
    at: datetime
    errors: tuple[tuple[int | None, str], ...] = ()


def record_status(svc: "Services", event: DeliveryStatus) -> str:
    """A status callback: a failed answer is recorded and its `reply_sent_at` cleared so the sweep
    tries again (with the template after 131047). Returns what was done."""
    if event.status != "failed":
        return "ignored"
    code = event.errors[0][0] if event.errors else None
    wb = svc.workbook
    ticket = next((e.detail for e in wb.log_entries(REPLY_LOG) if e.key == event.message_id), "")
    if not ticket:
        from .notify import record_head_failure  # a template to an OPD head (services/notify.py)

        if record_head_failure(wb, event.message_id, code, event.errors[0][1] if event.errors else "", event.at):
            log("WARNING", "message to OPD head failed: email at the next sweep", code=code)
            return "head_failed"
        log("WARNING", "message to citizen failed", code=code, message_id=event.message_id)
        return "failed_other"
    if not wb.log_add(LogEntry(REPLY_FAILED_LOG, reply_callback_key(ticket, event.message_id), event.at, f"{code or ''}|callback")):
        return "duplicate"
    case = wb.find(ticket)
    if case is not None and case.reply_sent:
        note = add_note(case.note, f"Balasan ke pelapor gagal terkirim (kode {code}); dicoba ulang.")
        wb.update([CellUpdate(ticket, {"reply_sent_at": None, "note": note}, case.tab)])
    log("WARNING", "answer to citizen failed: will retry", ticket=ticket, code=code)
    return "reply_failed"
