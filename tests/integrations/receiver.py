"""A real webhook receiver on 127.0.0.1 for the tests: a threaded HTTP server that verifies each
delivery's signature with the function printed in docs/webhooks.md (read from the page, so the
documented snippet is what is tested), records what it got, and answers as a script says: 200, an
error status, a redirect, or nothing for a while (slow)."""

from __future__ import annotations

import http.server
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verifier() -> Callable[..., bool]:
    """``verify_clearance_signature`` as docs/webhooks.md prints it."""
    text = DOCS.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    source = next(b for b in blocks if "def verify_clearance_signature" in b)
    namespace: dict[str, Any] = {}
    exec(compile(source, str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify_clearance_signature"]  # type: ignore[no-any-return]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float


@dataclass
class Receiver:
    secret: str = ""
    port: int = 0
    # What to answer, one entry per request (then ``default``): an int status, ("redirect", url),
    # or ("slow", seconds, status).
    script: list[Any] = field(default_factory=list)
    default: Any = 200
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.verify = documented_verifier()
        self.lock = threading.Lock()
        self.server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/clearance"

    def start(self) -> Receiver:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                ok = bool(outer.secret) and outer.verify(outer.secret, headers.get("clearance-signature", ""), body)
                with outer.lock:
                    outer.received.append(Received(self.path, headers, body, ok, time.monotonic()))
                    action = outer.script.pop(0) if outer.script else outer.default
                if isinstance(action, tuple) and action[0] == "slow":
                    time.sleep(action[1])
                    action = action[2]
                if isinstance(action, tuple) and action[0] == "redirect":
                    self.send_response(302)
                    self.send_header("Location", action[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = int(action) if ok or not outer.secret else 401
                reply = b'{"ok": true}' if status < 300 else b"no thanks"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting (the slow case)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def deliveries(self) -> list[str]:
        return [r.headers.get("clearance-delivery", "") for r in self.received]
