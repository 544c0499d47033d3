"""What every operator command shares: the backend and domain options, the client, output and errors.

A command declares its options with the decorators here and receives one
:class:`Session` (``session`` parameter)::

    @click.command("describe")
    @backend_options(domain=True)
    @click.argument("workflow_id")
    def describe(session: Session, workflow_id: str) -> None:
        run = session.client.describe_workflow_execution(domain=session.domain, ...)
        session.console.print(...)

The client is a boto3 SWF client from ``backends.connect`` (this package is a
composition root: the only part of ``flowser/`` besides ``testing.py`` that
imports ``backends``). It is made on first use, so ``--help`` and usage
mistakes never start an engine.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

OUTPUTS = ("table", "json", "jsonl")
TIME_FORMATS = ("relative", "iso")


class CliError(Exception):
    """A mistake or failure to report as one line, ``<where>: <message>``, with an exit status."""

    def __init__(self, message: str, status: int = 1, where: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        ctx = click.get_current_context(silent=True)
        self.where = where or (ctx.command_path if ctx is not None else "flowser")


def usage_error(message: str) -> CliError:
    """A usage mistake found after parsing (exit 2)."""
    return CliError(message, status=2)


def fault_line(exc: BaseException) -> str | None:
    """One line for an SWF fault or a backend that cannot be reached; None for anything else (a bug)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):  # botocore's ClientError
        error = response["Error"]
        code = error.get("Code") or type(exc).__name__
        message = (error.get("Message") or "").strip()
        return f"{code}: {message}" if message else str(code)
    module = type(exc).__module__ or ""
    if module.startswith(("botocore", "urllib3")) or isinstance(exc, ConnectionError | TimeoutError):
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"cannot reach the backend: {text}"
    return None


