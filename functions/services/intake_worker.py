"""The paced writer: store accepted messages in the workbook, then acknowledge the citizen.

The doors (functions/channels) accept a message, put a `Job` in the intake queue and answer in
milliseconds. This module is the other side: `process(svc, job)` runs one job through its
step (a conversation message, a form/Open311 complaint, a monitoring finding, a delivery
status); `drain_once` takes a batch from the local queue and stores it — conversations one
after another in the order they were accepted, different conversations in parallel so their
appends coalesce into one Sheets write (GoogleWorkbook's Coalescer) — and `run_task` is the
same step for one Cloud Tasks delivery at `/jobs/intake`.

Every step is idempotent on the job's key (the source message id): a job that runs twice, or a
message redelivered after it was stored, finds its ticket and writes and answers nothing more.
A store that is down is a wait (the job is retried, never dead-lettered for it); any other
failure counts as an attempt, and after POISON_ATTEMPTS the job is a dead letter, listed by
`drain` and the digest until an admin retries it. To add a step, register it in `STEPS`;
attachments are kept by the conversation step before the message is stored (services/attachments.py).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from ..logs import log
from ..model import Channel, Complaint, Contact, InvalidComplaint, Sentiment, StorageUnavailable
from ..queue.port import POISON_ATTEMPTS, STALE_MINUTES, DrainedHere, Job, QueueStats
from .intake import intake

if TYPE_CHECKING:
    from .context import Services

PARALLEL = 16  # conversations stored at once; their appends share one Sheets write


# -- codecs: what travels in a job body (JSON) --------------------------------------------------

def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def encode_inbound(msg) -> dict:
    return {"channel": str(msg.channel), "message_id": msg.message_id, "sender": msg.sender,
            "sent_at": _iso(msg.sent_at), "kind": msg.kind, "text": msg.text, "media": list(msg.media),
            "location": msg.location, "link": msg.link, "name": msg.name, "phone": msg.phone,
            "reply_to": msg.reply_to}


def decode_inbound(body: dict):
    from .conversation import Inbound

    return Inbound(channel=Channel(body["channel"]), message_id=body["message_id"], sender=body["sender"],
                   sent_at=_when(body["sent_at"]), kind=body.get("kind", "text"), text=body.get("text", ""),
                   media=tuple(body.get("media") or ()), location=body.get("location", ""),
                   link=body.get("link", ""), name=body.get("name", ""), phone=body.get("phone", ""),
                   reply_to=body.get("reply_to", ""))


def encode_complaint(c: Complaint) -> dict:
    k = c.contact
    return {"text": c.text, "channel": str(c.channel), "received_at": _iso(c.received_at),
            "contact": {"name": k.name, "phone": k.phone, "channel_user_id": k.channel_user_id,
                        "email": k.email, "anonymous": k.anonymous},
            "source_id": c.source_id, "location": c.location, "link": c.link,
            "sentiment": str(c.sentiment) if c.sentiment else "", "opd": c.opd, "category": c.category}


def decode_complaint(body: dict) -> Complaint:
    k = body.get("contact") or {}
    return Complaint(text=body["text"], channel=Channel(body["channel"]), received_at=_when(body["received_at"]),
                     contact=Contact(name=k.get("name", ""), phone=k.get("phone", ""),
                                     channel_user_id=k.get("channel_user_id", ""), email=k.get("email", ""),
                                     anonymous=bool(k.get("anonymous"))),
                     source_id=body.get("source_id", ""), location=body.get("location", ""),
                     link=body.get("link", ""),
                     sentiment=Sentiment(body["sentiment"]) if body.get("sentiment") else None,
                     opd=body.get("opd", ""), category=body.get("category", ""))


def encode_status(event) -> dict:
    return {"message_id": event.message_id, "status": event.status, "at": _iso(event.at),
            "errors": [[code, text] for code, text in event.errors]}


def decode_status(body: dict):
    from .replies import DeliveryStatus

    return DeliveryStatus(message_id=body["message_id"], status=body["status"], at=_when(body["at"]),
                          errors=tuple((code, text) for code, text in body.get("errors") or ()))


# -- the steps ---------------------------------------------------------------------------------

@dataclass
class Result:
    key: str
    kind: str
    action: str  # what the step did: created | redelivered | joined | stored | duplicate | invalid | ...
    ticket: str = ""
    replies: list[str] = field(default_factory=list)


class ConversationLocks:
    """One lock per conversation in this process: two messages of one citizen never run at once
    (Cloud Tasks delivers up to 10 tasks together to the one `intake` instance), so a burst of
    follow-ups joins one case instead of racing to open several."""

    def __init__(self):
        self.guard = threading.Lock()
        self.locks: dict[str, list] = {}  # group -> [lock, users]

    @contextmanager
    def hold(self, group: str):
        if not group:
            yield
            return
        with self.guard:
            entry = self.locks.setdefault(group, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self.guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self.locks[group]


def _inbound(svc: "Services", job: Job) -> Result:
    from .conversation import handle_inbound

    from .attachments import prepare_inbound, record_problems

    # Attachments are downloaded, checked and stored first (outside the conversation lock).
    prepared = prepare_inbound(svc, decode_inbound(job.body), job.ticket)
    state = svc.state
    if state.conversation_locks is None:
        state.conversation_locks = ConversationLocks()
    locks = state.conversation_locks
    with locks.hold(job.group):
        out = handle_inbound(svc, prepared.msg, messenger=svc.messenger)
    if prepared.problems and out.action in {"created", "joined"}:
        record_problems(svc, prepared.msg.message_id, out.ticket, prepared.problems)
    return Result(job.key, job.kind, out.action, out.ticket, out.replies)


def _complaint(svc: "Services", job: Job) -> Result:
    from .attachments import prepare_complaint

    try:
        receipt = intake(svc, prepare_complaint(svc, decode_complaint(job.body), job.ticket))
    except InvalidComplaint as e:
        # The door validated it; a complaint intake still refuses is reported, not retried.
        log("WARNING", "queued complaint refused by intake", ticket=job.ticket, error=e.message)
        return Result(job.key, job.kind, "invalid", job.ticket)
    return Result(job.key, job.kind, "created" if receipt.created else "redelivered", receipt.ticket_id)


def _status(svc: "Services", job: Job) -> Result:
    from .replies import record_status

    return Result(job.key, job.kind, record_status(svc, decode_status(job.body)))


# kind -> step(svc, job) -> Result. The composition root adds steps that live in a channel
# (the monitoring finding); services never import channels.
STEPS: dict[str, Callable[[Any, Job], Result]] = {
    "inbound": _inbound,
    "complaint": _complaint,
    "delivery_status": _status,
}


def process(svc: "Services", job: Job) -> Result:
    """Run one job's step; raises StorageUnavailable (retry later) or any error (an attempt)."""
    steps = {**STEPS, **svc.intake_steps}
    step = steps.get(job.kind)
    if step is None:
        raise ValueError(f"no intake step for job kind {job.kind!r}")
    result = step(svc, job)
    log("INFO", "queued message stored", kind=job.kind, action=result.action,
        ticket=result.ticket or job.ticket, waited_s=round((svc.clock() - job.accepted_at).total_seconds(), 1))
    return result


