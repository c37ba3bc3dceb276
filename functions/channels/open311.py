"""Open311 GeoReport v2 (`/open311/v2/...`): the machine door for other systems.

Endpoints (each as `.json` or `.xml`):
  GET  discovery            service discovery (the endpoint, its formats)
  GET  v2/services          one service per routing topic (functions/routing.py rules), grouped
                            by the OPD that answers it, plus `lainnya` (KMC's router decides)
  GET  v2/services/{code}   its definition: one optional attribute, `kecamatan` (the 20)
  POST v2/requests          create a case on channel Open311; needs `api_key` (KMC_OPEN311_KEYS)
  GET  v2/requests          standard filters; the newest 1000 of at most 90 days
  GET  v2/requests/{id}     one case (ticket numbers as citizens type them are accepted)

Privacy (UU 27/2022): no reporter name, phone, email or account ever leaves through GET.
Lists (`requests` without `service_request_id`) hold only cases that came in through Open311;
a case from another channel (WhatsApp, web form, monitoring) is returned only to whoever
names its ticket, and then without its text, address, media or the agency's answer
(`status_notes`, which may name the citizen or their street): its status, service, agency and
dates only. Guessing tickets is limited as on the status page: ids that find nothing spend
the client's budget shared with the status page (MISS_BURST per hour; then 429), and one GET
names at most MAX_IDS ids.

Status: `closed` once staff set Status to `Selesai` or `Bukan Wewenang` (the OPD is done with
it), else `open`. `expected_datetime` is the SLA deadline; `updated_datetime` is when the
agency responded (else when the case was received); `status_notes` is the agency's response.
Datetimes carry the WIB offset (`+07:00`).

A POST is put in the durable intake queue and answered at once with its `service_request_id`;
until the paced writer has stored it, GET of that id answers `open` with "Sedang dicatat". GETs
are served from a per-instance snapshot of the workbook (services/public_reads.py), never with
a Sheets request per client.

Errors follow the spec: `[{"code": 400, "description": "..."}]` (or `<errors>` in XML) with
HTTP 404 for what does not exist, 403 for a missing or wrong api_key and 400 otherwise. When the
intake queue is unavailable the POST answers HTTP 400 (the spec's "general service error") with body
code 503 and `Retry-After`: nothing was stored, the client should send it again. A client may
send an `Idempotency-Key` header with a POST so that a retry yields the same ticket; the same key
with a different body is refused (409), never answered with the first ticket. The api_key
comes from the `X-Api-Key` header or the POST body; one in the URL is refused (400).
"""
from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from typing import TYPE_CHECKING

from .. import tickets
from ..logs import log
from ..model import TRIAGE, Channel, Complaint, Contact, InvalidComplaint, StorageUnavailable
from ..services.accept import accept_complaint
from ..services.idempotency import KeyReused, claim_source_id
from ..services.public_reads import look_up, snapshot_of
from ..text import MAX_TEXT_CHARS, clean_line, clean_text, normalise_phone, valid_phone
from ..web import subpath
from .open311_format import (OPEN311_CHANNEL, Open311Error, Service, catalogue, definition_json, error_reply,
                             pending_json, reply, request_json, service_json, service_notice)
from .public_case import public_case
from .ratelimit import MISS_BURST, MISS_WINDOW_SECONDS, client_key, retry_minutes, shared_limiter

if TYPE_CHECKING:
    from ..services.context import Services

MOUNT = "/open311"
SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-28T00:00:00+07:00"  # bump when the service list changes shape
MAX_BODY_BYTES = 64 * 1024
MAX_REQUESTS = 1000
MAX_SPAN = timedelta(days=90)
MAX_IDS = 20  # service_request_id=ID,ID,...: ids per GET (a partner asks about its own few)
EARLIEST, LATEST = datetime(2000, 1, 1), datetime(2100, 1, 1)  # start_date/end_date accepted
API_KEY_HEADER = "X-Api-Key"
# -- the service list --------------------------------------------------------------------------

# -- rendering ---------------------------------------------------------------------------------

# -- entry point -------------------------------------------------------------------------------

_PATH = re.compile(r"^/(?:v2/)?(?P<resource>discovery|services|requests|tokens)"
                   r"(?:/(?P<ident>[^/]+?))?\.(?P<fmt>json|xml)$")