class Session:
    """The options every command shares, and the client they lead to (made on first use)."""

    def __init__(
        self,
        backend: str | None,
        domain: str | None,
        region: str | None,
        profile: str | None,
        color: bool | None,
        output: str = "table",
        time_format: str = "relative",
    ) -> None:
        self.backend = backend
        self._domain = domain
        self.region = region
        self.profile = profile
        self.output = output
        self.time_format = time_format
        self._color = color
        self._client: Any = None
        self._console: Any = None

    @property
    def domain(self) -> str:
        if not self._domain:
            raise usage_error("name the domain with --domain or $FLOWSER_DOMAIN")
        return self._domain

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect(self.backend, region=self.region, profile=self.profile)
        return self._client

    @property
    def console(self) -> Any:
        """A rich Console on stdout: colour only on a terminal, never with --no-color or $NO_COLOR."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                no_color=self._color is False or bool(os.environ.get("NO_COLOR")),
                highlight=False,
                soft_wrap=False,
            )
        return self._console

    def close(self) -> None:
        """Let the client go (the local engine's timekeeper thread and Redis connections with it)."""
        client, self._client = self._client, None
        if client is not None and hasattr(client, "close"):
            client.close()

    def echo(self, text: str = "") -> None:
        """A plain line on stdout (no markup)."""
        click.echo(text)

    def warn(self, text: str) -> None:
        """A note on stderr, prefixed with the command."""
        ctx = click.get_current_context(silent=True)
        click.echo(f"{ctx.command_path if ctx else 'flowser'}: {text}", err=True)

    def time(self, value: Any, now: dt.datetime | None = None) -> str:
        """A timestamp as this session shows them (relative: "3m ago"; iso: UTC ISO 8601)."""
        return format_time(value, self.time_format, now)

    def dump(self, value: Any) -> str:
        """One JSON document (datetimes as ISO 8601)."""
        return json.dumps(value, default=_json_default, ensure_ascii=False)


def connect(backend: str | None, *, region: str | None = None, profile: str | None = None) -> Any:
    """A boto3 SWF client for ``--backend``; a configuration mistake is a one-line CliError (exit 2)."""
    import backends

    kw: dict[str, Any] = {}
    if region:
        kw["region_name"] = region
    if profile:
        kw["profile_name"] = profile
    try:
        return backends.connect(backend, **kw)
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    except Exception as exc:
        name = type(exc).__name__
        if name == "NoRegionError":
            raise usage_error(
                f"--backend {backend}: no AWS region is configured: use --region, --backend aws://REGION "
                "or AWS_REGION"
            ) from None
        if name == "ProfileNotFound":
            raise usage_error(f"--profile {profile}: no such AWS profile") from None
        if isinstance(exc, OSError | RuntimeError):
            raise CliError(f"cannot start the local engine: {exc}", status=2) from None
        raise


def backend_options(*, domain: bool = True, output: bool = False) -> Callable[[F], F]:
    """Add --backend/--region/--profile/--no-color (and --domain, -o/--output, --time-format) and pass ``session``."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(**kw: Any) -> Any:
            session = Session(
                kw.pop("backend"),
                kw.pop("domain", None),
                kw.pop("region"),
                kw.pop("profile"),
                kw.pop("color"),
                kw.pop("output", "table"),
                kw.pop("time_format", "relative"),
            )
            try:
                return fn(session=session, **kw)
            finally:
                session.close()

        options = [
            click.option(
                "--backend",
                envvar="FLOWSER_BACKEND",
                metavar="URL",
                help="local (the embedded engine; default), redis://..., http://host:port or aws[://REGION] "
                "[$FLOWSER_BACKEND]",
            ),
            click.option("--region", envvar=None, metavar="REGION", help="AWS region (with --backend aws)"),
            click.option("--profile", metavar="NAME", help="AWS profile (with --backend aws)"),
            click.option("--color/--no-color", "color", default=None, help="colour (default: on a terminal only)"),
        ]
        if domain:
            options.append(click.option("--domain", "-d", envvar="FLOWSER_DOMAIN", metavar="NAME", help="the SWF domain [$FLOWSER_DOMAIN]"))
        if output:
            options.append(
                click.option("--output", "-o", type=click.Choice(OUTPUTS), default="table", show_default=True, help="output format")
            )
            options.append(
                click.option(
                    "--time-format",
                    type=click.Choice(TIME_FORMATS),
                    default="relative",
                    show_default=True,
                    help="times as '3m ago' or as ISO 8601 (UTC)",
                )
            )
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


# -- times ------------------------------------------------------------------------------------
def as_datetime(value: Any) -> dt.datetime | None:
    """boto3's datetimes, epoch seconds or ISO strings, as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def format_time(value: Any, style: str = "relative", now: dt.datetime | None = None) -> str:
    when = as_datetime(value)
    if when is None:
        return "-"
    if style == "iso":
        return when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    seconds = ((now or dt.datetime.now(dt.UTC)) - when).total_seconds()
    return f"{format_duration(abs(seconds))} ago" if seconds >= 0 else f"in {format_duration(-seconds)}"


def format_duration(seconds: float | None) -> str:
    """1.2s, 3m04s, 2h05m, 3d04h; ms below a second (``render.duration_text`` with one decimal)."""
    from ..render import duration_text

    return duration_text(seconds, decimals=1)


def parse_time(text: str) -> dt.datetime:
    """A --since/--until value: ISO 8601 (UTC unless it says), or an age like 90s, 15m, 2h, 3d."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    raw = text.strip()
    if raw and raw[-1] in units and raw[:-1].replace(".", "", 1).isdigit():
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=float(raw[:-1]) * units[raw[-1]])
    try:
        return as_datetime(raw) or dt.datetime.now(dt.UTC)
    except ValueError:
        raise usage_error(f"{text!r} is neither an ISO 8601 time nor an age like 15m, 2h or 3d") from None


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return format_time(value, "iso")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"not JSON: {type(value).__name__}")


def read_input(value: str | None) -> str | None:
    """An input given as text, ``@file`` or ``-`` (stdin)."""
    if value is None:
        return None
    if value == "-":
        return sys.stdin.read()
    if value.startswith("@"):
        try:
            with open(value[1:], encoding="utf-8") as handle:
                return handle.read()
        except OSError as exc:
            raise usage_error(f"cannot read {value[1:]}: {exc.strerror}") from None
    return value
