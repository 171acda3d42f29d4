"""A loopback HTTP proxy in front of a real server that hangs or fails the endpoints a test chooses."""

from __future__ import annotations

import http.client
import http.server
import threading
import urllib.parse


class FaultyProxy:
    """Forwards every request to *upstream*, except paths in ``hang`` (never answered) and ``fail`` (path -> status).

    Both can change while the proxy runs. A hung request is held until the proxy closes.
    """

    def __init__(self, upstream: str) -> None:
        self.hang: set[str] = set()
        self.fail: dict[str, int] = {}
        self.seen: list[str] = []
        self._released = threading.Event()
        target = urllib.parse.urlsplit(upstream)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urllib.parse.urlsplit(self.path).path
                proxy.seen.append(path)
                if path in proxy.hang:
                    proxy._released.wait()
                    self.close_connection = True
                    return
                if path in proxy.fail:
                    self._answer(proxy.fail[path], b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "proxy"}',
                                 {"Content-Type": "application/json"})
                    return
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                try:
                    headers = {key: value for key, value in self.headers.items() if key.lower() != "host"}
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    self._answer(response.status, response.read(), dict(response.getheaders()))
                finally:
                    connection.close()

            def _answer(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in {"content-length", "transfer-encoding", "connection", "date", "server"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_args: object) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.uri = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultyProxy:  # noqa: PYI034 - a test helper, never subclassed
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