# -- the local queue's drain ---------------------------------------------------------------------

@dataclass
class DrainReport:
    results: list[Result] = field(default_factory=list)
    retry_later: list[str] = field(default_factory=list)  # keys: the store was unavailable
    failed: list[str] = field(default_factory=list)  # keys: an attempt failed (not yet dead)
    dead: list[str] = field(default_factory=list)  # keys that just became dead letters
    outage: str = ""  # why the store was unavailable, when it was

    def action(self, key: str) -> str:
        return next((r.action for r in self.results if r.key == key), "")

    def summary(self) -> str:
        return (f"{len(self.results)} tersimpan, {len(self.retry_later)} menunggu penyimpanan, "
                f"{len(self.failed)} gagal (dicoba lagi), {len(self.dead)} menjadi surat mati")


def drain_once(svc: "Services", queue, *, limit: int = 200, parallel: int = PARALLEL,
               before_each: Callable[[], None] | None = None) -> DrainReport:
    """Store up to `limit` due jobs. Conversations run one message after another, several
    conversations at once. When the store is down, the batch stops and is given back.
    `before_each` runs before every job (serve: let the doors answer first during a burst)."""
    report = DrainReport()
    jobs = queue.lease(limit)
    if not jobs:
        return report
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.group or job.key, []).append(job)
    state = {"down": False}

    def run_group(group: list[Job]) -> None:
        for i, job in enumerate(group):
            if before_each is not None:
                before_each()
            if state["down"]:
                queue.release([j.key for j in group[i:]])
                report.retry_later += [j.key for j in group[i:]]
                return
            try:
                result = process(svc, job)
            except StorageUnavailable as e:
                state["down"] = True
                report.outage = str(e)[:300]
                queue.fail(job.key, f"StorageUnavailable: {e}", outage=True)
                report.retry_later += [j.key for j in group[i:]]
                queue.release([j.key for j in group[i + 1:]])
                return
            except Exception as e:  # noqa: BLE001 - one poison message must not stop the others
                error = f"{type(e).__name__}: {e}"
                log("ERROR", "queued message failed", kind=job.kind, ticket=job.ticket, error=error[:300])
                (report.dead if queue.fail(job.key, error, outage=False) else report.failed).append(job.key)
                continue
            queue.done(job.key)
            report.results.append(result)

    if len(groups) == 1 or parallel <= 1:
        for group in groups.values():
            run_group(group)
    else:
        with ThreadPoolExecutor(max_workers=min(parallel, len(groups)), thread_name_prefix="kmc-intake") as pool:
            list(pool.map(run_group, groups.values()))
    if report.outage:
        log("WARNING", "intake queue: store unavailable, will retry", waiting=len(report.retry_later),
            error=report.outage)
    return report


