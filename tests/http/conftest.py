"""Real ``flowser serve`` processes for the HTTP tests, and clients to drive them.

``serve(*options)`` starts ``python -m flowser.cli serve --port <free> --redis
<redis_url> *options`` and waits for its "listening on" line; every process a
test started is stopped (SIGTERM, then SIGKILL) when the test ends.
``server`` is one such process shared by a module (poll hold 1 s).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
KEY_ID = "AKIDTEST"
SECRET = "secret-test-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One ``flowser serve`` child process."""

    def __init__(self, redis_url: str | None, *options: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "flowser.cli", "serve", "--port", str(self.port)]
        if redis_url is not None:
            command += ["--redis", redis_url]
        command += list(options)
        self.launched = time.monotonic()
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._ready = threading.Event()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.errors, False), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_after: float | None = None

    def _read(self, stream: Any, into: list[str], watch: bool) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))
            if watch and "listening on" in line:
                self.ready_after = time.monotonic() - self.launched
                self._ready.set()
        if watch:
            self._ready.set()

    def wait_ready(self, timeout: float = 20.0) -> Server:
        if not self._ready.wait(timeout) or self.ready_after is None:
            self.kill()
            raise RuntimeError(f"flowser serve did not start: {self.lines} {self.errors[-20:]}")
        assert self.lines[-1].endswith(self.url), self.lines
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def client(self, **kwargs: Any) -> Any:
        return swf_client(self.url, **kwargs)


def swf_client(
    url: str | None,
    *,
    key: str = KEY_ID,
    secret: str = SECRET,
    read_timeout: float = 70,
    retries: int = 1,
) -> Any:
    config = Config(read_timeout=read_timeout, connect_timeout=5, retries={"max_attempts": retries, "mode": "standard"})
    kwargs: dict[str, Any] = {} if url is None else {"endpoint_url": url}
    return boto3.session.Session().client(
        "swf", region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret, config=config, **kwargs
    )


@pytest.fixture
def serve(redis_url: str) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(*options: str, redis: str | None = "", env: dict[str, str] | None = None, wait: bool = True) -> Server:
        server = Server(redis_url if redis == "" else redis, *options, env=env)
        started.append(server)
        return server.wait_ready() if wait else server

    yield start
    for server in started:
        try:
            server.stop(timeout=10)
        except Exception:
            server.kill()


@pytest.fixture(scope="module")
def server(redis_url: str) -> Iterator[Server]:
    process = Server(redis_url, "--poll-hold", "1").wait_ready()
    yield process
    process.stop()


@pytest.fixture
def domain() -> str:
    return f"d-{uuid.uuid4().hex[:12]}"


def raw(url: str, target: str | None, body: bytes | str | dict[str, Any], headers: dict[str, str] | None = None,
        method: str = "POST", path: str = "/", timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request with exactly these headers (plus Host and Content-Length)."""
    import http.client

    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        sent = {"Content-Type": "application/x-amz-json-1.0"}
        if target is not None:
            sent["X-Amz-Target"] = target
        sent.update(headers or {})
        conn.request(method, path, body=body, headers={k: v for k, v in sent.items() if v is not None})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def target(operation: str) -> str:
    return f"SimpleWorkflowService.{operation}"


def register_basics(client: Any, domain: str, task_list: str = "tl") -> None:
    """A domain with workflow type wf/1 and activity type act/1, both defaulting to ``task_list``."""
    client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    client.register_workflow_type(
        domain=domain,
        name="wf",
        version="1",
        defaultTaskList={"name": task_list},
        defaultExecutionStartToCloseTimeout="600",
        defaultTaskStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE",
    )
    client.register_activity_type(
        domain=domain,
        name="act",
        version="1",
        defaultTaskList={"name": task_list},
        defaultTaskScheduleToStartTimeout="600",
        defaultTaskScheduleToCloseTimeout="600",
        defaultTaskStartToCloseTimeout="600",
        defaultTaskHeartbeatTimeout="NONE",
    )
