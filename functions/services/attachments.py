"""The intake worker's media step: keep what a citizen attached, privately, and say so in the row.

Runs in the worker only (never in a door). For each media reference of a message
(`image:<WhatsApp media id>`, `audio:<Messenger URL>`, ...): download it with bounded retries,
check its size and its real type from the bytes, re-encode images without EXIF (offering the
photo's GPS position as the location when the citizen gave none), store it under
`kasus/<year>/<ticket>-<n>.<ext>` in the media store, transcribe a voice note when a transcriber
is configured, and rewrite the message: the Tautan references become links staff can open, the
text says what is attached (`[foto 1 dari 2]`, `[pesan suara 0:42]`, `[transkrip otomatis] ...`).
What cannot be kept (an expired Meta URL, an oversized file, bytes that are not what the message
says) is named in the text and recorded for the digest's system notes; the case is stored anyway.

`forget_media` and `MediaArchiver` extend `forget` and `archive` to the files.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

from ..attachments.port import Fetched, FetchFailed, TooLongToTranscribe, TranscriptionFailed, too_large
from ..attachments.sniff import FAMILY_OF_KIND, clock_text, opus_seconds, sniff
from ..logs import log
from ..model import Channel

if TYPE_CHECKING:
    from .context import Services

# One download at a time per process: the worker instance takes 10 jobs at once, and a 100 MB
# document is held in memory while it is checked and uploaded (deploy.sh gives `intake` 512Mi).
ONE_FILE_AT_A_TIME = threading.Lock()
VOICE_PLACEHOLDER = "[pesan suara]"
AUTO_MARK = "[transkrip otomatis]"
ERASED_MEDIA = "[lampiran dihapus atas permintaan pelapor (UU 27/2022)]"
LABEL = {"image": "foto", "sticker": "stiker", "video": "video", "audio": "pesan suara", "document": "dokumen",
         "file": "berkas"}


@dataclass
class MediaKit:
    """What the composition root gives the media step."""
    store: Any  # functions/media_store/port.MediaStore
    fetch: Callable[[str, int], Fetched] | None  # None: downloads are off (local, no Meta token)
    transcribe: Callable[[bytes, str], str] | None  # (note, stored name) -> text; None: untranscribed
    limits: dict[str, int] = field(default_factory=dict)  # family -> bytes


def kit_of(svc: "Services") -> MediaKit | None:
    make = svc.attachments
    return make() if make is not None else None


@dataclass
class Problem:
    ref: str
    label: str
    reason: str


@dataclass
class Prepared:
    msg: Any  # the Inbound, rewritten
    problems: list[Problem] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)  # object names


def parse_ref(ref: str) -> tuple[str, str, str]:
    """`document:123 (surat.pdf)` -> ("document", "123", "surat.pdf")."""
    kind, _, rest = ref.partition(":")
    value, filename = rest.strip(), ""
    if value.endswith(")") and " (" in value:
        value, _, filename = value.partition(" (")
        filename = filename[:-1]
    return kind.strip().lower(), value.strip(), filename.strip()


def prepare_inbound(svc: "Services", msg, ticket: str) -> Prepared:
    """Download, check, clean and store the message's media; the message rewritten to point at it."""
    kit = kit_of(svc)
    if kit is None or kit.fetch is None or not msg.media:
        return Prepared(msg)
    refs = [parse_ref(r) for r in msg.media]
    total = {k: sum(1 for r in refs if r[0] == k) for k in {r[0] for r in refs}}  # per kind, for "1 dari 2"
    seen: dict[str, int] = {}
    links, notes, problems, stored = [], [], [], []
    location = msg.location
    year = msg.sent_at.year
    whatsapp = msg.channel == Channel.WHATSAPP
    for index, (kind, value, filename) in enumerate(refs, 1):
        if kind not in FAMILY_OF_KIND or not (value.startswith("https://") or (whatsapp and value.isdigit())):
            links.append(msg.media[index - 1])  # a shared post, a reel, a Messenger sticker id: kept as is
            continue
        seen[kind] = seen.get(kind, 0) + 1
        label = LABEL.get(kind, "berkas")
        numbered = f"{label} {seen[kind]} dari {total[kind]}" if total[kind] > 1 else label
        try:
            with ONE_FILE_AT_A_TIME:  # bounded memory: Cloud Tasks runs 10 jobs in one instance
                item = _fetch_checked(kit, kind, value)
        except FetchFailed as e:
            kept = _kept_before(kit, f"kasus/{year}/{ticket}-{index}", FAMILY_OF_KIND[kind])
            if kept:  # a retried job: the first attempt stored it before the link expired
                links.append(kit.store.url(kept))
                notes.append(f"[{numbered}]")
                continue
            links.append(msg.media[index - 1])
            notes.append(f"[{numbered} tidak dapat disimpan: {e.reason}]")
            problems.append(Problem(msg.media[index - 1], numbered, e.reason))
            log("WARNING", "media item not kept", kind=kind, code=e.code, message_id=msg.message_id)
            continue
        name = f"kasus/{year}/{ticket}-{index}.{item.ext}"
        kit.store.put(name, item.data, item.mime)  # MediaUnavailable (a StorageUnavailable): the job waits
        stored.append(name)
        links.append(kit.store.url(name))
        if item.family == "audio":
            notes += _voice_lines(kit, item, numbered, name)
        elif kind == "document" and filename:
            notes.append(f"[{numbered}: {filename}]")
        else:
            notes.append(f"[{numbered}]")
        if item.gps and not location:
            location = f"{item.gps[0]}, {item.gps[1]} (posisi dari foto)"
    text = msg.text if msg.text.strip() != VOICE_PLACEHOLDER else ""
    new_text = "\n".join(p for p in [text.strip(), *notes] if p)
    link_extra = [msg.link] if msg.link else []
    changes: dict = {"text": new_text, "media": tuple(links)}
    if location != msg.location:
        changes["location"] = location
        lat_lng = location.split(" (")[0].replace(" ", "")
        link_extra.append(f"https://maps.google.com/?q={lat_lng}")
        changes["link"] = "\n".join(link_extra)
    return Prepared(replace(msg, **changes), problems, stored)