def drain_all(svc: "Services", queue, *, rounds: int = 100) -> DrainReport:
    """Drain until nothing is due (tests, `drain`): one report over every round."""
    total = DrainReport()
    for _ in range(rounds):
        r = drain_once(svc, queue)
        total.results += r.results
        total.retry_later += r.retry_later
        total.failed += r.failed
        total.dead += r.dead
        total.outage = total.outage or r.outage
        if r.outage or not (r.results or r.failed or r.dead):
            break
    return total


# -- what waits: drain, the digest and the log ---------------------------------------------------

def stale(stats: QueueStats, now: datetime, minutes: int = STALE_MINUTES) -> list:
    return [w for w in stats.waiting if now - w.accepted_at > timedelta(minutes=minutes)]


def queue_notes(queue, now: datetime) -> list[str]:
    """Indonesian lines for the digest's "catatan sistem": old waiting jobs and dead letters."""
    if not isinstance(queue, DrainedHere):
        return []
    try:
        stats = queue.stats()
    except Exception as e:  # noqa: BLE001 - the digest goes out even when the queue cannot be read
        return [f"Antrean aduan tidak dapat dibaca: {type(e).__name__}"]
    notes = []
    old = stale(stats, now)
    if old:
        oldest = min(w.accepted_at for w in old)
        notes.append(f"{len(old)} pesan warga menunggu dicatat lebih dari {STALE_MINUTES} menit (tertua diterima "
                     f"{oldest.astimezone(now.tzinfo):%d/%m %H:%M}); periksa akses ke Google Sheets "
                     f"(`python main.py drain`).")
    for w in stats.dead[:10]:
        notes.append(f"Surat mati di antrean: {w.kind} {w.ticket or w.key} gagal {w.attempts} kali "
                     f"({w.error[:120]}); coba lagi: `python main.py drain --retry {w.ticket or w.key}`.")
    if len(stats.dead) > 10:
        notes.append(f"... dan {len(stats.dead) - 10} surat mati lainnya (`python main.py drain`).")
    return notes


def record_outcome(result: Result) -> dict:
    return {"key": result.key, "kind": result.kind, "action": result.action, "ticket": result.ticket}



# -- Cloud Tasks: one job per HTTP delivery ------------------------------------------------------

@dataclass
class TaskOutcome:
    status: int  # 200 stored (or handled); 503 store down (retry); 500 failed attempt (retry)
    result: Result | None = None
    error: str = ""
    dead: bool = False


def run_task(svc: "Services", job: Job, retry_count: int) -> TaskOutcome:
    """One delivery from Cloud Tasks. Cloud Tasks retries any non-2xx with backoff (queue
    config in scripts/deploy.sh); from the POISON_ATTEMPTS-th failure on, the job is reported
    once as a dead letter in the Log (read by the digest) and keeps being retried slowly until
    the queue's max attempts, so an admin sees it and can force a retry (docs/deploy.md)."""
    try:
        outcome = TaskOutcome(200, process(svc, job))
        _report_if_late(svc, job)
        return outcome
    except StorageUnavailable as e:
        log("WARNING", "intake task: store unavailable; Cloud Tasks will retry", kind=job.kind,
            ticket=job.ticket, attempt=retry_count + 1, error=str(e)[:200])
        return TaskOutcome(503, error=str(e))
    except Exception as e:  # noqa: BLE001 - reported, then retried by Cloud Tasks
        error = f"{type(e).__name__}: {e}"
        attempt = retry_count + 1
        dead = attempt >= POISON_ATTEMPTS
        log("ERROR", "intake task failed", kind=job.kind, ticket=job.ticket, attempt=attempt,
            dead_letter=dead, error=error[:300])
        if dead:
            _report_dead_letter(svc, job, type(e).__name__, attempt)
        return TaskOutcome(500, error=error, dead=dead)


