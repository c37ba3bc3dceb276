"""The citizen complaint form (`/form`) and the public status page (`/form/status`).

Plain HTML forms rendered on the server (Jinja2, no JavaScript, tiny inline CSS), so the page
works on a cheap phone over a slow connection. POST validates, puts the complaint in the durable intake
queue and answers with the ticket at once (the status page says "sedang dicatat" until the
paced writer has stored it); mistakes re-show the form with what the citizen typed and the
message next to the field. Abuse guards: a honeypot field, a per-client rate limit, a body size
cap and a session-less CSRF token (functions/channels/csrf.py). A hidden idempotency key,
created when the form is shown, becomes the complaint's source id, so a double click or a
retry after a timeout yields the same ticket.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from .. import tickets
from ..logs import log
from ..model import Channel, Complaint, Contact, InvalidComplaint, StorageUnavailable, TRIAGE
from ..services.accept import accept_complaint
from ..services.attachments import FORM_MAX_PHOTOS
from ..services.public_reads import look_up
from ..text import MAX_TEXT_CHARS, clean_line, clean_text, normalise_phone, thousands, valid_phone
from ..web import PAGE_HEADERS, subpath
from . import csrf, honeypot
from .public_case import format_wib, public_case, sla_phrase
from .ratelimit import MISS_BURST, MISS_WINDOW_SECONDS, RateLimiter, client_key, retry_minutes, shared_limiter

if TYPE_CHECKING:
    from ..services.context import Services

MOUNT = "/form"
TEMPLATES = Path(__file__).resolve().parent / "form_templates"

MAX_BODY_BYTES = 64 * 1024  # 4,000 characters percent-encoded as UTF-8 stay well below this
MIN_TEXT_CHARS = 10
MAX_NAME_CHARS = 100
MAX_PLACE_CHARS = 200
# Posts per client address: a burst of 10, then one every 6 minutes (CGNAT puts many
# citizens behind one address, so this stays generous).
SUBMIT_BURST, SUBMIT_WINDOW_SECONDS = 10, 3600
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

SECURITY_HEADERS = PAGE_HEADERS


@cache
def _env():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True)


@dataclass
class Page:
    """One HTML reply: template, context, status and extra headers."""

    template: str
    status: int = 200
    context: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)


# -- entry point -------------------------------------------------------------------------------

def handle_form(request, svc: "Services"):
    """GET the form, POST a complaint, GET /status?tiket=…; everything else is a friendly 404/405."""
    view = _View(request, svc)
    path = subpath(request, MOUNT)
    method = request.method.upper()
    if path == "/":
        if method in {"GET", "HEAD"}:
            return view.render(view.form_page())
        if method == "POST":
            return view.render(view.submit())
        return view.render(view.error(405, "Metode tidak didukung", "Gunakan formulir di halaman ini."))
    if path == "/status":
        if method in {"GET", "HEAD"}:
            return view.render(view.status())
        return view.render(view.error(405, "Metode tidak didukung", "Gunakan formulir cek status."))
    return view.render(view.error(404, "Halaman tidak ditemukan",
                                  "Alamat yang Anda buka tidak ada. Silakan mulai dari formulir aduan."))


def limiter(svc: "Services", name: str, burst: int, window: float) -> RateLimiter:
    """The instance's limiter (kept with the services so each app/test has its own)."""
    return shared_limiter(svc, name, burst, window)


