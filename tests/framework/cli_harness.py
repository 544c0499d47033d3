"""``flowser ...`` run in-process against one backend, for the CLI tests: the local engine, a
``flowser serve`` process or moto. A test file subclasses ``Cli`` (its domain, its helpers) and makes
its ``cli`` fixture with ``cli_on``."""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from flowser.cli import main

BACKENDS = ["local", "http", "moto"]


@dataclass
class Result:
    status: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.out.splitlines()]

    def rows(self) -> list[list[str]]:
        """A table's rows below its header, split on runs of spaces."""
        return [line.split() for line in self.lines[1:] if line.strip()]


class Cli:
    """``flowser ...`` against one backend ($FLOWSER_BACKEND and $FLOWSER_DOMAIN set), and a client to drive runs."""

    def __init__(self, name: str, backend: str, client: Any, capsys: Any, monkeypatch: Any, *, domain: str, columns: int = 100) -> None:
        self.name, self.backend, self.client = name, backend, client
        self.capsys, self.monkeypatch = capsys, monkeypatch
        monkeypatch.setenv("FLOWSER_BACKEND", backend)
        monkeypatch.setenv("FLOWSER_DOMAIN", domain)
        monkeypatch.setenv("COLUMNS", str(columns))

    def __call__(self, *args: str, stdin: str = "") -> Result:
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        self.capsys.readouterr()
        status = main(list(args))
        out, err = self.capsys.readouterr()
        return Result(status, out, err)

    def json(self, *args: str) -> Any:
        result = self(*args, "-o", "json")
        assert result.status == 0, result.err
        return json.loads(result.out)

    def skip_on_moto(self, reason: str) -> None:
        if self.name == "moto":
            pytest.skip(reason)


@contextmanager
def cli_on(
    kind: str, request: pytest.FixtureRequest, redis_url: str, monkeypatch: Any, make: Callable[[str, str, Any], Cli]
) -> Iterator[Cli]:
    """``make(name, backend, client)`` on backend ``kind``: ``local`` (the engine in-process on
    ``redis_url``), ``http`` (the session's ``flowser serve`` process) or ``moto`` (``mock_aws``)."""
    import backends

    if kind == "moto":
        import boto3
        from moto import mock_aws

        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setattr("moto.swf.models.sleep", lambda seconds: time.sleep(min(seconds, 0.05)))
        with mock_aws():
            yield make("moto", "aws://us-east-1", boto3.client("swf", region_name="us-east-1"))
        return
    url = redis_url if kind == "local" else request.getfixturevalue("serve_process").url
    client = backends.connect(url, poll_hold=0.3) if kind == "local" else backends.connect(url)
    try:
        yield make(kind, url, client)
    finally:
        client.close()