def _report_if_late(svc: "Services", job: Job) -> None:
    """A message stored more than 15 minutes after it was accepted: logged, and the day's first
    one recorded in the Log (one entry a day, not one per message) for the digest."""
    from ..journal import PROBLEM, LogEntry, late_intake_problem_key

    now = svc.now()
    waited = now - job.accepted_at
    if waited <= timedelta(minutes=STALE_MINUTES):
        return
    minutes = int(waited.total_seconds() // 60)
    log("WARNING", "intake queue: message stored late", ticket=job.ticket, waited_min=minutes)
    text = (f"Pesan warga menunggu lebih dari {STALE_MINUTES} menit di antrean sebelum tercatat (pertama hari "
            f"ini: {job.ticket or job.kind}, {minutes} menit); periksa akses ke Google Sheets dan antrean kmc-intake.")
    try:
        svc.workbook.log_add(LogEntry(PROBLEM, late_intake_problem_key(now), now, text))
    except Exception as e:  # noqa: BLE001 - the case is stored; the note is best effort
        log("ERROR", "late-message note could not be recorded", error=type(e).__name__)


def _report_dead_letter(svc: "Services", job: Job, error_type: str, attempt: int) -> None:
    """A Log `problem` entry (no personal data) so the next digest lists it; recorded once."""
    from ..journal import PROBLEM, LogEntry, dead_letter_problem_key

    text = (f"Surat mati di antrean Cloud Tasks: {job.kind} {job.ticket or job.key} gagal {attempt} kali "
            f"({error_type}); lihat Cloud Tasks > antrean intake di konsol, lalu jalankan ulang tugasnya.")
    try:
        svc.workbook.log_add(LogEntry(PROBLEM, dead_letter_problem_key(job.key), svc.now(), text))
    except Exception as e:  # noqa: BLE001 - the log line above already carries it
        log("ERROR", "dead letter could not be recorded in the Log", error=type(e).__name__)


def main_drain(svc: "Services", *, retry: str | None = None, list_only: bool = False) -> int:
    """`python main.py drain`: store what is due once; print what waits and the dead letters."""
    queue = svc.queue
    if not isinstance(queue, DrainedHere):
        print("KMC_QUEUE=cloudtasks: antrean dikelola Cloud Tasks. Lihat konsol Google Cloud > Cloud Tasks "
              "(docs/deploy.md); surat mati tercatat di tab Log dan email ringkasan harian.")
        return 0
    if retry:
        n = queue.retry(None if retry == "all" else retry)
        print(f"{n} surat mati dikembalikan ke antrean.")
    if not list_only:
        report = drain_all(svc, queue)
        print(f"Antrean: {report.summary()}.")
        if report.outage:
            print(f"  ! Penyimpanan tidak tersedia: {report.outage[:200]}")
    stats = queue.stats()
    now = svc.clock()
    old = stale(stats, now)
    print(f"Menunggu: {len(stats.waiting)} pesan ({len(old)} lebih dari {STALE_MINUTES} menit). "
          f"Surat mati: {len(stats.dead)}.")
    tz = svc.settings.tz
    for w in stats.waiting[:50]:
        late = " TERLAMBAT" if w in old else ""
        print(f"  menunggu  {w.ticket or '-':<18} {w.kind:<15} diterima {w.accepted_at.astimezone(tz):%d/%m %H:%M}"
              f"  percobaan {w.attempts}{late}{'  ' + w.error[:80] if w.error else ''}")
    for w in stats.dead:
        print(f"  MATI      {w.ticket or '-':<18} {w.kind:<15} diterima {w.accepted_at.astimezone(tz):%d/%m %H:%M}"
              f"  gagal {w.attempts}x: {w.error[:120]}")
        print(f"            coba lagi: python main.py drain --retry {w.ticket or w.key}")
    return 1 if stats.dead or old else 0