@dataclass
class _Item:
    family: str
    data: bytes
    mime: str
    ext: str
    gps: tuple[float, float] | None = None
    seconds: float | None = None


def _fetch_checked(kit: MediaKit, kind: str, value: str) -> _Item:
    family = FAMILY_OF_KIND.get(kind, "document")
    limit = kit.limits.get(family, 16 * 1024 * 1024)
    got = kit.fetch(value, limit)
    if len(got.data) > limit:
        raise too_large(len(got.data), limit)
    found = sniff(got.data)
    if found is None or not _compatible(family, found.family):
        what = found.mime if found else "tidak dikenal"
        raise FetchFailed("mismatch", f"isi berkas ({what}) tidak sesuai jenis {LABEL.get(kind, kind)}")
    if found.family == "image":
        from ..attachments.images import BadImage, clean_image

        try:
            clean = clean_image(got.data)
        except BadImage as e:
            raise FetchFailed("mismatch", "gambar rusak atau tidak dapat dibaca") from e
        return _Item("image", clean.data, clean.mime, clean.ext, gps=clean.gps)
    seconds = opus_seconds(got.data) if found.ext == "ogg" else None
    return _Item(found.family, got.data, found.mime, found.ext, seconds=seconds)


EXTENSIONS = {"image": ("jpg", "png"), "audio": ("ogg", "oga", "amr", "mp3", "m4a", "mp4"), "video": ("mp4", "3gp"),
              "document": ("pdf", "docx", "xlsx", "pptx", "doc", "zip", "txt", "jpg", "png", "ogg", "mp4")}


def _kept_before(kit: MediaKit, stem: str, family: str) -> str | None:
    """The object an earlier attempt of the same job stored, if any (only asked after a failure)."""
    return next((f"{stem}.{ext}" for ext in EXTENSIONS[family] if kit.store.exists(f"{stem}.{ext}")), None)


