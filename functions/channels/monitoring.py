"""`/monitoring`: KMC staff log a social-media post they found (the `monitoring_intake` target).

GET   a small Indonesian page (works on a phone) with the admin-token field and the form.
POST  JSON or form fields: platform, url, handle, text, observed_at (optional, naive = WIB),
      sentiment (optional: staff judgement overrides the detector). Auth: bearer KMC_ADMIN_TOKEN,
      or the `token` field of the page's form.

The door validates, queues the finding and answers 202 with its ticket; the paced writer
(services/intake_worker.py) judges and stores it. The post is judged like a news item (same detector and threshold, same router) and stored on
channel "Media Sosial" with the URL as its source id; a negative post alerts the OPD head at
once (email, and WhatsApp where the Kontak OPD directory has a number); the reply says to
whom and how it went. `/monitoring/riwayat` lists, for each finding, who was alerted, how and
when (admin token). The same URL logged again (any day, any spelling of the URL) returns the existing ticket:
the canonical URL -> ticket is kept in the Log (kind "monitoring-url").
"""
from __future__ import annotations

import hashlib
import hmac
import html
from datetime import datetime, timedelta

from ..logs import log
from ..model import Channel, Complaint, Contact, InvalidComplaint, Sentiment, StorageUnavailable
from ..stores.port import LogEntry
from ..text import MAX_TEXT_CHARS, clean_line, clean_text
from ..web import PAGE_HEADERS, bearer_ok, error_reply, json_reply, load_json, subpath
from ..feeds.parse import canonical_url

MOUNT = "/monitoring"
URL_LOG = "monitoring-url"
PLATFORMS = ("Facebook", "Instagram", "TikTok", "X (Twitter)", "YouTube", "WhatsApp", "Lainnya")
_ALIASES = {p.lower(): p for p in PLATFORMS} | {
    "x": "X (Twitter)", "twitter": "X (Twitter)", "fb": "Facebook", "ig": "Instagram",
    "wa": "WhatsApp", "yt": "YouTube", "tik tok": "TikTok", "other": "Lainnya", "lain": "Lainnya",
}
_SENTIMENTS = {s.value.lower(): s for s in Sentiment}
MAX_HANDLE = 100
MAX_URL = 2000
UNAUTHORISED = "Token admin salah atau belum diisi."


class BadInput(ValueError):
    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


def _fields(request) -> tuple[dict[str, str], bool]:
    """(fields, came from the HTML page). JSON that cannot be read (malformed, nested too
    deeply) gives no fields, never an exception."""
    if request.is_json:
        ok, data = load_json(request.get_data(cache=True))
        if ok and isinstance(data, dict):
            return {k: "" if v is None else (str(v) if not isinstance(v, (dict, list)) else "")
                    for k, v in data.items()}, False
        return {}, False
    form = {k: v for k, v in request.form.items()}
    return form, form.get("format") == "html"


def _authorised(request, settings, fields: dict[str, str]) -> bool:
    if bearer_ok(request, settings):
        return True
    token = fields.get("token", "")
    return bool(settings.admin_token and token
                and hmac.compare_digest(token.encode(), settings.admin_token.encode()))


def _observed(raw: str, now: datetime) -> datetime:
    raw = (raw or "").strip()
    if not raw:
        return now
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise BadInput("Waktu ditemukan tidak dikenali; gunakan format 2026-11-02 08:30.",
                       "observed_at") from None
    moment = moment.replace(tzinfo=now.tzinfo) if moment.tzinfo is None else moment.astimezone(now.tzinfo)
    if moment > now + timedelta(minutes=5):
        raise BadInput("Waktu ditemukan tidak boleh di masa depan.", "observed_at")
    if moment < now - timedelta(days=365):
        raise BadInput("Waktu ditemukan lebih dari setahun yang lalu; periksa kembali.", "observed_at")
    return moment


