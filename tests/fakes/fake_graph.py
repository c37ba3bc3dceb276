"""A stateful stand-in for the Graph API endpoints the messenger calls, with fault injection.

Endpoints: `POST /{version}/{phone-number-id}/messages` (WhatsApp Cloud API), `POST
/{version}/me/messages` (Messenger/Instagram Send API), `POST /{version}/{id}/comments|replies`
(public answers). Every accepted message is kept in `sent` with its recipient and text; a bad or
missing bearer token answers Meta's 190 error. Faults (`inject`) mirror the Sheets fake: "500",
"503", "429", "timeout" (nothing applied, the reply never comes), "reset" (connection reset
before anything was applied) and "applied_timeout" (the message went out, the reply was lost),
and "code:N" (Meta's error N in the body, e.g. "code:130429" rate limit hit).

Templates are checked as the Cloud API checks them: `type=template` needs `template.name` and
`template.language.code`; each component a `type` and text parameters without new lines, tabs or
more than four spaces in a row (131009). With `templates` set ({name: body parameter count},
the approved ones in language "id"), an unknown name answers 132001 and a wrong parameter count
132000. Shape from Meta's template object (whatsapp.github.io/WhatsApp-Nodejs-SDK
api-reference/types/TemplateObject) and error codes from Meta's Cloud API error-code table.

Use it in-process with `responses` (`fake.install(rsps)`) or on loopback (`with fake.serve() as
base_url:`) for META_GRAPH_URL.
"""
from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.loopback import LoopbackServer

GRAPH = "https://graph.facebook.com/v21.0"


@dataclass
class GraphMessage:
    to: str
    kind: str  # text | template | comment
    text: str
    path: str


@dataclass
class GraphFault:
    kind: str
    times: int = 1


