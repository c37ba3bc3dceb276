"""The 30-day chart of the digest as a small PNG (matplotlib, Agg, imported only here)."""
from __future__ import annotations

import io
from typing import Sequence

from .data import DayPoint

GREEN, ORANGE, RED, GREY = "#2e8540", "#e69f00", "#b42318", "#9aa5b1"


def render_chart(series: Sequence[DayPoint], *, width_px: int = 800, height_px: int = 440) -> bytes:
    """Bars: answers per day (on time / late); lines: complaints received and the overdue stock.

    The same numbers are printed as a table in both parts of the email (images may be hidden).
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure  # no pyplot: no global state, nothing kept between runs

    dpi = 125  # sharp on phone screens at 640 CSS pixels, still ~60 KB
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    ax = fig.add_subplot(1, 1, 1)
    x = list(range(len(series)))
    on_time = [p.on_time for p in series]
    late = [p.late for p in series]
    ax.bar(x, on_time, color=GREEN, width=0.8, label="Ditanggapi tepat waktu")
    ax.bar(x, late, bottom=on_time, color=ORANGE, width=0.8, label="Ditanggapi terlambat")
    ax.plot(x, [p.received for p in series], color=GREY, linewidth=1.8, marker="o", markersize=2.5,
            label="Aduan masuk")
    ax.plot(x, [p.overdue for p in series], color=RED, linewidth=2.2, label="Belum ditanggapi, lewat batas")
    step = max(1, len(series) // 6)
    ax.set_xticks(x[::step])
    ax.set_xticklabels([f"{p.day:%d/%m}" for p in series][::step], fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylim(bottom=0)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", color="#e4e7eb", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if series:
        ax.set_title(f"30 hari terakhir ({series[0].day:%d/%m} – {series[-1].day:%d/%m})", fontsize=10, loc="left")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False, ncol=2)
    fig.tight_layout(pad=0.6)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=dpi, metadata={"Software": None})
    return out.getvalue()