def parse_finding(fields: dict[str, str], now: datetime) -> tuple[str, str, str, str, datetime, Sentiment | None]:
    """(platform, url, canonical url, handle, observed_at, staff sentiment) or BadInput."""
    platform = _ALIASES.get(" ".join(fields.get("platform", "").lower().split()))
    if not platform:
        raise BadInput("Pilih platform: " + ", ".join(PLATFORMS) + ".", "platform")
    url = fields.get("url", "").strip()
    if not url:
        raise BadInput("Tautan (URL) unggahan wajib diisi.", "url")
    canonical = canonical_url(url) if len(url) <= MAX_URL else ""
    if not canonical:
        raise BadInput("Tautan harus alamat lengkap yang diawali http:// atau https://, "
                       "mis. https://www.facebook.com/...", "url")
    handle = " ".join(fields.get("handle", "").split())
    if len(handle) > MAX_HANDLE:
        raise BadInput(f"Nama akun terlalu panjang (maksimal {MAX_HANDLE} karakter).", "handle")
    if not fields.get("text", "").strip():
        raise BadInput("Isi unggahan wajib diisi (salin teksnya atau ringkas isinya).", "text")
    raw_sentiment = fields.get("sentiment", "").strip().lower()
    sentiment = None
    if raw_sentiment and raw_sentiment not in {"otomatis", "auto"}:
        sentiment = _SENTIMENTS.get(raw_sentiment)
        if sentiment is None:
            raise BadInput("Sentimen harus Negatif, Netral, atau Positif (atau kosong).", "sentiment")
    return platform, url, canonical, handle, _observed(fields.get("observed_at", ""), now), sentiment


def _url_key(canonical: str) -> str:
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]


def _known_ticket(workbook, canonical: str):
    key = _url_key(canonical)
    for entry in workbook.log_entries(URL_LOG):
        if entry.key == key:
            return workbook.find(entry.detail.strip())
    return None


FINDING_FIELDS = ("platform", "url", "handle", "text", "observed_at", "sentiment")


def accept_finding(svc, fields: dict[str, str]) -> dict:
    """The door: validate, derive the ticket, queue the finding (never the token) and answer."""
    from .. import tickets
    from ..services.accept import accept_job

    now = svc.now()
    platform, url, canonical, handle, observed, staff_sentiment = parse_finding(fields, now)
    clean_text(fields.get("text", ""), max_chars=MAX_TEXT_CHARS)  # refuse now what intake would refuse later
    body = {k: fields.get(k, "") for k in FINDING_FIELDS}
    body["observed_at"] = observed.isoformat()
    ticket = tickets.make_ticket(svc.settings.ticket_prefix, observed, canonical)
    ticket, new = accept_job(svc, "finding", f"finding:{_url_key(canonical)}", body, ticket)
    if new:
        message = (f"Temuan diterima dengan tiket {ticket} dan sedang dicatat ke tab OPD. Bila negatif, "
                   "peringatan dikirim setelah tercatat; kepada siapa dan lewat apa tampil di "
                   "/monitoring/riwayat.")
    else:
        message = f"Unggahan ini sudah tercatat dengan tiket {ticket}."
    log("INFO", "monitoring finding accepted", ticket=ticket, platform=platform, created=new)
    return {"ticket": ticket, "created": new, "queued": True, "message": message}


def store_finding(svc, job):
    """The paced writer's step for a queued finding (services/intake_worker.py)."""
    from ..services.intake_worker import Result

    out = log_finding(svc, job.body, now=job.accepted_at.astimezone(svc.settings.tz))
    return Result(job.key, job.kind, "created" if out["created"] else "redelivered", out["ticket"])