def _compatible(declared: str, actual: str) -> bool:
    """A document may be any kind of file; an MP4 voice note may look like a video container."""
    return declared == "document" or declared == actual or (declared == "audio" and actual == "video")


def _voice_lines(kit: MediaKit, item: _Item, numbered: str, name: str) -> list[str]:
    head = f"[{numbered} {clock_text(item.seconds)}]" if item.seconds is not None else f"[{numbered}]"
    if kit.transcribe is None:
        return [head, "[belum ditranskripsi; dengarkan pesan suara di kolom Tautan]"]
    if item.ext != "ogg" or item.seconds is None:
        return [head, "[tidak ditranskripsi otomatis (bukan Ogg/Opus); dengarkan pesan suara di kolom Tautan]"]
    try:
        transcript = kit.transcribe(item.data, name)
    except TooLongToTranscribe:
        return [head, "[tidak ditranskripsi otomatis (terlalu panjang); dengarkan pesan suara di kolom Tautan]"]
    except TranscriptionFailed as e:
        log("WARNING", "voice note not transcribed", error=str(e)[:200])
        return [head, "[transkrip otomatis gagal; dengarkan pesan suara di kolom Tautan]"]
    if not transcript:
        return [head, f"{AUTO_MARK} (tidak ada ucapan yang dikenali)"]
    return [head, f"{AUTO_MARK} {transcript}"]


def record_problems(svc: "Services", message_id: str, ticket: str, problems: list[Problem]) -> None:
    """One Log `problem` entry per item that could not be kept: the next digest lists it."""
    from ..journal import PROBLEM, LogEntry, attachment_problem_key

    for i, p in enumerate(problems, 1):
        text = (f"Lampiran ({p.label}) pada tiket {ticket or '-'} tidak dapat disimpan: {p.reason}. "
                f"Minta warga mengirim ulang bila diperlukan.")
        try:
            svc.workbook.log_add(LogEntry(PROBLEM, attachment_problem_key(message_id, i), svc.now(), text))
        except Exception as e:  # noqa: BLE001 - the row already says it; the note is best effort
            log("ERROR", "media problem could not be recorded", error=type(e).__name__)


# -- forget and archive -----------------------------------------------------------------------

def media_names(store, link_cell: str) -> list[str]:
    return [n for n in (store.name_of(line) for line in str(link_cell or "").split("\n")) if n]


def forget_case_media(svc: "Services", tickets: list[str]) -> int:
    """`forget`: delete the files linked from each ticket's row (live workbook or its year's
    archive) and say so in the Tautan cell; returns how many files were deleted."""
    from ..stores.port import CellUpdate
    from ..archives import existing_archives
    from .archive import ticket_year

    kit = kit_of(svc)
    if kit is None:
        return 0
    deleted = 0
    for ticket in tickets:
        book = svc.workbook
        case = book.find(ticket)
        if case is None and ticket_year(ticket) is not None:
            book = existing_archives(svc)(ticket_year(ticket))
            case = book.find(ticket) if book is not None else None
        if case is None:
            continue
        link = case.link
        names = media_names(kit.store, link)
        if not names:
            continue
        for name in names:
            deleted += bool(kit.store.delete(name))
        kept = [line for line in link.split("\n") if line.strip() and kit.store.name_of(line) is None]
        book.update([CellUpdate(ticket, {"link": "\n".join([*kept, ERASED_MEDIA])}, case.tab)])
    return deleted


