"""Google Cloud Tasks as the intake queue, over its v2 REST API through functions/http_client.py.

No client library: the official one pulls in grpc and protobuf, far beyond a door's 300 ms
cold-import budget; one JSON POST is all a door needs. Requests (Cloud Tasks REST v2,
https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues.tasks/create):

    POST https://cloudtasks.googleapis.com/v2/{queue}/tasks
    {"task": {"name": "{queue}/tasks/{id}",
              "httpRequest": {"url": ".../intake_worker", "httpMethod": "POST",
                              "headers": {"Content-Type": "application/json"},
                              "body": base64(job JSON),
                              "oidcToken": {"serviceAccountEmail": SA, "audience": URL}}}}

The OIDC audience is the worker's full URL, as the Cloud Tasks-to-functions tutorial needs it
(an audience of the bare host is refused with UNAUTHENTICATED: GoogleCloudPlatform/
nodejs-docs-samples#3267). The task id derives from the message's dedupe key, so a redelivery is refused with
ALREADY_EXISTS (HTTP 409), which we read as "a duplicate, already accepted" — Cloud Tasks keeps
the name reserved for about an hour after the task ran; later redeliveries are caught by the
worker's own idempotency (ticket from the message id). Authentication: the function's service
account through Application Default Credentials (metadata server), loaded on first use.
"""
from __future__ import annotations

import base64
import re
from typing import Callable

from ..gcp_auth import LazyRestClient, adc_session as gcp_adc_session
from ..http_client import HttpClient, HttpUnavailable
from ..logs import log
from .port import Job, QueueUnavailable, Waiting, task_id

API = "https://cloudtasks.googleapis.com/v2"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
QUEUE_NAME = re.compile(r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]+/queues/[A-Za-z0-9-]{1,100}$")


def adc_session():
    """An authorised requests session with the runtime service account (metadata server)."""
    return gcp_adc_session(SCOPE, QueueUnavailable, "Cloud Tasks")


class CloudTasksQueue(LazyRestClient):
    # Short timeouts: a door must answer within Meta's second; retries stay inside it.
    HTTP_OPTIONS = {"timeout": (2.0, 4.0), "retries": 1, "backoff": 0.2}

    def __init__(self, queue: str, worker_url: str, invoker: str, *, http: HttpClient | None = None,
                 session_factory: Callable[[], object] = adc_session, api: str = API):
        if not QUEUE_NAME.match(queue):
            raise ValueError(f"not a Cloud Tasks queue name: {queue!r}")
        self.queue = queue
        self.worker_url = worker_url
        self.invoker = invoker
        self.api = api.rstrip("/")
        self._http = http
        self._session_factory = session_factory

    @classmethod
    def from_settings(cls, settings, **kw) -> "CloudTasksQueue":
        return cls(settings.tasks_queue, settings.intake_worker_url, settings.tasks_invoker, **kw)

    def task_name(self, key: str) -> str:
        return f"{self.queue}/tasks/{task_id(key)}"

    def put(self, job: Job) -> bool:
        task = {
            "name": self.task_name(job.key),
            "httpRequest": {
                "url": self.worker_url,
                "httpMethod": "POST",
                "headers": {"Content-Type": "application/json"},
                "body": base64.b64encode(job.to_json().encode("utf-8")).decode("ascii"),
                "oidcToken": {"serviceAccountEmail": self.invoker, "audience": self.worker_url},
            },
        }
        try:
            # Creating a named task is idempotent: a retry after a lost reply gets ALREADY_EXISTS.
            resp = self.http.request("POST", f"{self.api}/{self.queue}/tasks", json={"task": task},
                                     idempotent=True)
        except HttpUnavailable as e:
            raise QueueUnavailable(f"Cloud Tasks unreachable: {e}") from e
        if resp.ok:
            return True
        status = _status(resp.body)
        if resp.status == 409 or status == "ALREADY_EXISTS":
            return False
        log("ERROR", "Cloud Tasks refused a task", status=resp.status, reason=status, kind=job.kind)
        raise QueueUnavailable(f"Cloud Tasks answered {resp.status} {status}")

    def lookup(self, ticket: str) -> Waiting | None:
        """Cloud Tasks cannot be searched by ticket: the status page relies on the snapshot."""
        return None


def _status(body) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("status", ""))
    return ""