def log_finding(svc, fields: dict[str, str], now: datetime | None = None) -> dict:
    """Store one finding; returns the reply (ticket, opd, created, sentiment, alert)."""
    from ..services.alerts import AlertItem, alert_sender
    from ..services.media import load_media_config, media_sentiment

    now = now or svc.now()
    platform, url, canonical, handle, observed, staff_sentiment = parse_finding(fields, now)
    body = clean_text(fields.get("text", ""), max_chars=MAX_TEXT_CHARS)
    handle = clean_line(handle, MAX_HANDLE)
    text = f"[{platform}] {body}"
    existing = _known_ticket(svc.workbook, canonical)
    if existing is not None:
        return {"ticket": existing.ticket_id, "opd": existing.tab, "created": False,
                "sentiment": existing.row.get("sentiment", ""), "alert": "tidak",
                "message": f"Unggahan ini sudah tercatat dengan tiket {existing.ticket_id}."}
    cfg = svc.extras.get("media_config") or load_media_config()
    sentiment = staff_sentiment or media_sentiment(svc.classify, text, cfg.negative_min_score)
    contact = Contact(name=handle, channel_user_id=f"{platform}:{handle}" if handle else "",
                      anonymous=not handle)
    complaint = Complaint(text=text, channel=Channel.SOCIAL_MEDIA, received_at=observed,
                          contact=contact, source_id=canonical, link=url, sentiment=sentiment)
    receipt = svc.intake(complaint)
    svc.workbook.log_add(LogEntry(URL_LOG, _url_key(canonical), now, receipt.ticket_id))
    alert = "tidak"
    deliveries = []
    if receipt.created and sentiment == Sentiment.NEGATIVE:
        grave = (svc.extras.get("is_grave") or _default_grave)(text)
        item = AlertItem(receipt.ticket_id, receipt.opd, str(Channel.SOCIAL_MEDIA), platform, text,
                         url, observed, receipt.deadline, grave)
        deliveries = alert_sender(svc, now)([item]).deliveries
        alert = "terkirim" if any(d.ok for d in deliveries) else "gagal"
    if receipt.created:
        message = f"Tercatat dengan tiket {receipt.ticket_id} di tab {receipt.opd}."
        if alert != "tidak":
            message += " " + alert_sentence(deliveries)
    else:
        message = f"Unggahan ini sudah tercatat dengan tiket {receipt.ticket_id}."
    log("INFO", "monitoring finding", ticket=receipt.ticket_id, opd=receipt.opd,
        created=receipt.created, platform=platform, sentiment=str(sentiment), alert=alert)
    return {"ticket": receipt.ticket_id, "opd": receipt.opd, "created": receipt.created,
            "sentiment": str(sentiment), "alert": alert, "message": message,
            "alerted": [delivery_json(d) for d in deliveries]}


def alert_sentence(deliveries) -> str:
    """What was sent, to whom and how — never "sent to the head" when it went elsewhere."""
    from ..services.notify import FALLBACK_NAME

    ok = [d for d in deliveries if d.ok]
    failed = [d for d in deliveries if not d.ok]
    head = [d for d in ok if d.to != FALLBACK_NAME]
    fallback = [d for d in ok if d.to == FALLBACK_NAME]
    parts = []
    if head:
        parts.append("Peringatan dikirim ke " + "; ".join(f"{d.to} lewat {d.via} ({d.address})" for d in head) + ".")
    if fallback:
        reason = ("kontak kepala OPD belum diisi di tab Kontak OPD" if not failed
                  else "pesan ke kepala OPD gagal")
        parts.append(f"Peringatan dikirim lewat email ke alamat cadangan KMC ({fallback[0].address}) "
                     f"karena {reason}; BELUM sampai ke kepala OPD, mohon kabari OPD secara langsung.")
    for d in failed:
        parts.append(f"{d.via} ke {d.to} ({d.address}) GAGAL: {d.note}.")
    if not ok:
        parts.append("Peringatan BELUM terkirim ke siapa pun; kabari OPD secara langsung.")
    return " ".join(parts)


def delivery_json(d) -> dict:
    return {"via": d.via, "to": d.to, "address": d.address, "ok": d.ok, "note": d.note,
            "at": d.at.isoformat(timespec="seconds")}


def _default_grave(text: str) -> bool:
    from ..sentiment import is_alert

    return is_alert(text)


def handle_monitoring(request, svc):
    path = subpath(request, MOUNT)
    if path == "/riwayat":
        return _history(request, svc)
    if path not in {"/", "/catat"}:
        return error_reply("Halaman tidak ditemukan.", 404)
    if request.method == "GET":
        return page(), 200, PAGE_HEADERS
    if request.method != "POST":
        return error_reply("Gunakan GET (halaman) atau POST (catat temuan).", 405)
    bearer = bearer_ok(request, svc.settings)  # checked before the body is parsed
    fields, from_page = _fields(request)  # never raises (nested JSON gives no fields: 401 or 400)

    def reply(data: dict, status: int):
        if from_page:
            ok = status < 400
            return page(message=data.get("message") or data.get("error", ""), ok=ok,
                        values={} if ok else fields, field=data.get("field", "")), status, PAGE_HEADERS
        return json_reply(data, status)

    if not (bearer or _authorised(request, svc.settings, fields)):
        return reply({"error": UNAUTHORISED, "field": "token"}, 401)
    if request.is_json and not fields:
        return reply({"error": "Isi permintaan bukan objek JSON yang dapat dibaca.", "field": ""}, 400)
    try:
        result = accept_finding(svc, fields)
    except BadInput as e:
        return reply({"error": e.message, "field": e.field}, 400)
    except InvalidComplaint as e:
        return reply({"error": e.message.replace("Isi aduan", "Isi unggahan"), "field": "text"}, 400)
    except StorageUnavailable as e:
        log("ERROR", "monitoring: storage unavailable", error=str(e)[:200])
        return reply({"error": "Antrean penyimpanan sedang tidak tersedia; temuan BELUM diterima. "
                               "Silakan kirim ulang beberapa saat lagi.", "field": ""}, 503)
    return reply(result, 202 if result["created"] else 200)


