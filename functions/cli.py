"""The local CLI (`python main.py COMMAND`): parse arguments, call one service, print the result."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .config import ConfigError, Settings
from .model import InvalidComplaint, StorageUnavailable, UnknownTicket

if TYPE_CHECKING:
    from .services.context import Services

COMMANDS = {
    "serve": "all HTTP endpoints on one local server plus the in-process scheduler",
    "demo": "a guided tour of the whole complaint cycle on a fresh data dir",
    "bootstrap": "create or upgrade the workbook (tabs, headers, formats)",
    "sweep": "run the sweep once (new responses, SLA judgement)",
    "daily": "run the daily job once (mark overdue, digest email)",
    "media": "run the media monitoring job once",
    "sheet": "sheet show [TAB] [--json]: print the tabs",
    "edit": "edit TICKET KEY=VALUE...: what OPD staff do by hand",
    "export": "export --xlsx FILE: the workbook as .xlsx",
    "eval-routing": "quality of the router on labelled CSV (text,opd); --history HISTORY.csv learns first",
    "explain-route": "explain-route \"TEXT\": why a text goes where it goes (rules, model, thresholds)",
    "eval-sentiment": "quality of the negativity detector on labelled data",
    "drain": "drain the local intake queue once; list what waits and the dead letters",
    "archive": "archive --before DATE: move closed cases to a yearly archive",
    "forget": "forget TICKET|PHONE: erase a citizen's personal data (UU 27/2022)",
    "selftest": "exercise the store contract on the configured backend; pass/fail list, non-zero on failure",
    "opd": "opd list | opd set KEY FIELD=VALUE...: the OPD heads' directory (Kontak OPD)",
}


def parse_now(value: str | None, settings: Settings) -> datetime | None:
    """`--now` as an aware datetime; a naive value is read as local time (WIB)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidComplaint(f"--now bukan waktu ISO 8601 yang valid: {value!r}", "now") from None
    if not datetime(2000, 1, 1) <= moment.replace(tzinfo=None) <= datetime(2100, 1, 1):
        # a job at year 1 or 9999 ends in an overflow (or a digest dated 9999): refused up front
        raise InvalidComplaint(f"--now di luar rentang yang didukung (2000..2099): {value!r}", "now")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings.tz)
    return moment.astimezone(settings.tz)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python main.py", description="KMC Aduan — Ketapang Media Center")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == "serve":
            p.add_argument("--host", default="127.0.0.1")
            p.add_argument("--port", type=int, default=8080)
            p.add_argument("--no-scheduler", action="store_true", help="serve HTTP only")
        elif name == "demo":
            p.add_argument("--data-dir", help="where to put the demo data (default: a fresh temp dir)")
        elif name in {"sweep", "daily", "media"}:
            p.add_argument("--now", help="fix the clock (ISO 8601; naive = WIB)")
            p.add_argument("--dry-run", action="store_true", help="print what would be done, write nothing")
        elif name == "sheet":
            p.add_argument("action", choices=["show"])
            p.add_argument("tab", nargs="?", help="OPD key or tab title (e.g. PUTR, putr, TRIASE)")
            p.add_argument("--json", action="store_true")
        elif name == "edit":
            p.add_argument("ticket")
            p.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
        elif name == "export":
            p.add_argument("--xlsx", required=True, type=Path)
        elif name in {"eval-routing", "eval-sentiment"}:
            p.add_argument("file", type=Path)
            p.add_argument("--predictions", type=Path)
            if name == "eval-routing":
                p.add_argument("--history", type=Path, help="text,opd CSV of settled cases (oldest first) to learn from")
        elif name == "explain-route":
            p.add_argument("text")
        elif name == "drain":
            p.add_argument("--retry", metavar="TIKET|KUNCI|all", help="put a dead letter (or all) back in line first")
            p.add_argument("--list", action="store_true", help="only list, store nothing")
        elif name == "archive":
            p.add_argument("--before", required=True, help="DATE (YYYY-MM-DD): archive closed cases received before it")
        elif name == "forget":
            p.add_argument("who", metavar="TICKET|PHONE")
        elif name == "opd":
            p.add_argument("action", choices=["list", "set"])
            p.add_argument("key", nargs="?", metavar="KEY", help="OPD key (opd set)")
            p.add_argument("assignments", nargs="*", metavar="FIELD=VALUE",
                           help="email, whatsapp, nama, jabatan, tembusan, nama_opd")
    return parser


def main(argv: list[str], env=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args, env)
    except ConfigError as e:
        print(f"Konfigurasi salah: {e}", file=sys.stderr)
        return 2
    except (InvalidComplaint, UnknownTicket) as e:
        print(f"Gagal: {e}", file=sys.stderr)
        return 2
    except StorageUnavailable as e:
        print(f"Penyimpanan tidak tersedia: {e}", file=sys.stderr)
        return 3