def handle_open311(request, svc: "Services"):
    path = subpath(request, MOUNT)
    match = _PATH.match(path)
    fmt = match.group("fmt") if match else ("xml" if path.endswith(".xml") else "json")
    try:
        if not match:
            raise Open311Error(404, "Sumber tidak ditemukan. Contoh: /open311/v2/services.json "
                                    "atau /open311/v2/requests.xml")
        resource, ident = match.group("resource"), match.group("ident")
        method = request.method.upper()
        allowed = {"GET", "HEAD"} | ({"POST"} if resource == "requests" and not ident else set())
        if method not in allowed:
            raise Open311Error(405, f"Metode {method} tidak didukung di sini.",
                               headers={"Allow": ", ".join(sorted(allowed))})
        if resource == "discovery" and not ident:
            return reply(discovery(request, svc), "discovery", fmt)
        if resource == "services" and not ident:
            return reply([service_json(s) for s in catalogue(svc)], "services", fmt)
        if resource == "services":
            return reply(definition_json(svc, _known_service(svc, ident)), "service_definition", fmt)
        if resource == "requests" and method == "POST":
            return reply(create_request(request, svc), "service_requests", fmt)
        if resource == "requests" and ident:
            return reply([get_request(svc, ident, _Misses(request, svc))], "service_requests", fmt)
        if resource == "requests":
            return reply(list_requests(request, svc), "service_requests", fmt)
        raise Open311Error(404, "Layanan ini memberi nomor permintaan seketika (type realtime); "
                                "tidak ada token.")
    except Open311Error as e:
        return error_reply(e, fmt)
    except StorageUnavailable as e:
        log("ERROR", "open311: storage unavailable", error=str(e))
        return error_reply(Open311Error(
            400, "Penyimpanan sedang tidak tersedia; tidak ada yang disimpan. Kirim ulang sebentar lagi.",
            code=503, headers={"Retry-After": "30"}), fmt)

def _known_service(svc: "Services", code: str) -> Service:
    for service in catalogue(svc):
        if service.code == code:
            return service
    raise Open311Error(404, f"service_code {code!r} tidak ditemukan.")

def discovery(request, svc: "Services") -> dict:
    path = request.path or "/"
    if path == MOUNT or path.startswith(MOUNT + "/"):
        base = request.host_url.rstrip("/") + MOUNT
    else:
        base = f"{svc.settings.public_url}{MOUNT}"
    return {
        "changeset": CHANGESET,
        "contact": "Ketapang Media Center (KMC), Pemerintah Kabupaten Ketapang. WhatsApp 0813-2838-3222.",
        "key_service": "api_key untuk POST diberikan oleh admin KMC (KMC_OPEN311_KEYS).",
        "endpoints": [{"specification": SPEC_URL, "url": f"{base}/v2", "changeset": CHANGESET,
                       "type": "production", "formats": ["text/xml", "application/json"]}],
    }

# -- POST requests -----------------------------------------------------------------------------

def _check_key(given: str, keys) -> int:
    """The index of the matching key (for logs), or raise 403."""
    if not keys:
        raise Open311Error(403, "POST belum diaktifkan: KMC_OPEN311_KEYS belum diatur.")
    if not given:
        raise Open311Error(403, "api_key wajib untuk membuat permintaan.")
    found = -1
    for index, key in enumerate(keys):
        if hmac.compare_digest(given.encode(), key.encode()):
            found = index
    if found < 0:
        raise Open311Error(403, "api_key tidak valid.")
    return found

