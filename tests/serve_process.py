"""A ``flowser serve`` process for tests: on 127.0.0.1, a free port, its output kept, stopped by its PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """``python -m flowser.cli serve --host 127.0.0.1 --port P --redis URL --poll-hold 0.3 [ARGS...]``
    until ``stop()`` (``check=False``: a server that refuses to start is no error); ``env`` is added to this process's environment, whose ``FLOWSER_*`` variables
    are left out (the server gets its store from ``--redis``)."""

    def __init__(
        self, redis_url: str, *args: str, env: dict[str, str] | None = None, startup: float = 30.0, check: bool = True
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable, "-m", "flowser.cli", "serve",
            "--host", "127.0.0.1", "--port", str(self.port), "--redis", redis_url, "--poll-hold", "0.3", *args,
        ]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("FLOWSER_")}
        self.proc = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**environ, **(env or {})}
        )
        self.lines: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if "listening on" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(startup) or (check and self.proc.poll() is not None):
            self.stop()
            raise RuntimeError(f"flowser serve {' '.join(args)} did not start: {self.lines[-20:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
