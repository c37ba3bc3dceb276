"""`python main.py serve`: every HTTP target on one local server plus an in-process scheduler."""
from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .config import Settings
from .handlers import JOBS, TARGETS, handle
from .logs import log

if TYPE_CHECKING:
    from .services.context import Services

METHODS = ["GET", "POST", "PUT", "DELETE"]
# Query parameters whose values never reach the access log (a key or token in a URL is refused
# by its endpoint, but the request line is logged before that).
SECRET_PARAMS = re.compile(r"(?i)((?:^|[?&;])(?:api_key|apikey|key|token|access_token|hub\.verify_token|"
                           r"password|secret)=)[^&;#\s]*")


# What a visitor of `/` may open (never internal function names or job paths).
HOME_LINKS = (("/form", "Formulir aduan"), ("/form/status", "Cek status aduan"),
              ("/open311/v2/services.json", "Open311 (untuk sistem mitra)"),
              ("/monitoring", "Catat temuan media sosial (admin KMC)"))


def redact(request_line: str) -> str:
    """`GET /x?api_key=abc&a=1 HTTP/1.1` -> `GET /x?api_key=[disembunyikan]&a=1 HTTP/1.1`."""
    return SECRET_PARAMS.sub(r"\1[disembunyikan]", request_line)


WRITERS = JOBS | {"intake_worker"}  # targets that are not doors


class DoorActivity:
    """When a door last answered. The writer in this process steps aside while the doors are
    busy (a burst): Sheets paces the writer anyway, and the doors must answer within Meta's
    second on 2 shared cores. Bounded, so a steady stream never starves the writer."""

    def __init__(self, quiet: float = 0.15, longest: float = 3.0):
        self.quiet, self.longest = quiet, longest
        self.last = 0.0

    def touch(self) -> None:
        self.last = time.monotonic()

    def wait_quiet(self) -> None:
        started = time.monotonic()
        while time.monotonic() - self.last < self.quiet and time.monotonic() - started < self.longest:
            time.sleep(self.quiet / 3)


def make_app(svc: "Services"):
    """A Flask app mounting each target under its contract path, all sharing `svc`."""
    from flask import Flask, request

    app = Flask("kmc_aduan")
    app.extensions["kmc_services"] = svc
    if svc.state.door_activity is None:
        svc.state.door_activity = DoorActivity()
    activity = svc.state.door_activity
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024  # Meta's own limit is 3 MB per delivery

    for target, (mount, _) in TARGETS.items():
        def view(rest: str = "", _target=target):
            if _target not in WRITERS:
                activity.touch()
            return handle(_target, request, lambda: svc)

        app.add_url_rule(mount, f"{target}_root", view, methods=METHODS, strict_slashes=False)
        app.add_url_rule(f"{mount}/<path:rest>", f"{target}_sub", view, methods=METHODS)

    @app.get("/")
    def index():
        links = "".join(f'<li><a href="{path}">{label}</a></li>' for path, label in HOME_LINKS)
        return (f"<!doctype html><html lang=id><meta charset=utf-8><title>KMC Aduan</title><h1>KMC Aduan</h1>"
                f"<p>Layanan aduan Ketapang Media Center.</p><ul>{links}</ul></html>",
                200, {"Content-Type": "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff",
                      "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"})

    @app.get("/media/<path:name>")
    def media(name: str):  # stored attachments, for KMC staff only (channels/media_files.py)
        from .channels.media_files import serve_media

        return serve_media(request, svc, name)

    @app.get("/healthz")
    def healthz():
        return {"ok": True, "backend": svc.settings.backend}

    return app


# -- the in-process scheduler ------------------------------------------------------------------

def next_sweep(now: datetime) -> datetime:
    base = now.replace(second=0, microsecond=0)
    return base + timedelta(minutes=15 - base.minute % 15)


def next_daily(now: datetime, hour: int = 7) -> datetime:
    target = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return target if target > now else target + timedelta(days=1)


