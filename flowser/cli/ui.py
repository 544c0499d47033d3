"""``flowser ui``: the web dashboard on its own; and the adapter that serves it on backends.http.

A composition root (with ``common.py`` and ``runtime.py``): it joins ``flowser.ui``, which
knows only a boto3 SWF client and its own request and answer types, to
``backends.http``'s server (``HttpServer``: limits, streaming, shutdown), for
``flowser ui`` and for ``flowser serve --ui`` (``runtime.run_serve``).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from .common import CliError, connect, usage_error

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8766
MAX_BODY = 64 << 20
"""Largest request body of ``flowser ui`` (an uploaded history file)."""


class Mount:
    """``backends.http``'s handler protocol over a ``flowser.ui.UI``."""

    def __init__(self, ui: Any) -> None:
        self.ui = ui

    def __call__(self, request: Any) -> Any:
        from backends.http.server import Response
        from flowser.ui.app import PREFIX
        from flowser.ui.app import Request as UiRequest

        if request.path == "/" and request.method in ("GET", "HEAD"):
            return Response(303, {"Location": PREFIX + "/", "Content-Length": "0"})
        answer = self.ui.handle(UiRequest(request.method, request.path, request.query, request.headers, request.body))
        return Response(answer.status, answer.headers, answer.body, stream=answer.stream)

    def http_error(self, status: int, code: str, message: str) -> Any:
        from backends.http.server import Response

        return Response(status, {"Content-Type": "text/plain; charset=utf-8"}, f"{code}: {message}\n".encode())


def credential_check(credentials: Any) -> tuple[Any, Any]:
    """``(check, allows)`` for ``flowser.ui.UI`` from ``backends.http.auth.Credentials`` (or None, None)."""
    if credentials is None:
        return None, None
    import hmac

    def key_of(key_id: str) -> Any:
        return credentials.keys.get(key_id)

    def check(key_id: str, secret: str) -> bool:
        key = key_of(key_id)
        return key is not None and hmac.compare_digest(key.secret_access_key.encode(), secret.encode())

    def allows(key_id: str, operation: str, domain: str) -> bool:
        key = key_of(key_id)
        return key is not None and (not operation or key.allows_action(operation)) and key.allows_domain(domain)

    return check, allows


def build_ui(client: Any, *, credentials: Any = None, backend: str | None = None, stopping: Any = None) -> Any:
    from flowser.ui import UI

    check, allows = credential_check(credentials)
    return UI(client, check=check, allows=allows, backend=backend, stopping=stopping)


def mount_for_serve(engine: Any, credentials: Any) -> Mount:
    """``flowser serve --ui``: the dashboard on an in-process client of the server's own engine."""
    from backends.local.client import local_client

    client = local_client(engine, region_name=engine.config.region)
    ui = build_ui(client, credentials=credentials, backend="this flowser serve", stopping=lambda: engine.stream.stopping)
    return Mount(ui)


@click.command(
    "ui",
    short_help="serve the web dashboard for any backend (flowser ui --help)",
    help="Serve the web dashboard (domains, executions, histories, actions) for any backend, on "
    f"http://{DEFAULT_HOST}:{DEFAULT_PORT}/ui/ by default. flowser serve --ui serves it beside the SWF endpoint.",
)
@click.option(
    "--backend",
    default=lambda: os.environ.get("FLOWSER_BACKEND"),
    metavar="URL",
    help="local (default), redis://..., http://host:port or aws ($FLOWSER_BACKEND)",
)
@click.option("--region", default=None, help="AWS region (for --backend aws)")
@click.option("--profile", default=None, help="AWS profile (for --backend aws)")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="address to bind")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int, help="port (0: any free port)")
@click.option(
    "--credentials",
    "credentials_file",
    metavar="FILE",
    default=None,
    help="JSON access keys (as flowser serve's): the dashboard asks for one before showing anything",
)
@click.option("--insecure", is_flag=True, help="allow a non-loopback --host without --credentials")
def ui_command(
    backend: str | None,
    region: str | None,
    profile: str | None,
    host: str,
    port: int,
    credentials_file: str | None,
    insecure: bool,
) -> int:
    from backends.http.auth import Credentials, CredentialsError
    from backends.http.serve import is_loopback
    from backends.http.server import HttpServer, Limits, ShutdownSignals

    credentials = None
    if credentials_file:
        try:
            credentials = Credentials.load(credentials_file)
        except CredentialsError as exc:
            raise usage_error(str(exc)) from None
    if credentials is None and not insecure and not is_loopback(host):
        raise usage_error(
            f"refusing to listen on {host} (not a loopback address) without credentials: give --credentials FILE, "
            "or --insecure to let anyone who can connect act on your executions"
        )
    client = connect(backend, region=region, profile=profile)
    stopping = False
    ui = build_ui(client, credentials=credentials, backend=backend or "local", stopping=lambda: stopping)
    try:
        server = HttpServer(Mount(ui), host, port, Limits(max_body=MAX_BODY))
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", status=1) from None

    with ShutdownSignals() as shutdown:
        server.start()
        print(f"flowser ui: dashboard on {server.url}/ui/", flush=True)
        try:
            shutdown.wait()
            stopping = True
            server.stop_accepting()
            server.wait_idle(5.0)
            server.close()
        finally:
            close = getattr(client, "close", None)
            if callable(close):
                close()
    print("flowser ui: stopped", file=sys.stderr, flush=True)
    return 0


COMMANDS = [ui_command]
