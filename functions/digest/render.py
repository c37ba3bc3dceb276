"""Digest email rendering: one Jinja2 environment, a text and an HTML template over the same data."""
from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .data import Digest

TEMPLATES = Path(__file__).parent / "templates"
MONTHS = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
          "Oktober", "November", "Desember"]
DAYS = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"]


def tanggal(value) -> str:
    """`Jumat, 27 November 2026` (with ` 07:00` for datetimes)."""
    text = f"{DAYS[value.weekday()]}, {value.day} {MONTHS[value.month - 1]} {value.year}"
    if hasattr(value, "hour"):
        text += f" {value:%H:%M}"
    return text


def persen(value) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


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
    env.filters["jam"] = lambda d: f"{d:%d/%m %H:%M}"
    return env


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


def render_digest(digest: Digest, *, sheet_url: str) -> tuple[str, str, str]:
    """(subject, text, html) of the leadership digest."""
    t = digest.totals
    subject = (
        f"[KMC Aduan] Rekap {tanggal(digest.day)}: {t['overdue']} aduan terlambat, "
        f"kepatuhan {persen(digest.compliance)}"
    )
    context = dict(d=digest, t=t, sheet_url=sheet_url)
    return subject, render("digest.txt", **context), render("digest.html", **context)
