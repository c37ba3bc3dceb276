"""The Cloud Tasks adapter against `responses` standing in for the Cloud Tasks v2 REST API.

What the stand-in enforces, from Google's reference:
- `POST https://cloudtasks.googleapis.com/v2/{parent=projects/*/locations/*/queues/*}/tasks` with
  body `{"task": Task}` creates a task (projects.locations.queues.tasks.create,
  https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues.tasks/create).
- `Task.name` is `projects/PROJECT_ID/locations/LOCATION_ID/queues/QUEUE_ID/tasks/TASK_ID`; TASK_ID
  may contain only letters, digits, hyphens and underscores, at most 500 characters.
- `Task.httpRequest` (HttpRequest): `url` (must be http or https), `httpMethod`, `headers`,
  `body` (bytes, base64 in JSON) and for authentication one of `oauthToken` / `oidcToken`
  (`OidcToken`: `serviceAccountEmail`, `audience`).
- "Explicitly specifying a task ID enables task de-duplication. If a task's ID is identical to
  that of an existing task or a task that was deleted or executed recently then the call will
  fail with ALREADY_EXISTS" (CreateTaskRequest docs; ~1 hour for queues created with Cloud
  Tasks). ALREADY_EXISTS is HTTP 409 in Google's JSON error shape
  `{"error": {"code": 409, "message": ..., "status": "ALREADY_EXISTS"}}`.
- Other errors use the same shape (PERMISSION_DENIED 403, INVALID_ARGUMENT 400, UNAVAILABLE 503).
"""
from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone

import pytest
import requests
import responses

from functions.http_client import HttpClient
from functions.queue.cloudtasks import API, CloudTasksQueue
from functions.queue.port import Job, QueueUnavailable

QUEUE = "projects/kmc-aduan/locations/asia-southeast2/queues/kmc-intake"
WORKER = "https://asia-southeast2-kmc-aduan.cloudfunctions.net/intake"
INVOKER = "kmc-tasks@kmc-aduan.iam.gserviceaccount.com"
TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,500}$")


class FakeCloudTasks:
    """tasks.create with the documented validation and de-duplication by task name."""

    def __init__(self):
        self.tasks: dict[str, dict] = {}
        self.calls = 0
        self.fail_next: list[tuple[int, str]] = []

    def install(self, rsps: responses.RequestsMock) -> None:
        rsps.add_callback(responses.POST, re.compile(rf"^{re.escape(API)}/projects/[^/]+/locations/[^/]+/queues/[^/]+/tasks$"),
                          callback=self.create)

    @staticmethod
    def error(code: int, status: str, message: str):
        return code, {"Content-Type": "application/json"}, json.dumps(
            {"error": {"code": code, "message": message, "status": status}})

    def create(self, request):
        self.calls += 1
        if self.fail_next:
            return self.error(*self.fail_next.pop(0), "injected")
        parent = request.url.removeprefix(API + "/").removesuffix("/tasks")
        body = json.loads(request.body)
        task = body.get("task")
        if not isinstance(task, dict):
            return self.error(400, "INVALID_ARGUMENT", "task is required")
        name = task.get("name", "")
        prefix = f"{parent}/tasks/"
        if not name.startswith(prefix) or not TASK_ID.match(name[len(prefix):]):
            return self.error(400, "INVALID_ARGUMENT", f"Task name is invalid: {name}")
        http = task.get("httpRequest") or {}
        if not str(http.get("url", "")).startswith(("http://", "https://")):
            return self.error(400, "INVALID_ARGUMENT", "HttpRequest.url must start with http:// or https://")
        if http.get("httpMethod") not in {"POST", "GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"}:
            return self.error(400, "INVALID_ARGUMENT", "bad httpMethod")
        if "oauthToken" in http and "oidcToken" in http:
            return self.error(400, "INVALID_ARGUMENT", "only one authorization header")
        try:
            base64.b64decode(http.get("body", ""), validate=True)
        except ValueError:
            return self.error(400, "INVALID_ARGUMENT", "body must be base64")
        if name in self.tasks:
            return self.error(409, "ALREADY_EXISTS", "Requested entity already exists")
        self.tasks[name] = task
        return 200, {"Content-Type": "application/json"}, json.dumps({**task, "dispatchCount": 0})


@pytest.fixture
def cloud():
    fake = FakeCloudTasks()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        yield fake


def queue(**kw) -> CloudTasksQueue:
    http = HttpClient(timeout=(1, 1), retries=1, backoff=0.0, sleep=lambda s: None, session=requests.Session())
    return CloudTasksQueue(QUEUE, WORKER, INVOKER, http=http, **kw)