def page(*, message: str = "", ok: bool = True, values: dict[str, str] | None = None,
         field: str = "") -> str:
    """The phone-friendly form; `values` refill it after an error (never the token)."""
    v = {k: html.escape(str(x), quote=True) for k, x in (values or {}).items()}
    e = html.escape
    chosen = (values or {}).get("platform", "")
    options = "".join(
        f'<option{" selected" if p == _ALIASES.get(chosen.lower(), "") else ""}>{e(p)}</option>'
        for p in PLATFORMS)
    chosen_s = (values or {}).get("sentiment", "").lower()
    sentiments = "".join(
        f'<option value="{val}"{" selected" if val.lower() == chosen_s else ""}>{label}</option>'
        for val, label in (("", "Otomatis (dinilai sistem)"), ("Negatif", "Negatif"),
                           ("Netral", "Netral"), ("Positif", "Positif")))
    note = ""
    if message:
        color = "#1e6b30" if ok else "#a11"
        note = (f'<p role="status" style="padding:10px;border-radius:6px;background:'
                f'{"#e6f4ea" if ok else "#fdecea"};color:{color}">{e(message)}</p>')

    def invalid(name: str) -> str:
        return ' aria-invalid="true" autofocus' if field == name else ""

    return f"""<!doctype html>
<html lang="id"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Catat Temuan Media Sosial — KMC Aduan</title>
<style>
body{{font-family:system-ui,sans-serif;margin:0 auto;max-width:560px;padding:16px;line-height:1.4}}
label{{display:block;margin-top:14px;font-weight:600}}
input,select,textarea{{width:100%;box-sizing:border-box;font-size:16px;padding:10px;margin-top:4px}}
textarea{{min-height:140px}} small{{color:#555}}
button{{margin-top:18px;width:100%;font-size:17px;padding:12px;background:#0b57d0;color:#fff;border:0;border-radius:6px}}
[aria-invalid=true]{{border:2px solid #a11}}
</style></head><body>
<h1 style="font-size:1.3em">Catat Temuan Media Sosial</h1>
<p><small>Ketapang Media Center. Unggahan negatif tentang Kabupaten Ketapang dicatat sebagai aduan
dan kepala OPD terkait langsung menerima peringatan (email, dan WhatsApp bila nomornya diisi di
tab Kontak OPD).</small></p>
{note}
<form method="post" action="">
<input type="hidden" name="format" value="html">
<label for="token">Token admin</label>
<input id="token" name="token" type="password" autocomplete="current-password" required{invalid("token")}>
<label for="platform">Platform</label>
<select id="platform" name="platform" required{invalid("platform")}>{options}</select>
<label for="url">Tautan unggahan</label>
<input id="url" name="url" type="url" inputmode="url" placeholder="https://..." required value="{v.get('url', '')}"{invalid("url")}>
<label for="handle">Akun pengunggah <small>(boleh kosong)</small></label>
<input id="handle" name="handle" maxlength="{MAX_HANDLE}" placeholder="@nama_akun" value="{v.get('handle', '')}"{invalid("handle")}>
<label for="text">Isi unggahan</label>
<textarea id="text" name="text" required placeholder="Salin teks unggahan atau ringkas isinya"{invalid("text")}>{v.get('text', '')}</textarea>
<label for="observed_at">Waktu ditemukan <small>(kosong = sekarang)</small></label>
<input id="observed_at" name="observed_at" type="datetime-local" value="{v.get('observed_at', '')}"{invalid("observed_at")}>
<label for="sentiment">Sentimen</label>
<select id="sentiment" name="sentiment"{invalid("sentiment")}>{sentiments}</select>
<button type="submit">Catat temuan</button>
</form>
</body></html>
"""


HISTORY_LIMIT = 200


