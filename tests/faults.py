"""A fault-injecting HTTP proxy in front of the S3 server: throttling, 5xx and dropped connections.

Requests pass through to the real server unless a rule matches; each rule fires a bounded
number of times, so a test decides exactly how many attempts fail (fewer than botocore's
retries: the job must ride through; more: the task must fail and Spark retry it).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import random
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

ERROR_BODIES = {
    503: b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
         b"<Message>Please reduce your request rate.</Message></Error>",
    500: b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InternalError</Code>"
         b"<Message>We encountered an internal error. Please try again.</Message></Error>",
}


@dataclass
class Rule:
    """Fail requests whose method matches and whose path matches ``path_pattern``.

    Attributes:
        status: an HTTP status to answer with, or 0 to drop the connection without an answer.
        times: how many matching requests fail; later ones pass.
        per_path: count ``times`` separately for every path (e.g. every image fails twice).
        share: fail each matching request with this probability (a seeded draw, so a run
            repeats), rather than each one.
        for_seconds: stop failing this long after the first matching request (a window of
            sustained throttling); None: no time limit.
    """

    method: str
    path_pattern: str
    status: int
    times: int
    per_path: bool = False
    share: float = 1.0
    for_seconds: float | None = None
    fired: dict = field(default_factory=dict)
    started: float | None = None
    draws: random.Random = field(default_factory=lambda: random.Random(0))

    def fires(self, method: str, path: str) -> bool:
        if method != self.method or not re.search(self.path_pattern, path):
            return False
        self.started = self.started or time.monotonic()
        if self.for_seconds is not None and time.monotonic() - self.started > self.for_seconds:
            return False
        key = path if self.per_path else "*"
        if self.draws.random() >= self.share or self.fired.get(key, 0) >= self.times:
            return False
        self.fired[key] = self.fired.get(key, 0) + 1
        return True

    @property
    def total_fired(self) -> int:
        return sum(self.fired.values())


class FaultProxy:
    """Listen on 127.0.0.1, forward to ``upstream`` (http://host:port), inject the rules' faults."""

    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self.rules: list[Rule] = []
        self.uploads: list[tuple[str, str | None, str]] = []  # (path, Content-MD5 sent, MD5 of the body)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # the test output stays readable
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.command == "PUT":
                    actual = base64.b64encode(hashlib.md5(body).digest()).decode()
                    with proxy._lock:
                        proxy.uploads.append((self.path, self.headers.get("Content-MD5"), actual))
                rule = proxy._matching_rule(self.command, self.path)
                if rule is not None and rule.status == 0:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if rule is not None:
                    payload = ERROR_BODIES.get(rule.status, b"")
                    self.send_response(rule.status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self._forward(body)

            def _forward(self, body: bytes):
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = proxy.upstream.netloc
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in {"content-length", "transfer-encoding", "connection"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _matching_rule(self, method: str, path: str) -> Rule | None:
        with self._lock:
            return next((r for r in self.rules if r.fires(method, path)), None)

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