@dataclass
class FakeGraph:
    token: str = "EAAG-test-access-token"
    sent: list[GraphMessage] = field(default_factory=list)
    faults: deque = field(default_factory=deque)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    templates: dict[str, int] | None = None  # approved templates -> body parameter count
    bodies: list[dict] = field(default_factory=list)  # every accepted request body, as sent

    def inject(self, kind: str, times: int = 1) -> None:
        self.faults.append(GraphFault(kind, times))

    def texts_to(self, to: str) -> list[str]:
        return [m.text for m in self.sent if m.to == to]

    def _fault(self) -> str | None:
        if not self.faults:
            return None
        fault = self.faults[0]
        fault.times -= 1
        if fault.times <= 0:
            self.faults.popleft()
        return fault.kind

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes | str | None
               ) -> tuple[int, dict, str | None]:
        """(status, JSON body, transport fault) for one request."""
        with self.lock:
            self.attempts += 1
            fault = self._fault()
            if fault in {"500", "503", "429"}:
                code = int(fault)
                return code, {"error": {"message": "Injected fault", "type": "OAuthException",
                                        "code": 4 if code == 429 else 2, "fbtrace_id": "FAKE"}}, None
            if fault in {"timeout", "reset"}:
                return 0, {}, fault
            if fault and fault.startswith("code:"):
                return 400, _error(int(fault[5:]), "Injected error"), None
            if headers.get("Authorization", headers.get("authorization", "")) != f"Bearer {self.token}":
                return 401, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException",
                                       "code": 190, "fbtrace_id": "FAKE"}}, None
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                return 400, {"error": {"message": "bad JSON", "code": 100}}, None
            message = _message_of(path, data)
            if message is None:
                return 400, {"error": {"message": f"Unsupported post request: {path}", "code": 100}}, None
            if data.get("type") == "template":
                refused = self._check_template(data)
                if refused:
                    return 400, refused, None
            self.sent.append(message)
            self.bodies.append(data)
            mid = f"wamid.FAKE{next(self._ids):08d}"
            reply: dict[str, Any] = ({"messaging_product": "whatsapp", "contacts": [{"input": message.to,
                                                                                      "wa_id": message.to}],
                                      "messages": [{"id": mid}]}
                                     if path.endswith("/messages") and "/me/" not in path
                                     else {"recipient_id": message.to, "message_id": mid, "id": mid})
            if fault == "applied_timeout":
                return 200, reply, "timeout"
            return 200, reply, None

    def _check_template(self, data: dict) -> dict | None:
        if data.get("messaging_product") != "whatsapp" or not (data.get("to") or data.get("recipient")):
            return _error(100, "(#100) The parameter messaging_product is required.")
        template = data.get("template")
        if not isinstance(template, dict) or not isinstance(template.get("name"), str):
            return _error(131008, "Required parameter is missing: template.name")
        language = template.get("language")
        if not isinstance(language, dict) or not isinstance(language.get("code"), str):
            return _error(131008, "Required parameter is missing: template.language.code")
        count = 0
        for component in template.get("components", []):
            if component.get("type") not in {"header", "body", "button"}:
                return _error(131009, "Parameter value is not valid: component type")
            for p in component.get("parameters", []):
                text = p.get("text")
                if p.get("type") != "text" or not isinstance(text, str) or not text:
                    return _error(131009, "Parameter value is not valid")
                if "\n" in text or "\t" in text or "     " in text:
                    return _error(131009, "Param text cannot have new-line/tab characters or more than 4 consecutive spaces")
                count += component.get("type") == "body"
        if self.templates is not None:
            if template["name"] not in self.templates or language["code"] != "id":
                return _error(132001, "(#132001) Template name does not exist in the translation")
            if self.templates[template["name"]] != count:
                return _error(132000, "(#132000) Number of parameters does not match the expected number of params")
        return None

    # -- transports ---------------------------------------------------------------------------
    def install(self, rsps, base_url: str = GRAPH) -> None:
        import requests

        def callback(request):
            path = request.url.split("?", 1)[0][len(base_url.rstrip("/")):]
            status, body, fault = self.handle(request.method, path, dict(request.headers), request.body)
            if fault == "reset":
                raise requests.exceptions.ConnectionError("Connection reset by peer (injected)")
            if fault == "timeout":
                raise requests.exceptions.ReadTimeout("Read timed out (injected)")
            return status, {"Content-Type": "application/json"}, json.dumps(body)

        rsps.add_callback("POST", re.compile(re.escape(base_url.rstrip("/")) + r"/.*"), callback=callback)

    def wsgi(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {"Authorization": environ.get("HTTP_AUTHORIZATION", "")}
        status, payload, fault = self.handle(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), headers, body)
        if fault == "timeout":
            time.sleep(2.0)  # a reply that comes too late for a short client timeout
            status = status or 504
        elif fault == "reset":
            status, payload = 502, {"error": {"message": "Bad gateway (injected)", "code": 2}}
        data = json.dumps(payload).encode()
        start_response(f"{status} X", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> "GraphServer":
        return GraphServer(self, host, port)


def _error(code: int, message: str) -> dict:
    return {"error": {"message": message, "type": "OAuthException", "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": message}, "fbtrace_id": "FAKE"}}


def _message_of(path: str, data: dict) -> GraphMessage | None:
    if path.endswith("/me/messages"):
        recipient = data.get("recipient") or {}
        to = recipient.get("id") or (f"comment:{recipient['comment_id']}" if "comment_id" in recipient
                                     else f"post:{recipient.get('post_id', '')}")
        return GraphMessage(str(to), "text", str((data.get("message") or {}).get("text", "")), path)
    if path.endswith("/messages"):
        to = str(data.get("to") or data.get("recipient") or "")
        if data.get("type") == "template":
            params = [p.get("text", "") for c in data["template"].get("components", [])
                      for p in c.get("parameters", [])]
            return GraphMessage(to, "template", " | ".join(params), path)
        return GraphMessage(to, "text", str((data.get("text") or {}).get("body", "")), path)
    if path.endswith(("/comments", "/replies")):
        return GraphMessage(path.rsplit("/", 2)[-2], "comment", str(data.get("message", "")), path)
    return None


class GraphServer(LoopbackServer):
    """The fake on a loopback port in a thread: `with fake.serve() as base_url: ...`."""

    def __init__(self, fake: FakeGraph, host: str, port: int):
        super().__init__(fake.wsgi, host, port, url_suffix="/v21.0")
        self.base_url = self.url

    def __enter__(self) -> str:
        return self.base_url

    def __exit__(self, *exc) -> None:
        self.close()