def _dispatch(args, env) -> int:
    command = args.command
    if command in {"eval-routing", "eval-sentiment"}:
        return _evaluate(args)
    if command == "demo":
        from .demo import run_demo

        return run_demo(args.data_dir, Settings.from_env(env))

    from .bootstrap import build

    settings = Settings.from_env(env)
    if command == "serve":
        from .server import serve

        return serve(settings, host=args.host, port=args.port, scheduler=not args.no_scheduler)
    if missing_store(settings):
        if command not in CREATES_STORE:
            print(missing_store(settings), file=sys.stderr)
            return 2
        if command not in {"demo", "bootstrap", "explain-route"}:
            print(f"Catatan: data KMC Aduan baru dibuat di {settings.data_dir} (KMC_DATA_DIR).", file=sys.stderr)
    return RUNS[command](build(settings), args)


def _evaluate(args) -> int:
    from .services import evaluation

    for path in (args.file, getattr(args, "history", None)):
        if path is not None and not path.exists():
            print(f"Berkas tidak ditemukan: {path}", file=sys.stderr)
            return 2
    if args.command == "eval-routing":
        return evaluation.main_eval_routing(args.file, args.predictions, history=args.history)
    return evaluation.main_eval_sentiment(args.file, args.predictions)


# -- one function per command that works on the deployment's services ------------------------------

def _bootstrap(svc: "Services", args) -> int:
    from .services.setup import bootstrap_workbook

    actions = bootstrap_workbook(svc.workbook, svc.contacts)
    for line in actions:
        print(f"- {line}")
    print(f"bootstrap selesai: {len(actions)} perubahan ({svc.settings.backend})")
    return 0


def _selftest(svc: "Services", args) -> int:
    from .selftest import run_selftest

    report = run_selftest(svc.settings, svc.schema, svc.workbook, svc.contacts, svc.now())
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _job(svc: "Services", args) -> int:
    """sweep, daily, media: run the job once and print its summary."""
    from .services import jobs

    now = parse_now(args.now, svc.settings)
    job = {"media": jobs.media_job, "sweep": jobs.sweep_job, "daily": jobs.daily_job}[args.command]
    report = job(svc, now, dry_run=args.dry_run)
    print(report.summary())
    if getattr(report, "learning", ""):
        print(f"  {report.learning}")
    for line in getattr(report, "problems", []):
        print(f"  ! {line}")
    return 0


def _explain_route(svc: "Services", args) -> int:
    from .services.route_explain import explain_route

    print(explain_route(svc.workbook, args.text))
    return 0


def _edit(svc: "Services", args) -> int:
    from .services.staff import staff_edit

    ticket = staff_edit(svc.workbook, svc.schema, args.ticket, args.assignments, svc.settings.ticket_prefix)
    print(f"{ticket} diperbarui: {', '.join(a.split('=', 1)[0] for a in args.assignments)}")
    return 0


def _export(svc: "Services", args) -> int:
    from .services.export import export_xlsx

    counts = export_xlsx(svc.workbook, svc.schema, args.xlsx)
    print(f"{args.xlsx}: {sum(counts.values())} baris di {len(counts)} tab")
    return 0


def _drain(svc: "Services", args) -> int:
    from .services.intake_worker import main_drain

    return main_drain(svc, retry=args.retry, list_only=args.list)


def _archive(svc: "Services", args) -> int:
    return archive_command(svc, args.before)


def _forget(svc: "Services", args) -> int:
    from .archives import existing_archives
    from .services.attachments import forget_case_media
    from .services.privacy import forget

    tickets = forget(svc.workbook, svc.contacts, args.who, svc.settings.ticket_prefix, existing_archives(svc))
    if not tickets:
        print("Tidak ada data pribadi yang cocok dengan tiket/nomor itu.", file=sys.stderr)
        return 1
    print(f"Data pribadi dihapus untuk {len(tickets)} tiket: {', '.join(tickets)}")
    removed = forget_case_media(svc, tickets)
    if removed:
        print(f"{removed} lampiran (foto/pesan suara/dokumen) dihapus.")
    return 0


def archive_command(svc: "Services", before_iso: str, dry_run: bool = False) -> int:
    """`archive --before DATE`: the use case (services/archive.py) on the archives of
    functions/archives.py; prints what moved. 0 on success, 1 when the archive failed, 2 on a bad date."""
    from datetime import date

    from .archives import archive_factory
    from .services.archive import archive_closed
    from .services.attachments import MediaArchiver, kit_of

    try:
        before = date.fromisoformat(before_iso.strip())
    except ValueError:
        print(f"Tanggal tidak valid: {before_iso!r} (gunakan YYYY-MM-DD)")
        return 2
    media = MediaArchiver(kit_of(svc))
    try:
        report = archive_closed(svc.workbook, archive_factory(svc, announce=print), before, tz=svc.settings.tz,
                                dry_run=dry_run, relabel=media.relabel)
        moved = media.finish()  # originals go only once the live rows are gone
    except StorageUnavailable as e:
        print(f"Arsip gagal, tidak ada kasus yang dihapus dari workbook aktif: {e}")
        return 1
    for line in report.lines():
        print(line)
    if moved:
        print(f"  {moved} lampiran dipindahkan ke arsip/")
    return 0