def _float(value: str, name: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise Open311Error(400, f"{name} harus berupa angka (WGS84).") from None
    if not low <= number <= high:
        raise Open311Error(400, f"{name} di luar rentang {low:g}..{high:g}.")
    return number

def _form(request) -> dict[str, str]:
    from werkzeug.exceptions import RequestEntityTooLarge

    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise Open311Error(413, f"Permintaan terlalu besar (maksimal {MAX_BODY_BYTES // 1024} KB).")
    try:
        request.max_content_length = MAX_BODY_BYTES
    except AttributeError:
        pass
    try:
        form = request.form
    except RequestEntityTooLarge:
        raise Open311Error(413, f"Permintaan terlalu besar (maksimal {MAX_BODY_BYTES // 1024} KB).") from None
    return {k: form.get(k, "").strip() for k in form.keys()}

def _location(svc: "Services", form: dict[str, str]) -> tuple[str, str]:
    """(the Lokasi cell, a problem or ''): address, kecamatan and coordinates as given."""
    lat, long = form.get("lat", ""), form.get("long", "")
    if bool(lat) != bool(long):
        raise Open311Error(400, "lat dan long harus dikirim bersama.")
    address = clean_line(form.get("address_string", ""), 300)
    address_id = clean_line(form.get("address_id", ""), 100)
    if not (lat or address or address_id):
        raise Open311Error(400, "Lokasi wajib: kirim lat & long, address_string, atau address_id.")
    kecamatan = form.get("attribute[kecamatan]", "")
    if kecamatan and kecamatan not in {k.name for k in svc.schema.kecamatan}:
        raise Open311Error(400, f"attribute[kecamatan] {clean_line(kecamatan, 60)!r} bukan kecamatan di "
                                "Kabupaten Ketapang.")
    parts = [address or (f"ID alamat {address_id}" if address_id else ""),
             f"Kecamatan {kecamatan}" if kecamatan else ""]
    if lat:
        parts.append(f"({_float(lat, 'lat', -90, 90):.6f}, {_float(long, 'long', -180, 180):.6f})")
    return ", ".join(p for p in parts if p), address

def _media(form: dict[str, str]) -> str:
    url = form.get("media_url", "")
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or len(url) > 1000:
        raise Open311Error(400, "media_url harus berupa URL http(s).")
    return url

def _api_key(request, form: dict[str, str]) -> str:
    """The api_key from the `X-Api-Key` header or the POST body, never from the URL: a key in
    a query string lands in every access log on the way (the request is refused, nothing stored)."""
    if "api_key" in request.args:
        log("WARNING", "open311 api_key sent in the URL; refused")
        raise Open311Error(400, "api_key tidak boleh dikirim di URL (tercatat di log akses). Kirim di "
                                f"badan POST atau header {API_KEY_HEADER}, dan minta kunci baru ke admin KMC.")
    return request.headers.get(API_KEY_HEADER, "").strip() or form.get("api_key", "")

def _fingerprint(form: dict[str, str]) -> str:
    fields = sorted((k, v) for k, v in form.items() if k != "api_key")
    return hashlib.sha256(repr(fields).encode("utf-8", "surrogatepass")).hexdigest()[:24]

def _claim_idempotency(svc: "Services", key_index: int, idempotency: str, form: dict[str, str]) -> str:
    """The source id for this Idempotency-Key (services/idempotency.py); 409 when the key was
    used for another body."""
    try:
        return claim_source_id(svc, key_index, idempotency, _fingerprint(form))
    except KeyReused:
        raise Open311Error(409, "Idempotency-Key ini sudah dipakai untuk permintaan lain dengan isi "
                                "berbeda; tidak ada yang disimpan. Pakai kunci baru untuk aduan baru.") from None

def create_request(request, svc: "Services") -> list[dict]:
    form = _form(request)
    key_index = _check_key(_api_key(request, form), svc.settings.open311_keys)
    code = form.get("service_code", "")
    if not code:
        raise Open311Error(400, "service_code wajib diisi (lihat services.json).")
    service = _known_service(svc, code)
    location, address = _location(svc, form)
    description = form.get("description", "")
    if len(description) > MAX_TEXT_CHARS:
        raise Open311Error(400, f"description terlalu panjang (maksimal {MAX_TEXT_CHARS} karakter).")
    if not description.strip():
        if not service.opd:
            raise Open311Error(400, "description wajib untuk layanan 'lainnya'.")
        description = f"{service.name} di {address or location}"
    phone = form.get("phone", "")
    if phone and not valid_phone(phone):
        raise Open311Error(400, "phone bukan nomor HP Indonesia yang valid (08… atau +62…).")
    name = clean_line(f"{form.get('first_name', '')} {form.get('last_name', '')}", 100)
    contact = Contact(name=name, phone=normalise_phone(phone) if phone else "",
                      email=clean_line(form.get("email", ""), 200))
    idempotency = request.headers.get("Idempotency-Key", "").strip()[:200]
    source_id = _claim_idempotency(svc, key_index, idempotency, form) if idempotency else ""
    complaint = Complaint(text=description, channel=Channel.OPEN311, received_at=svc.now(), contact=contact,
                          source_id=source_id, location=location, link=_media(form),
                          opd=service.opd, category=service.topic)
    try:
        clean_text(description)  # refuse now what intake would refuse after the client has its id
    except InvalidComplaint as e:
        raise Open311Error(400, f"description: {e.message}") from None
    accepted = accept_complaint(svc, complaint)  # queued; the paced writer stores it
    log("INFO", "open311 request", ticket=accepted.ticket, key=key_index, service=service.code,
        created=accepted.new)
    return [{"service_request_id": accepted.ticket,
             "service_notice": service_notice(svc, service.opd or TRIAGE, accepted.deadline),
             "account_id": None}]

# -- GET requests ------------------------------------------------------------------------------

class _Misses:
    """The client's budget of look-ups that find nothing (shared with the status page)."""

    def __init__(self, request, svc: "Services"):
        self.client = client_key(request, svc.settings)
        self.limiter = shared_limiter(svc, "status-miss", MISS_BURST, MISS_WINDOW_SECONDS)

    def check(self) -> None:
        if not self.limiter.would_allow(self.client):
            self.refuse(self.limiter.take(self.client))

    def miss(self) -> None:
        wait = self.limiter.take(self.client)
        if wait:
            self.refuse(wait)

    @staticmethod
    def refuse(wait: float):
        log("WARNING", "open311 look-ups rate limited", retry_s=round(wait))
        raise Open311Error(429, "Terlalu banyak nomor tiket yang tidak ditemukan dari jaringan Anda. "
                                f"Coba lagi dalam {retry_minutes(wait)} menit.",
                           headers={"Retry-After": str(int(wait) + 1)})

def get_request(svc: "Services", ident: str, misses: "_Misses | None" = None) -> dict:
    if misses:
        misses.check()
    ticket = tickets.parse_ticket(ident, svc.settings.ticket_prefix)
    found = look_up(svc, ticket)  # StorageUnavailable only when the queue does not know it either
    stored = found.stored
    if stored is None and found.waiting_since is not None:
        return pending_json(ticket, found.waiting_since, svc.settings.tz)
    if stored is None:
        if misses:
            misses.miss()
        from .honeypot import recognise

        fake = recognise(svc, ticket) if ticket else None
        if fake is not None:  # the form's honeypot ticket: a caught bot must not learn it here either
            return request_json(svc, fake, None)
        raise Open311Error(404, f"service_request_id {clean_line(ident, 40)!r} tidak ditemukan.")
    return request_json(svc, public_case(stored, svc.schema, svc.settings.tz), stored)

def parse_w3(value: str, name: str, tz) -> datetime:
    """A W3C-profile ISO 8601 date or datetime; without an offset it is read as WIB."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Open311Error(400, f"{name} harus tanggal-waktu W3C, mis. 2026-11-01T00:00:00+07:00.") from None
    if not EARLIEST <= moment.replace(tzinfo=None) <= LATEST:
        raise Open311Error(400, f"{name} di luar rentang yang didukung ({EARLIEST.year}..{LATEST.year - 1}).")
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)

def _csv(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]

def list_requests(request, svc: "Services") -> list[dict]:
    args = request.args
    tz = svc.settings.tz
    ids = list(dict.fromkeys(_csv(args.get("service_request_id", ""))))
    if len(ids) > MAX_IDS:
        raise Open311Error(400, f"service_request_id paling banyak {MAX_IDS} nomor per permintaan.")
    misses = _Misses(request, svc) if ids else None
    if misses:
        misses.check()
    rows = [case for tab_rows in snapshot_of(svc).get().values() for case in tab_rows if case.ticket_id]
    if ids:  # "This overrides all other arguments."
        wanted = [tickets.parse_ticket(i, svc.settings.ticket_prefix) for i in ids]
        by_ticket = {s.ticket_id: s for s in rows}
        for _ in [t for t in dict.fromkeys(wanted) if t not in by_ticket]:
            misses.miss()
        found = [by_ticket[t] for t in dict.fromkeys(wanted) if t in by_ticket]
        return [request_json(svc, public_case(s, svc.schema, tz), s) for s in found][:MAX_REQUESTS]

    now = svc.now()
    start = parse_w3(args["start_date"], "start_date", tz) if args.get("start_date") else None
    end = parse_w3(args["end_date"], "end_date", tz) if args.get("end_date") else None
    if start and end and end < start:
        raise Open311Error(400, "end_date lebih awal dari start_date.")
    if start and end and end - start > MAX_SPAN:
        raise Open311Error(400, "Rentang start_date..end_date paling lama 90 hari.")
    if start is None and end is None:
        end = now
    if start is None:
        start = end - MAX_SPAN
    if end is None:
        end = start + MAX_SPAN
    statuses = {s.lower() for s in _csv(args.get("status", ""))}
    if statuses - {"open", "closed"}:
        raise Open311Error(400, "status hanya boleh open, closed, atau keduanya (dipisah koma).")
    codes = set(_csv(args.get("service_code", "")))

    result = []
    for stored in rows:
        case = public_case(stored, svc.schema, tz)
        if case.channel != OPEN311_CHANNEL or case.received_at is None:
            continue
        if not start <= case.received_at <= end:
            continue
        if statuses and ("closed" if case.closed else "open") not in statuses:
            continue
        view = request_json(svc, case, stored)
        if codes and view["service_code"] not in codes:
            continue
        result.append((case.received_at, view))
    result.sort(key=lambda item: item[0], reverse=True)  # newest first, then the limit
    return [view for _, view in result[:MAX_REQUESTS]]
