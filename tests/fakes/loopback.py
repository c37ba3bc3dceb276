"""Run a fake's WSGI app on a loopback port in a thread: `with LoopbackServer(app) as s: s.port`."""
from __future__ import annotations

import threading


class LoopbackServer:
    def __init__(self, wsgi, host: str = "127.0.0.1", port: int = 0, *, url_suffix: str = ""):
        from werkzeug.serving import make_server

        self.server = make_server(host, port, wsgi, threaded=True)
        self.host = f"{host}:{self.server.server_port}"
        self.url = f"http://{self.host}{url_suffix}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