class MediaArchiver:
    """`archive` moves a case's files from kasus/ to arsip/ with the case: copied (and the row's
    links rewritten) before the row goes to the archive, originals deleted only after the live
    rows are gone, so an interrupted run never leaves a link to nothing."""

    def __init__(self, kit: MediaKit | None):
        self.kit = kit
        self.originals: list[str] = []

    def relabel(self, case) -> dict:
        """The case's row as it goes to the archive (a `Case` in, the cells out)."""
        row = case.row
        if self.kit is None:
            return row
        store = self.kit.store
        lines = case.link.split("\n")
        changed = False
        for i, line in enumerate(lines):
            name = store.name_of(line)
            if name and name.startswith("kasus/"):
                new = "arsip/" + name[len("kasus/"):]
                if not store.exists(new):
                    store.copy(name, new)
                self.originals.append(name)
                lines[i] = store.url(new)
                changed = True
        return {**row, "link": "\n".join(lines)} if changed else row

    def finish(self) -> int:
        deleted = 0
        if self.kit is not None:
            for name in self.originals:
                deleted += bool(self.kit.store.delete(name))
        self.originals = []
        return deleted


# -- photos from the web form -----------------------------------------------------------------------

UPLOAD_PREFIX = "unggahan:"  # a Tautan line naming a web-form photo waiting in masuk/
FORM_MAX_PHOTOS = 3
FORM_PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp"}


def check_form_photo(data: bytes, limit: int) -> str:
    """The door's quick check of one uploaded photo: '' when fine, else the Indonesian reason.
    Decoding and stripping happen in the worker."""
    if len(data) > limit:
        return f"terlalu besar ({len(data) / (1024 * 1024):.1f} MB; paling besar {limit // (1024 * 1024)} MB)"
    found = sniff(data)
    if found is None or found.mime not in FORM_PHOTO_TYPES:
        return "bukan foto JPG, PNG atau WebP"
    return ""


def queue_form_photos(svc: "Services", photos: list[bytes], token: str, year: int) -> list[str]:
    """Keep the raw uploads durably (masuk/, private) before the door answers; returns the Tautan
    lines the queued complaint carries. Raises StorageUnavailable when the store is down."""
    kit = kit_of(svc)
    lines = []
    for n, data in enumerate(photos, 1):
        name = f"masuk/{year}/{token}-{n}"
        kit.store.put(name, data, sniff(data).mime)
        lines.append(f"{UPLOAD_PREFIX}{name}")
    return lines


def prepare_complaint(svc: "Services", complaint, ticket: str):
    """The worker's half for web-form photos: strip each waiting upload, store it with the case,
    say so in the text; the GPS position of a photo is the location only when none was given.
    Idempotent: a retried job finds the case's file already there."""
    ups = [line[len(UPLOAD_PREFIX):] for line in complaint.link.split("\n") if line.startswith(UPLOAD_PREFIX)]
    kit = kit_of(svc)
    if not ups or kit is None:
        return complaint
    from ..attachments.images import BadImage, clean_image

    links = [line for line in complaint.link.split("\n") if line.strip() and not line.startswith(UPLOAD_PREFIX)]
    notes, location = [], complaint.location
    year = complaint.received_at.year
    for n, raw_name in enumerate(ups, 1):
        label = f"foto {n} dari {len(ups)}" if len(ups) > 1 else "foto"
        done = [f"kasus/{year}/{ticket}-{n}.{ext}" for ext in ("jpg", "png")]
        found = kit.store.get(raw_name)
        if found is None:
            existing = next((d for d in done if kit.store.exists(d)), None)
            if existing:
                links.append(kit.store.url(existing))
                notes.append(f"[{label}]")
            else:
                notes.append(f"[{label} tidak dapat disimpan: unggahan tidak ditemukan]")
            continue
        try:
            clean = clean_image(found[0])
        except BadImage:
            notes.append(f"[{label} tidak dapat disimpan: gambar rusak atau tidak dapat dibaca]")
            kit.store.delete(raw_name)
            continue
        name = f"kasus/{year}/{ticket}-{n}.{clean.ext}"
        kit.store.put(name, clean.data, clean.mime)
        kit.store.delete(raw_name)
        links.append(kit.store.url(name))
        notes.append(f"[{label}]")
        if clean.gps and not location:
            location = f"{clean.gps[0]}, {clean.gps[1]} (posisi dari foto)"
    return replace(complaint, text="\n".join([complaint.text, *notes]), link="\n".join(links), location=location)
