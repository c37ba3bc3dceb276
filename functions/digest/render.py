"""Email rendering: one Jinja2 environment; every email has a text and an HTML template over the
same data (the leadership digest, an OPD head's overdue list, the reminder before the breach)."""
from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ..timefmt import list_wib, long_wib
from .data import CaseRef, Digest

TEMPLATES = Path(__file__).parent / "templates"
MONTHS = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
          "Oktober", "November", "Desember"]
DAYS = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"]
OVERDUE_IN_DIGEST = 10  # the oldest overdue cases listed in the leadership digest
MEDIA_IN_DIGEST = 15


def tanggal(value) -> str:
    """`Jumat, 27 November 2026` (with ` pukul 07.00 WIB` for datetimes; functions/timefmt.py)."""
    if hasattr(value, "hour"):
        return long_wib(value)
    return f"{DAYS[value.weekday()]}, {value.day} {MONTHS[value.month - 1]} {value.year}"


def persen(value) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def angka(value) -> str:
    """Indonesian number format: 1.234 and 12,5."""
    if value is None or value == "":
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}".replace(",", "X").replace(".", ",").replace("X", ".")
    return f"{int(value):,}".replace(",", ".")


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2.html"], default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["tanggal"] = tanggal
    env.filters["persen"] = persen
    env.filters["angka"] = angka
    env.filters["jam"] = list_wib
    env.filters["hari"] = lambda d: f"{DAYS[d.weekday()][:3]} {d:%d/%m}"
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


def render_digest(digest: Digest, *, sheet_url: str, chart_cid: str = "") -> tuple[str, str, str]:
    """(subject, text, html) of the leadership digest."""
    h = digest.headline
    subject = (
        f"[KMC Aduan] Rekap {tanggal(digest.day)}: {h['overdue']} aduan terlambat, "
        f"kepatuhan {persen(digest.compliance)}"
    )
    if digest.monthly is not None:
        subject += f" + evaluasi {digest.monthly.label}"
    context = dict(d=digest, t=digest.totals, h=h, sheet_url=sheet_url, chart_cid=chart_cid,
                   top=digest.overdue[:OVERDUE_IN_DIGEST], more=max(0, len(digest.overdue) - OVERDUE_IN_DIGEST),
                   media=digest.media[:MEDIA_IN_DIGEST], more_media=max(0, len(digest.media) - MEDIA_IN_DIGEST))
    return subject, render("digest.txt", **context), render("digest.html", **context)


def render_opd_overdue(title: str, cases: list[CaseRef], *, day, sheet_url: str) -> tuple[str, str, str]:
    """(subject, text, html) of one OPD head's overdue list."""
    subject = f"[KMC Aduan] {len(cases)} aduan {title} belum ditanggapi lewat batas waktu"
    context = dict(title=title, cases=cases, day=day, sheet_url=sheet_url)
    return subject, render("opd_overdue.txt", **context), render("opd_overdue.html", **context)


def render_reminder(title: str, cases: list[CaseRef], *, now, hours: float, sheet_url: str) -> tuple[str, str, str]:
    """(subject, text, html) of the reminder sent before the deadline passes."""
    subject = f"[KMC Aduan] Pengingat: {len(cases)} aduan {title} jatuh tempo dalam {hours:g} jam"
    context = dict(title=title, cases=cases, now=now, hours=hours, sheet_url=sheet_url)
    return subject, render("reminder.txt", **context), render("reminder.html", **context)