def next_hourly(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


class Scheduler(threading.Thread):
    """Runs sweep every 15 min, daily at 07:00 (KMC_TIMEZONE) and media hourly, until stopped."""

    def __init__(self, svc: "Services", jobs):
        super().__init__(daemon=True, name="kmc-scheduler")
        self.svc = svc
        self.jobs = jobs  # [(name, next_time_fn, run_fn)]
        self.stop = threading.Event()

    def run(self) -> None:
        due = {name: nxt(self.svc.now()) for name, nxt, _ in self.jobs}
        while not self.stop.is_set():
            now = self.svc.now()
            for name, nxt, job in self.jobs:
                if now >= due[name]:
                    try:
                        report = job(self.svc)
                        log("INFO", "scheduled job done", job=name, summary=report.summary())
                    except Exception as e:  # a failing job must not stop the others
                        log("ERROR", "scheduled job failed", job=name, error=f"{type(e).__name__}: {e}")
                    due[name] = nxt(self.svc.now())
            wait = min(due.values()) - self.svc.now()
            self.stop.wait(max(1.0, min(wait.total_seconds(), 60.0)))


class IntakeDrainer(threading.Thread):
    """Drains the local intake queue into the workbook (the paced writer of `serve`).

    Polls briefly when idle; when the store is down, waits 2, 4 ... 60 s between tries; reports
    once a minute anything that has waited longer than 15 minutes."""

    def __init__(self, svc: "Services", queue, *, idle: float = 0.25):
        super().__init__(daemon=True, name="kmc-intake")
        self.svc, self.queue, self.idle = svc, queue, idle
        self.stop = threading.Event()

    def run(self) -> None:
        from .services.intake_worker import drain_once, stale

        pause, checked = 0.0, 0.0
        recovered = self.queue.recover()
        if recovered:
            log("WARNING", "intake queue: jobs of a stopped process taken over", jobs=recovered)
        while not self.stop.is_set():
            activity = self.svc.state.door_activity
            try:
                report = drain_once(self.svc, self.queue, before_each=activity.wait_quiet if activity else None)
            except Exception as e:  # noqa: BLE001 - the drain thread must survive anything
                log("ERROR", "intake drain failed", error=f"{type(e).__name__}: {e}"[:300])
                report = None
            if report is not None and report.outage:
                pause = min(60.0, max(2.0, pause * 2))
            elif report is not None and (report.results or report.failed or report.dead):
                pause = 0.0
            else:
                pause = self.idle
            now = time.monotonic()
            if now - checked > 60:
                checked = now
                try:
                    old = stale(self.queue.stats(), self.svc.clock())
                    if old:
                        log("WARNING", "intake queue: messages waiting longer than 15 minutes", waiting=len(old))
                except Exception as e:  # noqa: BLE001
                    log("ERROR", "intake queue unreadable", error=type(e).__name__)
            if pause:
                self.stop.wait(pause)


def default_jobs():
    from .services.jobs import daily_job, sweep_job

    jobs = [("sweep", next_sweep, sweep_job), ("daily", next_daily, daily_job)]
    try:
        from .services.jobs import media_job

        jobs.append(("media", next_hourly, media_job))
    except ImportError:
        pass
    return jobs


def _handler():
    """werkzeug's request handler with secrets in query strings redacted from the access log."""
    from werkzeug.serving import WSGIRequestHandler

    class RedactingHandler(WSGIRequestHandler):
        def log_request(self, code="-", size="-"):
            line, path = self.requestline, getattr(self, "path", None)
            self.requestline = redact(line)
            if path is not None:
                self.path = redact(path)
            try:
                super().log_request(code, size)
            finally:
                self.requestline = line
                if path is not None:
                    self.path = path

    return RedactingHandler


def serve(settings: Settings, *, host: str, port: int, scheduler: bool = True) -> int:
    from werkzeug.serving import run_simple

    from .bootstrap import build

    svc = build(settings)
    from .services.setup import bootstrap_workbook

    bootstrap_workbook(svc.workbook, svc.contacts)
    from .queue.port import DrainedHere

    if isinstance(svc.queue, DrainedHere):  # the local queue: this process is its paced writer
        IntakeDrainer(svc, svc.queue).start()
    if scheduler:
        Scheduler(svc, default_jobs()).start()
    print(f"KMC Aduan melayani di http://{host}:{port}/ (backend {settings.backend}, data {settings.data_dir})")
    for target, (mount, _) in TARGETS.items():
        print(f"  {mount:<14} {target}")
    if not settings.admin_token:
        print("  Catatan: KMC_ADMIN_TOKEN belum diatur; /jobs/* dan /monitoring menolak semua permintaan.")
    run_simple(host, port, make_app(svc), threaded=True, use_reloader=False, request_handler=_handler())
    return 0
