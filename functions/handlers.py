"""HTTP handlers by Cloud Functions target: `handler(request, svc) -> Flask reply`.

main.py exposes each as a functions-framework target (with the cached `services()`); the local
server mounts the same handlers under the contract's paths. Channel modules are imported on
first use so a cold start pays only for its own target.
"""
from __future__ import annotations

import time
from importlib import import_module
from typing import TYPE_CHECKING

from .config import ConfigError
from .logs import log
from .model import StorageUnavailable
from .web import bearer_ok, error_reply, json_reply, subpath

if TYPE_CHECKING:
    from .services.context import Services

UNAUTHORISED = "Butuh token admin (Authorization: Bearer KMC_ADMIN_TOKEN)."

# target -> (mount path under `serve`, "module:function" of the handler)
TARGETS: dict[str, tuple[str, str]] = {
    "meta_webhook": ("/meta", "functions.channels.meta:handle_meta"),
    "web_form": ("/form", "functions.channels.web_form:handle_form"),
    "open311": ("/open311", "functions.channels.open311:handle_open311"),
    "monitoring_intake": ("/monitoring", "functions.channels.monitoring:handle_monitoring"),
    "intake_worker": ("/jobs/intake", "functions.handlers:intake_task"),
    "sweep": ("/jobs/sweep", "functions.services.jobs:sweep_job"),
    "daily_digest": ("/jobs/daily", "functions.services.jobs:daily_job"),
    "media_monitor": ("/jobs/media", "functions.services.jobs:media_job"),
}
JOBS = {"sweep", "daily_digest", "media_monitor"}


def _load(ref: str):
    module, _, name = ref.partition(":")
    return getattr(import_module(module), name)


def handle(target: str, request, get_services):
    """Route one request to its target's handler; `/healthz` below any mount answers health.

    `get_services` builds (or returns the cached) Services; a store that cannot even be opened
    answers 503 so Meta and Cloud Scheduler retry, and a broken configuration answers 500.
    """
    mount, ref = TARGETS[target]
    try:
        svc = get_services()
    except StorageUnavailable as e:
        log("ERROR", "storage unavailable at startup", target=target, error=str(e))
        return error_reply("Layanan sedang tidak tersedia. Silakan coba lagi beberapa saat lagi.", 503)
    except ConfigError as e:
        log("CRITICAL", "configuration error", target=target, error=str(e))
        return error_reply("Layanan belum dikonfigurasi dengan benar. Hubungi admin KMC.", 500)
    if subpath(request, mount) == "/healthz":
        return json_reply({"ok": True, "function": target, "backend": svc.settings.backend})
    if target in JOBS:
        return run_job(request, svc, target, _load(ref))
    return _load(ref)(request, svc)


def run_job(request, svc: "Services", name: str, job):
    """A scheduled job over HTTP: POST, admin bearer (or IAM in the cloud), optional dry_run."""
    if request.method != "POST":
        return error_reply("Gunakan POST.", 405)
    if not bearer_ok(request, svc.settings):
        return error_reply(UNAUTHORISED, 401)
    dry_run = request.args.get("dry_run", "") in {"1", "true"}
    started = time.perf_counter()
    try:
        report = job(svc, dry_run=dry_run)
    except StorageUnavailable as e:
        log("ERROR", "job failed: storage unavailable", job=name, error=str(e))
        return error_reply("Penyimpanan sedang tidak tersedia; job akan dicoba lagi.", 503)
    log("INFO", "job done", job=name, ms=round((time.perf_counter() - started) * 1000))
    if getattr(report, "busy", False):  # another run holds the job: Cloud Scheduler may retry later
        return json_reply({"job": name, "summary": report.summary(), "dry_run": dry_run, "busy": True}, 409)
    return json_reply({"job": name, "summary": report.summary(), "dry_run": dry_run})


def intake_task(request, svc: "Services"):
    """`/jobs/intake`: one queued message from Cloud Tasks (OIDC, verified by the platform in the
    cloud; bearer KMC_ADMIN_TOKEN locally). 2xx = done; 503/500 = Cloud Tasks retries later."""
    from .queue.port import Job
    from .services.intake_worker import record_outcome, run_task

    if request.method != "POST":
        return error_reply("Gunakan POST.", 405)
    if not bearer_ok(request, svc.settings):
        return error_reply(UNAUTHORISED, 401)
    try:
        job = Job.from_json(request.get_data(cache=False))
    except (ValueError, KeyError, TypeError) as e:
        # Never succeeds on a retry: logged loudly and answered 200 so it is not retried forever.
        log("ERROR", "intake task: unreadable job body; dropped", error=type(e).__name__)
        return json_reply({"ok": False, "error": "Isi tugas tidak dapat dibaca."}, 200)
    try:
        retry_count = int(request.headers.get("X-CloudTasks-TaskRetryCount", "0") or 0)
    except ValueError:
        retry_count = 0
    outcome = run_task(svc, job, retry_count)
    if outcome.status == 200:
        return json_reply({"ok": True, **record_outcome(outcome.result)})
    message = ("Penyimpanan sedang tidak tersedia; tugas akan dicoba lagi." if outcome.status == 503
               else "Tugas gagal; akan dicoba lagi.")
    return json_reply({"ok": False, "error": message, "dead_letter": outcome.dead}, outcome.status)