def tab_key(typed: str, tabs, titles: dict[str, str]) -> str | None:
    """An OPD key from what the operator typed: the key in any case (`putr`) or the tab title."""
    wanted = " ".join(typed.split()).casefold()
    for key in tabs:
        if wanted in {key.casefold(), " ".join(titles.get(key, key).split()).casefold()}:
            return key
    return None


# Commands that may start a store from nothing (setting up, or bringing news in: the media job
# works on a fresh data dir and says so); every other one needs the data dir to hold one, so a
# misspelled KMC_DATA_DIR is refused instead of becoming an empty store (and an all-zero digest).
CREATES_STORE = {"serve", "demo", "bootstrap", "opd", "media", "explain-route"}


def missing_store(settings: Settings) -> str:
    """An Indonesian message when the local data dir holds no workbook yet, else ""."""
    if settings.backend != "local" or (settings.data_dir / "workbook.sqlite").exists():
        return ""
    return (f"Folder data {str(settings.data_dir)!r} belum berisi data KMC Aduan (workbook.sqlite tidak ada). "
            "Periksa ejaan KMC_DATA_DIR, atau buat data baru dengan `python main.py bootstrap`.")


def _opd(svc: "Services", args) -> int:
    from .directory import InvalidContact
    from .services.opd_directory import list_directory, set_contact

    if args.action == "set":
        if not args.key or not args.assignments:
            print("Gunakan: python main.py opd set KODE FIELD=NILAI ... "
                  "(mis. opd set PUTR email=kadis@ketapangkab.go.id whatsapp=0812-3456-7890)", file=sys.stderr)
            return 2
        try:
            row = set_contact(svc, args.key, args.assignments)
        except InvalidContact as e:
            print(f"Gagal: {e.message}. Tidak ada yang diubah.", file=sys.stderr)
            return 2
        print(f"{row['opd']} diperbarui: " + ", ".join(a.split("=", 1)[0] for a in args.assignments))
        return 0
    rows, directory = list_directory(svc)
    for r in rows:
        key = str(r.get("opd", "")).strip().upper()
        ok = directory.get(key)
        head = ", ".join(x for x in (r.get("head_name", ""), r.get("head_title", "")) if x) or "-"
        print(f"{key or '?':<14} {head}")
        print(f"{'':<14} email: {r.get('email') or '-'} · WhatsApp: {r.get('whatsapp') or '-'}"
              + (f" · tembusan: {r['cc']}" if r.get("cc") else "") + ("" if ok else "  [TIDAK DIPAKAI]"))
    reachable = sum(1 for c in directory.contacts.values() if c.reachable)
    print(f"{len(rows)} OPD; {reachable} dengan email atau WhatsApp kepala")
    for line in directory.problems:
        print(f"  ! {line}")
    return 0


def _sheet_show(svc: "Services", tab: str | None, as_json: bool) -> int:
    from .timefmt import list_wib

    tabs = svc.workbook.read_all()
    if tab:
        key = tab_key(tab, tabs, svc.titles)
        if key is None:
            print(f"Tab {tab!r} tidak ada. Tab yang ada: {', '.join(tabs)}", file=sys.stderr)
            return 2
        tab = key
        tabs = {key: tabs[key]}
    if as_json:
        def cell(v):
            return v.isoformat() if isinstance(v, datetime) else ("" if v is None else v)

        print(json.dumps({"tabs": {k: [{c: cell(v) for c, v in r.items()} for r in rows] for k, rows in tabs.items()}},
                         ensure_ascii=False, indent=1))
        return 0
    titles = svc.titles
    for key, rows in tabs.items():
        if tab is None and not rows:
            continue
        print(f"== {titles.get(key, key)} [{key}] — {len(rows)} aduan")
        for r in rows:
            received = list_wib(r["received_at"]) if isinstance(r.get("received_at"), datetime) else "-"
            text = " ".join(str(r.get("text", "")).split())[:60]
            print(f"  {r['ticket_id']}  {received}  {r.get('status', ''):<14} {r.get('sla', ''):<21} {text}")
    empty = [k for k, rows in tabs.items() if not rows]
    if tab is None and empty:
        print(f"({len(empty)} tab kosong: {', '.join(empty)})")
    return 0


# command -> what it runs with the services `build` made (eval-*, demo and serve need none)
RUNS: dict[str, Callable[["Services", Any], int]] = {
    "bootstrap": _bootstrap,
    "selftest": _selftest,
    "sweep": _job,
    "daily": _job,
    "media": _job,
    "sheet": lambda svc, args: _sheet_show(svc, args.tab, args.json),
    "explain-route": _explain_route,
    "edit": _edit,
    "export": _export,
    "drain": _drain,
    "archive": _archive,
    "opd": _opd,
    "forget": _forget,
}
