"""Real processes and servers for the fault tests: Celery workers and beat on a queue of their own, a
private redis-server the test may kill and restart, a minimal SMTP server and an HTTP server that can
be told to hang mid-answer."""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.test_celery_worker import BASE_DIR, wait_for

STARTED = time.monotonic()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """A child process whose output is collected line by line."""

    def __init__(self, argv: list[str], env: dict[str, str], *, ready: str, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            argv, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert self.proc.stdout is not None
        stdout = self.proc.stdout

        def read() -> None:
            for line in iter(stdout.readline, ""):
                self.lines.append(f"{time.monotonic() - STARTED:8.2f}  {line}")

        threading.Thread(target=read, daemon=True).start()
        wait_for(lambda: any(ready in line for line in self.lines) or self.proc.poll() is not None, 90,
                 f"{name} to start")
        assert self.proc.poll() is None, "".join(self.lines)

    def tail(self, n: int = 60) -> str:
        return f"\n--- {self.name} ---\n" + "".join(self.lines[-n:])

    def kill(self) -> None:
        """SIGKILL: no handler, no clean-up, no acknowledgement; like a host that lost power."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def celery_worker(queue: str, env: dict[str, str], name: str = "worker") -> Process:
    return Process(
        [sys.executable, "-m", "celery", "-A", "clearance", "worker", "--pool", "solo", "-Q", queue,
         "--loglevel", "INFO", "--without-mingle", "--without-gossip",
         "--hostname", f"{queue}-{name}-{time.monotonic_ns() % 10_000}@%h"],
        env, ready="ready.", name=name,
    )


def celery_beat(env: dict[str, str], schedule: Path) -> Process:
    return Process([sys.executable, "-m", "celery", "-A", "clearance", "beat", "--schedule", str(schedule),
                    "--loglevel", "INFO"], env, ready="beat: Starting", name="beat")


class PrivateRedis:
    """A redis-server owned by the test, on a free port of 127.0.0.1, keeping nothing on disk (no RDB
    snapshot, no append-only file): a restart loses every message, like a failover to a fresh node."""

    def __init__(self, directory: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.binary is not None
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--daemonize", "no", "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, 20, "the private redis-server to answer")

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:
            return False

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def restart(self) -> None:
        self.stop(hard=True)
        self.start()

    def stop(self, *, hard: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if hard:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(timeout=20)


class SmtpServer:
    """Just enough SMTP for Django's backend. While ``hang`` is set, a connection is accepted and
    never greeted: the sender waits inside its SMTP session, as with a mail server that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.messages: list[str] = []
        self.hang = threading.Event()
        self.hung = 0
        self._closing = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        with conn:
            if self.hang.is_set():
                self.hung += 1
                self._closing.wait(120)
                return
            reader = conn.makefile("rb")
            conn.sendall(b"220 clearance-test ESMTP\r\n")
            while True:
                line = reader.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    body = []
                    for data in iter(reader.readline, b""):
                        if data in (b".\r\n", b".\n"):
                            break
                        body.append(data.decode("utf-8", "replace"))
                    self.messages.append("".join(body))
                    conn.sendall(b"250 queued\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                elif verb in (b"EHLO", b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                    conn.sendall(b"250 ok\r\n")
                else:
                    conn.sendall(b"502 not implemented\r\n")

    def close(self) -> None:
        self._closing.set()
        self.sock.close()


class HangingHttp:
    """Serves one file; while ``hang`` is set an answer stops half-way through its body and waits."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.hang = threading.Event()
        self.release = threading.Event()
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Last-Modified", "Wed, 18 Nov 2026 08:00:00 GMT")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                if outer.hang.is_set():
                    self.wfile.write(outer.body[: len(outer.body) // 2])
                    self.wfile.flush()
                    outer.release.wait(120)
                    return
                self.wfile.write(outer.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/results.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def base_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