def findings_history(svc, limit: int = HISTORY_LIMIT) -> list[dict]:
    """Newest first: each finding logged here or alerted by the media job, with every alert
    attempt recorded in the Log (who, how, when, outcome). Reads only the Log."""
    from ..services.notify import NOTIFY, deliveries_by_ticket

    entries = svc.workbook.log_entries()
    alerts = deliveries_by_ticket(e for e in entries if e.kind == NOTIFY and e.key.startswith("alert:"))
    found: dict[str, datetime] = {}
    for e in entries:
        if e.kind == URL_LOG and e.detail.strip():
            found.setdefault(e.detail.strip(), e.at)
    for ticket, ds in alerts.items():
        found.setdefault(ticket, min(d.at for d in ds))
    rows = []
    for ticket, at in sorted(found.items(), key=lambda kv: kv[1], reverse=True)[:limit]:
        ds = sorted(alerts.get(ticket, []), key=lambda d: d.at)
        rows.append({"ticket": ticket, "at": at.isoformat(timespec="seconds"),
                     "opd": ds[0].opd if ds else "", "alerted": [delivery_json(d) for d in ds]})
    return rows


def _history(request, svc):
    """GET with the admin bearer (JSON with `?format=json`), or POST the page's token field."""
    fields = {k: v for k, v in request.form.items()} if request.method == "POST" else {}
    if request.method not in {"GET", "POST"}:
        return error_reply("Gunakan GET atau POST.", 405)
    if not _authorised(request, svc.settings, fields):
        if request.method == "GET" and request.args.get("format") != "json":
            return history_page(None, svc.settings.tz), 200, PAGE_HEADERS
        return error_reply(UNAUTHORISED, 401)
    rows = findings_history(svc)
    if request.args.get("format") == "json":
        return json_reply({"findings": rows}, 200)
    return history_page(rows, svc.settings.tz), 200, PAGE_HEADERS


def _delivery_li(d: dict, when) -> str:
    e = html.escape
    text = f'{e(when(d["at"]))}: {e(d["via"])} ke {e(d["to"])} ({e(d["address"])})'
    if not d["ok"]:
        return f'<li style="color:#a11">{text} — GAGAL: {e(d["note"])}</li>'
    return f'<li>{text}{" — " + e(d["note"]) if d["note"] else ""}</li>'


def history_page(rows: list[dict] | None, tz) -> str:
    """Who was alerted for each finding, how and when (the token form when `rows` is None)."""
    e = html.escape

    def when(iso: str) -> str:
        moment = datetime.fromisoformat(iso).astimezone(tz)
        return f"{moment:%d/%m/%Y %H:%M} {moment.tzname()}"

    if rows is None:
        body = ('<form method="post" action=""><label for="token">Token admin</label>'
                '<input id="token" name="token" type="password" autocomplete="current-password" required>'
                '<button type="submit">Lihat riwayat</button></form>')
    elif not rows:
        body = "<p>Belum ada temuan yang dicatat.</p>"
    else:
        items = []
        for r in rows:
            sent = "".join(_delivery_li(d, when) for d in r["alerted"]) or (
                "<li>Tidak ada peringatan (bukan informasi negatif, atau tercatat sebelumnya)</li>")
            items.append(f'<tr><td><b>{e(r["ticket"])}</b><br><small>{e(when(r["at"]))}'
                         f'{" · " + e(r["opd"]) if r["opd"] else ""}</small></td><td><ul>{sent}</ul></td></tr>')
        body = ('<table><thead><tr><th>Temuan</th><th>Peringatan: kepada siapa, lewat apa, kapan</th></tr>'
                f'</thead><tbody>{"".join(items)}</tbody></table>')
    return f"""<!doctype html>
<html lang="id"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Riwayat Temuan dan Peringatan — KMC Aduan</title>
<style>
body{{font-family:system-ui,sans-serif;margin:0 auto;max-width:860px;padding:16px;line-height:1.4}}
table{{border-collapse:collapse;width:100%}} td,th{{border-bottom:1px solid #ddd;padding:8px;vertical-align:top;text-align:left}}
ul{{margin:0;padding-left:18px}} input,button{{font-size:16px;padding:10px;margin-top:6px;width:100%;box-sizing:border-box}}
</style></head><body>
<h1 style="font-size:1.3em">Riwayat Temuan dan Peringatan</h1>
<p><small>Ketapang Media Center. Setiap temuan negatif dan kepala OPD yang diperingatkan
(email / WhatsApp), beserta waktunya. Nomor WhatsApp ditampilkan tersamar.</small></p>
{body}
<p><a href="./">Catat temuan baru</a></p>
</body></html>
"""