def job(key="msg:wamid.ABC123==", ticket="KMC-261102-AB3X9") -> Job:
    return Job("inbound", key, {"channel": "WhatsApp", "message_id": key[4:], "text": "Jalan rusak"},
               datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc), ticket, "WhatsApp|6281234567801")


def test_a_job_becomes_a_named_http_task_with_an_oidc_token_for_the_worker(cloud):
    assert queue().put(job()) is True
    (name, task), = cloud.tasks.items()
    assert name.startswith(f"{QUEUE}/tasks/") and name.endswith("msg-wamid-ABC123--")
    http = task["httpRequest"]
    assert http["url"] == WORKER and http["httpMethod"] == "POST"
    assert http["headers"] == {"Content-Type": "application/json"}
    assert http["oidcToken"] == {"serviceAccountEmail": INVOKER, "audience": WORKER}
    assert Job.from_json(base64.b64decode(http["body"])) == job()  # the worker gets the job back whole


def test_a_redelivered_message_is_already_exists_which_is_a_duplicate_not_an_error(cloud):
    q = queue()
    assert q.put(job()) is True
    assert q.put(job()) is False  # Meta redelivered: same message id, same task name
    assert len(cloud.tasks) == 1
    assert q.put(job(key="msg:wamid.OTHER")) is True and len(cloud.tasks) == 2


def test_task_names_differ_for_keys_that_differ_only_in_characters_a_task_id_cannot_hold(cloud):
    q = queue()
    assert q.put(job(key="msg:wamid.A+B")) and q.put(job(key="msg:wamid.A/B"))
    assert len(cloud.tasks) == 2


def test_a_lost_reply_retried_is_answered_already_exists_and_counts_as_accepted(cloud):
    cloud.fail_next = [(503, "UNAVAILABLE")]
    assert queue().put(job()) is True  # the retry created it
    assert cloud.calls == 2


@pytest.mark.parametrize("code,status", [(403, "PERMISSION_DENIED"), (400, "INVALID_ARGUMENT"),
                                         (404, "NOT_FOUND"), (503, "UNAVAILABLE"), (429, "RESOURCE_EXHAUSTED")])
def test_errors_become_queue_unavailable_so_the_door_answers_503(cloud, code, status):
    cloud.fail_next = [(code, status)] * 3
    with pytest.raises(QueueUnavailable):
        queue().put(job())
    assert cloud.tasks == {}


def test_an_unreachable_api_is_queue_unavailable():
    q = queue()
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, re.compile(".*"), body=requests.ConnectionError("refused"))
        with pytest.raises(QueueUnavailable):
            q.put(job())


def test_a_queue_name_that_is_not_a_cloud_tasks_name_is_refused():
    with pytest.raises(ValueError):
        CloudTasksQueue("kmc-intake", WORKER, INVOKER)


def test_the_door_answers_duplicate_and_503_through_cloud_tasks(cloud, settings, clock):
    from dataclasses import replace

    from functions.bootstrap import build
    from functions.server import make_app
    from tests.fakes import meta_payloads as mp

    svc = build(replace(settings, whatsapp_app_secret=mp.APP_SECRET, whatsapp_phone_number_id=mp.PHONE_NUMBER_ID),
                clock=clock, queue=queue())
    client = make_app(svc).test_client()
    body, headers = mp.signed(mp.whatsapp([mp.wa_text("Jalan rusak di Desa Sandai", at=clock())]))
    assert client.post("/meta", data=body, headers=headers).get_json()["actions"] == ["queued"]
    assert client.post("/meta", data=body, headers=headers).get_json()["actions"] == ["duplicate"]
    cloud.fail_next = [(503, "UNAVAILABLE")] * 3
    other, headers = mp.signed(mp.whatsapp([mp.wa_text("Sampah menumpuk di pasar", at=clock())]))
    assert client.post("/meta", data=other, headers=headers).status_code == 503  # Meta redelivers
    assert not any(svc.workbook.read_all().values())  # the door stored nothing


def test_the_door_cold_import_does_not_load_a_google_client_library():
    import subprocess
    import sys

    code = ("import sys, main, functions.channels.meta, functions.queue.cloudtasks; "
            "print(sorted(m for m in sys.modules if m.startswith(('google.cloud.tasks', 'grpc', 'google.auth', 'google.api_core', 'google.protobuf'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=__import__("pathlib").Path(__file__).resolve().parents[2]).stdout
    assert out.strip() == "[]"
