"""A real HTTP server on 127.0.0.1 serving news feeds the way news sites do (and misbehave).

Each route is a `Route`: a body (bytes, or a callable returning bytes for the current state),
its headers, whether it honours If-None-Match / If-Modified-Since, and misbehaviours (delay
before the answer, trickling, redirects, a huge body). Every request is recorded with its
headers and the status answered, so tests can check conditional GETs.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client that gave up (timeout, size cap) is expected here, not an error."""
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@dataclass
class Route:
    body: bytes | Callable[[], bytes] = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str = ""
    last_modified: str = ""
    status: int = 200
    location: str = ""  # for redirects (status 301/302/307)
    delay: float = 0.0  # seconds before answering at all
    trickle: float = 0.0  # seconds between single bytes of the body
    stream_bytes: int = 0  # send this many bytes of filler without Content-Length
    content_length: bool = True
    unavailable: int = 0  # answer 503 (Retry-After: 0) to this many requests first


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class FeedServer:
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def start(self) -> "FeedServer":
        server_ref = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                route = server_ref.routes.get(self.path)
                headers = {k: v for k, v in self.headers.items()}
                if route is None:
                    return self._answer(404, b"not found", "text/plain", headers)
                if route.delay:
                    time.sleep(route.delay)
                if route.unavailable > 0:
                    route.unavailable -= 1
                    return self._answer(503, b"sibuk", "text/plain", headers, extra={"Retry-After": "0"})
                if route.location:
                    return self._answer(route.status, b"", "text/plain", headers,
                                        extra={"Location": route.location})
                inm = self.headers.get("If-None-Match")
                ims = self.headers.get("If-Modified-Since")
                if (route.etag and inm == route.etag) or (route.last_modified and ims == route.last_modified):
                    return self._answer(304, b"", "", headers, extra=self._validators(route))
                if route.stream_bytes:
                    return self._stream(route, headers)
                body = route.body() if callable(route.body) else route.body
                if route.trickle:
                    return self._trickle(route, body, headers)
                self._answer(route.status, body, route.content_type, headers,
                             extra=self._validators(route), length=route.content_length)

            @staticmethod
            def _validators(route: Route) -> dict[str, str]:
                out = {}
                if route.etag:
                    out["ETag"] = route.etag
                if route.last_modified:
                    out["Last-Modified"] = route.last_modified
                return out

            def _answer(self, status, body, ctype, headers, extra=None, length=True):
                server_ref.seen.append(Seen(self.path, headers, status))
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                if length or status == 304:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if body:
                    try:
                        self.wfile.write(body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass

            def _stream(self, route, headers):
                server_ref.seen.append(Seen(self.path, headers, 200))
                self.send_response(200)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()
                chunk = b"<!-- " + b"x" * 65_000 + b" -->\n"
                sent = 0
                try:
                    self.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>Besar</title>')
                    while sent < route.stream_bytes:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _trickle(self, route, body, headers):
                server_ref.seen.append(Seen(self.path, headers, 200))
                self.send_response(200)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for i in range(len(body)):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(route.trickle)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return self

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
