"""`/monitoring`: KMC staff log a social-media post they found (the `monitoring_intake` target).

GET   a small Indonesian page (works on a phone) with the admin-token field and the form.
POST  JSON or form fields: platform, url, handle, text, observed_at (optional, naive = WIB),
      sentiment (optional: staff judgement overrides the detector). Auth: bearer KMC_ADMIN_TOKEN,
      or the `token` field of the page's form.

The door validates (`parse_finding`), queues the finding and answers 202 with its ticket; the
paced writer stores it through services/findings.py (judged like a news item, stored on channel
"Media Sosial", a negative post alerts the OPD head at once; the same URL logged again returns
the existing ticket). `/monitoring/riwayat` lists, for each finding, who was alerted, how and
when (admin token), from the Log.
"""
from __future__ import annotations

import hmac
import html
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..logs import log
from ..model import InvalidComplaint, Sentiment, StorageUnavailable
from ..journal import url_key
from ..services.findings import Finding, findings_history
from ..text import MAX_TEXT_CHARS, clean_line, clean_text
from ..web import PAGE_HEADERS, bearer_ok, error_reply, json_reply, load_json, subpath
from ..feeds.parse import canonical_url

if TYPE_CHECKING:
    from ..services.context import Services

MOUNT = "/monitoring"
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


def parse_finding(fields: dict[str, str], now: datetime) -> Finding:
    """The finding the form describes, or BadInput (InvalidComplaint for text intake refuses).
    The door parses before it queues; the writer's step parses the queued fields again with
    the door's acceptance time as `now` (bootstrap wires it)."""
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
    observed = _observed(fields.get("observed_at", ""), now)
    body = clean_text(fields.get("text", ""), max_chars=MAX_TEXT_CHARS)  # refused now, not by intake later
    return Finding(platform, url, canonical, clean_line(handle, MAX_HANDLE), f"[{platform}] {body}", observed,
                   sentiment)


FINDING_FIELDS = ("platform", "url", "handle", "text", "observed_at", "sentiment")


def accept_finding(svc: "Services", fields: dict[str, str]) -> dict:
    """The door: validate, derive the ticket, queue the finding (never the token) and answer."""
    from .. import tickets
    from ..services.accept import accept_job

    now = svc.now()
    finding = parse_finding(fields, now)
    body = {k: fields.get(k, "") for k in FINDING_FIELDS}
    body["observed_at"] = finding.observed.isoformat()
    ticket = tickets.make_ticket(svc.settings.ticket_prefix, finding.observed, finding.canonical)
    ticket, new = accept_job(svc, "finding", f"finding:{url_key(finding.canonical)}", body, ticket)
    if new:
        message = (f"Temuan diterima dengan tiket {ticket} dan sedang dicatat ke tab OPD. Bila negatif, "
                   "peringatan dikirim setelah tercatat; kepada siapa dan lewat apa tampil di "
                   "/monitoring/riwayat.")
    else:
        message = f"Unggahan ini sudah tercatat dengan tiket {ticket}."
    log("INFO", "monitoring finding accepted", ticket=ticket, platform=finding.platform, created=new)
    return {"ticket": ticket, "created": new, "queued": True, "message": message}


def handle_monitoring(request, svc: "Services"):
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


def _history(request, svc: "Services"):
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
