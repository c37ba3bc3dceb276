"""KMC Aduan entry points: Cloud Functions targets (functions-framework) and the local CLI.

Each target hands the request to its handler with the process-wide services; everything else
lives in `functions/`. Deploy with `--entry-point=<target>` (see scripts/deploy.sh).
"""
from __future__ import annotations

import sys

import functions_framework

from functions.bootstrap import services
from functions.handlers import handle


@functions_framework.http
def meta_webhook(request):
    """WhatsApp Cloud API, Messenger, Instagram and Page webhooks (GET handshake, POST signed)."""
    return handle("meta_webhook", request, services)


@functions_framework.http
def web_form(request):
    """The citizen complaint form (`/form`) and the public status page (`/form/status`)."""
    return handle("web_form", request, services)


@functions_framework.http
def open311(request):
    """GeoReport v2: services.json, requests.json, requests/{id}.json."""
    return handle("open311", request, services)


@functions_framework.http
def monitoring_intake(request):
    """A finding from KMC's social-media monitoring (bearer KMC_ADMIN_TOKEN)."""
    return handle("monitoring_intake", request, services)


@functions_framework.http
def intake_worker(request):
    """Private: one queued message from Cloud Tasks (OIDC): store it, then answer the citizen."""
    return handle("intake_worker", request, services)


@functions_framework.http
def sweep(request):
    """Every 15 minutes: new responses, SLA judgement, replies to citizens, forwarding."""
    return handle("sweep", request, services)


@functions_framework.http
def daily_digest(request):
    """07:00 WIB: mark overdue cases, digest email to leadership, per-OPD overdue lists."""
    return handle("daily_digest", request, services)


@functions_framework.http
def media_monitor(request):
    """Hourly: read news feeds, turn negative items about the regency into cases."""
    return handle("media_monitor", request, services)


if __name__ == "__main__":
    from functions.cli import main

    sys.exit(main(sys.argv[1:]))