class _View:
    def __init__(self, request, svc: "Services"):
        self.request = request
        self.svc = svc
        self.settings = svc.settings
        self.base = _base(request, svc.settings)
        self.key = csrf.form_key(svc.settings)
        self.issued: csrf.Issued | None = None

    # -- rendering -----------------------------------------------------------------------
    def render(self, page: Page):
        ctx = {
            "action": self.base,
            "status_url": f"{self.base}/status",
            "example_ticket": tickets.make_ticket(self.settings.ticket_prefix, self.svc.now(), "contoh"),
            "sla": sla_phrase(self.settings.sla_hours),
            "fmt": lambda moment: format_wib(moment, self.settings.tz),
            **page.context,
        }
        body = _env().get_template(page.template).render(**ctx)
        headers = {**SECURITY_HEADERS, **page.headers}
        if self.issued is not None:
            headers["Set-Cookie"] = self._cookie(self.issued.nonce)
        if self.request.method.upper() == "HEAD":
            body = ""
        return body, page.status, headers

    def _cookie(self, nonce: str) -> str:
        from werkzeug.http import dump_cookie

        secure = self.request.is_secure or self.request.headers.get("X-Forwarded-Proto", "") == "https"
        return dump_cookie(csrf.COOKIE, nonce, max_age=csrf.MAX_AGE_SECONDS, path="/", secure=secure,
                           httponly=True, samesite="Strict")

    def error(self, status: int, title: str, text: str) -> Page:
        return Page("error.html", status, {"title": title, "text": text})

    def form_page(self, values: dict | None = None, errors: dict | None = None, alert: dict | None = None,
                  status: int = 200, headers: dict | None = None) -> Page:
        """The form; a fresh CSRF token, and a fresh idempotency key unless re-showing one."""
        values = dict(values or {})
        if not _KEY.match(values.get("kunci", "")):
            values["kunci"] = secrets.token_urlsafe(18)
        self.issued = csrf.issue(self.key, self.svc.now(), self.request.cookies.get(csrf.COOKIE, ""))
        context = {
            "values": {k: values.get(k, "") for k in ("isi", "kecamatan", "desa", "nama", "telepon",
                                                       "anonim", "setuju", "kunci")},
            "errors": errors or {},
            "alert": alert,
            "csrf": self.issued.token,
            "kecamatan": [k.name for k in self.svc.schema.kecamatan],
            "min_text": MIN_TEXT_CHARS,
            "max_text": MAX_TEXT_CHARS,
            "max_name": MAX_NAME_CHARS,
            "max_place": MAX_PLACE_CHARS,
            "max_photos": FORM_MAX_PHOTOS,
            "max_photo_mb": self.photo_limit // (1024 * 1024),
            "robots": "index" if not errors and not alert else "noindex",
        }
        return Page("form.html", status, context, headers or {})

    # -- POST ----------------------------------------------------------------------------
    @property
    def photo_limit(self) -> int:
        return int(self.settings.media_limits.get("image", 5 * 1024 * 1024))

    def submit(self) -> Page:
        multipart = (self.request.mimetype or "") == "multipart/form-data"
        photos_hint = (f" Foto: paling banyak {FORM_MAX_PHOTOS}, masing-masing paling besar "
                       f"{self.photo_limit // (1024 * 1024)} MB." if multipart else "")
        too_big = self.error(413, "Kiriman terlalu besar",
                             "Aduan Anda terlalu panjang untuk dikirim. Tekan tombol Kembali di peramban, "
                             f"persingkat isi aduan (paling banyak {thousands(MAX_TEXT_CHARS)} karakter), "
                             "lalu kirim lagi." + photos_hint)
        max_body = MAX_BODY_BYTES + FORM_MAX_PHOTOS * (self.photo_limit + 4096) if multipart else MAX_BODY_BYTES
        if (self.request.content_length or 0) > max_body:
            return too_big
        values = _read_form(self.request, max_body)
        if values is None:
            return too_big
        refused = self._refused(values)
        if refused is not None:
            return refused
        errors, complaint = self._complaint(values)
        photos, photo_error = _read_photos(self.request, self.photo_limit)
        if photo_error:
            errors["foto"] = photo_error
        elif photos and errors:
            errors["foto"] = "Pilih ulang foto Anda: foto belum terkirim karena ada isian lain yang perlu diperbaiki."
        if errors:
            return self.form_page(values, errors, status=422)
        return self._accept(values, complaint, photos)

    def _refused(self, values: dict) -> Page | None:
        """The answer when this submission must not be stored (rate limit, a bot, a stale token)."""
        client = client_key(self.request, self.settings)
        wait = limiter(self.svc, "form-submit", SUBMIT_BURST, SUBMIT_WINDOW_SECONDS).take(client)
        if wait:
            log("WARNING", "web form rate limited", retry_s=round(wait))
            return self.form_page(values, alert={
                "title": "Terlalu banyak kiriman",
                "text": f"Terlalu banyak aduan dikirim dari jaringan Anda. Aduan Anda belum tersimpan; "
                        f"coba lagi dalam {retry_minutes(wait)} menit. Isian Anda tetap ada di bawah.",
            }, status=429, headers={"Retry-After": str(int(wait) + 1)})
        if values.get("website", "").strip():
            return self._honeypot()
        problem = csrf.verify(
            self.key, values.get("csrf", ""), self.svc.now(),
            cookie=self.request.cookies.get(csrf.COOKIE, ""),
            origin_ok=csrf.same_origin(self.request.headers.get("Origin", ""), self.request.host,
                                       self.settings.public_url),
        )
        if problem:
            log("WARNING", "web form token rejected", reason=problem)
            return self.form_page(values, alert={
                "title": "Formulir perlu dikirim ulang",
                "text": "Formulir ini sudah kedaluwarsa atau tidak dapat diverifikasi, jadi aduan Anda belum "
                        "tersimpan. Periksa isian Anda di bawah, lalu tekan Kirim Aduan sekali lagi.",
            }, status=403)
        return None

    def _accept(self, values: dict, complaint: Complaint, photos) -> Page:
        """Queue the valid complaint (its photos kept privately first) and confirm its ticket."""
        try:
            if photos:  # kept privately before we answer; the worker strips and files them
                from ..services.attachments import queue_form_photos

                token = hashlib.sha256((complaint.source_id or secrets.token_urlsafe(16)).encode()).hexdigest()[:24]
                lines = queue_form_photos(self.svc, photos, token, complaint.received_at.year)
                complaint = replace(complaint, link="\n".join(lines))
            accepted = accept_complaint(self.svc, complaint)  # queued; the paced writer stores it
        except StorageUnavailable as e:
            log("ERROR", "web form: storage unavailable", error=str(e))
            return self.form_page(values, alert={
                "title": "Aduan belum tersimpan — coba lagi",
                "text": "Maaf, sistem penyimpanan sedang sibuk sehingga aduan Anda belum tersimpan. "
                        "Isian Anda masih ada di bawah: tunggu sebentar, lalu tekan Kirim Aduan lagi.",
            }, status=503, headers={"Retry-After": "30"})
        return self.confirmation(accepted.ticket, "", accepted.deadline)

    def _complaint(self, values: dict) -> tuple[dict, Complaint | None]:
        errors: dict[str, str] = {}
        text = ""
        try:
            text = clean_text(values.get("isi", ""), max_chars=MAX_TEXT_CHARS, field="isi")
            if len(text) < MIN_TEXT_CHARS:
                errors["isi"] = (f"Isi aduan terlalu singkat. Jelaskan masalahnya "
                                 f"(paling sedikit {MIN_TEXT_CHARS} karakter).")
        except InvalidComplaint as e:
            errors["isi"] = e.message
        kecamatan = values.get("kecamatan", "").strip()
        known = {k.name for k in self.svc.schema.kecamatan}
        if kecamatan and kecamatan not in known:
            errors["kecamatan"] = "Pilih kecamatan dari daftar."
        place = clean_line(values.get("desa", ""), 10 * MAX_PLACE_CHARS)
        if len(place) > MAX_PLACE_CHARS:
            errors["desa"] = f"Alamat terlalu panjang. Paling banyak {MAX_PLACE_CHARS} karakter."
        name = clean_line(values.get("nama", ""), 10 * MAX_NAME_CHARS)
        if len(name) > MAX_NAME_CHARS:
            errors["nama"] = f"Nama terlalu panjang. Paling banyak {MAX_NAME_CHARS} karakter."
        phone = values.get("telepon", "").strip()
        if phone and not valid_phone(phone):
            errors["telepon"] = ("Nomor HP tidak valid. Tulis nomor Indonesia yang diawali 08 atau +62, "
                                 "misalnya 0813 2838 3222, atau kosongkan.")
        if not values.get("setuju"):
            errors["setuju"] = "Centang persetujuan pemberitahuan privasi agar aduan dapat kami proses."
        if errors:
            return errors, None
        key = values.get("kunci", "")
        # The key plus the text: a double click or a retry gives the same ticket, while a
        # citizen who goes back, edits and sends a different complaint gets a new one.
        source_id = (f"web:{key}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"
                     if _KEY.match(key) else "")
        location = ", ".join(p for p in (place, kecamatan and f"Kecamatan {kecamatan}") if p)
        contact = Contact(name=name, phone=normalise_phone(phone) if phone else "",
                          anonymous=bool(values.get("anonim")))
        return {}, Complaint(text=text, channel=Channel.WEB_FORM, received_at=self.svc.now(),
                             contact=contact, source_id=source_id, location=location)

    def _honeypot(self) -> Page:
        """Looks like success to the bot; nothing is stored."""
        log("WARNING", "web form honeypot filled; nothing stored")
        now = self.svc.now()
        fake = honeypot.fake_ticket(self.key, self.settings.ticket_prefix, now)
        return self.confirmation(fake, "", now + timedelta(hours=self.settings.sla_hours))

    def confirmation(self, ticket: str, opd: str, deadline) -> Page:
        """The ticket at once; the OPD is named once the case is stored (`opd` "" = not yet)."""
        try:
            agency = self.svc.schema.opd(opd).name if opd else ""
        except KeyError:
            agency = opd
        return Page("confirmation.html", 200, {
            "ticket": ticket,
            "agency": agency,
            "deadline": format_wib(deadline, self.settings.tz),
            "in_triage": opd == TRIAGE,
            "outside": opd == "LUAR_PEMDA",
            "status_link": f"{self.base}/status?tiket={ticket}",
        })

    # -- status page ---------------------------------------------------------------------
    def status(self) -> Page:
        typed = clean_line(self.request.args.get("tiket", ""), 40)
        if not typed:
            return Page("status.html", 200, {"case": None, "typed": ""})
        ticket = tickets.parse_ticket(typed, self.settings.ticket_prefix)
        client = client_key(self.request, self.settings)
        misses = limiter(self.svc, "status-miss", MISS_BURST, MISS_WINDOW_SECONDS)
        if not misses.would_allow(client):
            return self.error(429, "Terlalu banyak percobaan",
                              "Terlalu banyak nomor tiket yang tidak ditemukan dari jaringan Anda. "
                              "Coba lagi nanti.")
        try:
            found = look_up(self.svc, ticket)  # the queue, the snapshot, the yearly archive
        except StorageUnavailable as e:  # and the queue does not know it either
            log("ERROR", "status page: storage unavailable", error=str(e))
            return self.error(503, "Coba lagi sebentar lagi",
                              "Maaf, data aduan sedang tidak dapat dibaca. Silakan coba lagi beberapa saat lagi.")
        stored, since = found.stored, found.waiting_since
        if stored is None and since is not None:
            return Page("status.html", 200, {"case": None, "typed": "",
                                             "pending": {"ticket": ticket, "accepted_at": since}})
        if stored is None:
            misses.take(client)
            fake = honeypot.issued_at(self.key, ticket, self.settings.tz) if ticket else None
            if fake is None:
                return Page("status.html", 404, {"case": None, "typed": typed})
            case = honeypot.fake_case(self.svc, ticket, fake)  # a caught bot must not learn it was caught
            return Page("status.html", 200, {"case": case, "typed": ""})
        case = public_case(stored, self.svc.schema, self.settings.tz)
        return Page("status.html", 200, {"case": case, "typed": ""})


