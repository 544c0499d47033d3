"""``flowser`` child processes for tests: their output kept, stopped by their PID; and a ``flowser serve``
on 127.0.0.1 and a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from flowser.testing import wait_until

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FlowserProcess:
    """``python -m flowser.cli ARGS`` in ``cwd``, with ``env`` (None: this process's environment); its
    stdout and stderr lines kept in ``lines``. With ``ready``, the constructor waits (at most ``startup``
    seconds) for a line holding that text, and fails if none comes or (``check``) the process ended."""

    def __init__(
        self,
        *args: str,
        cwd: str | os.PathLike[str] = ROOT,
        env: Mapping[str, str] | None = None,
        ready: str | None = None,
        startup: float = 30.0,
        check: bool = True,
    ) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowser.cli", *args],
            cwd=cwd,
            env=None if env is None else dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        seen = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if ready is not None and ready in line:
                    seen.set()
            seen.set()

        threading.Thread(target=read, daemon=True).start()
        if ready is not None and (not seen.wait(startup) or (check and self.proc.poll() is not None)):
            self.stop()
            raise RuntimeError(f"flowser {' '.join(args)} did not start: {self.lines[-20:]}")

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_log(self, text: str, timeout: float = 20.0) -> None:
        try:
            wait_until(lambda: text in self.log, timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"{text!r} not in the log of {self.args}:\n{self.log}") from None

    def stop(self, grace: float = 15.0) -> int:
        """SIGTERM, and SIGKILL past ``grace`` seconds; the exit status."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(5)


class ServeProcess(FlowserProcess):
    """``flowser serve --host 127.0.0.1 --port P --redis URL --poll-hold 0.3 [ARGS...]`` until ``stop()``
    (``check=False``: a server that refuses to start is no error); ``env`` is added to this process's
    environment, whose ``FLOWSER_*`` variables are left out (the server gets its store from ``--redis``)."""

    def __init__(
        self, redis_url: str, *args: str, env: dict[str, str] | None = None, startup: float = 30.0, check: bool = True
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.redis_url = redis_url
        environ = {k: v for k, v in os.environ.items() if not k.startswith("FLOWSER_")}
        super().__init__(
            "serve", "--host", "127.0.0.1", "--port", str(self.port), "--redis", redis_url, "--poll-hold", "0.3", *args,
            env={**environ, **(env or {})}, ready="listening on", startup=startup, check=check,
        )