def _base(request, settings) -> str:
    """Where the form lives as the browser sees it: `/form` under `serve` (or a proxy keeping
    the path), else the function's public URL (in the cloud the path arrives without it)."""
    path = request.path or "/"
    if path == MOUNT or path.startswith(MOUNT + "/"):
        return (request.script_root or "") + MOUNT
    return f"{settings.public_url}{MOUNT}"


def _read_photos(request, limit: int) -> tuple[list[bytes], str]:
    """The photos attached (empty file fields skipped), or an Indonesian reason to refuse them."""
    from ..services.attachments import check_form_photo

    files = [f for f in request.files.getlist("foto") if f and f.filename]
    if len(files) > FORM_MAX_PHOTOS:
        return [], f"Paling banyak {FORM_MAX_PHOTOS} foto."
    photos = []
    for n, upload in enumerate(files, 1):
        data = upload.stream.read(limit + 1)
        if not data:
            continue
        problem = check_form_photo(data, limit)
        if problem:
            return [], f"Foto ke-{n} {problem}. Pilih foto lain atau kirim tanpa foto."
        photos.append(data)
    return photos, ""


def _read_form(request, max_bytes: int = MAX_BODY_BYTES) -> dict | None:
    """The posted fields (first value of each), or None when the body exceeds the cap."""
    from werkzeug.exceptions import RequestEntityTooLarge

    try:
        request.max_content_length = max_bytes  # Flask >= 3.1: per-request limit
        request.max_form_memory_size = MAX_BODY_BYTES  # the text fields of a multipart body
    except AttributeError:
        pass
    try:
        form = request.form
    except RequestEntityTooLarge:
        return None
    return {k: form.get(k, "") for k in form.keys()}
