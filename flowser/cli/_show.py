"""Output helpers for the domains, types and executions commands: rows as a table, JSON or JSON lines.

Values from SWF go into rich ``Text`` objects, never into markup: a description
or workflowId with ``[brackets]`` prints as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .common import Session, format_duration

CLOSE_STYLES = {
    "COMPLETED": "green",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "TERMINATED": "magenta",
    "CANCELED": "yellow",
    "CONTINUED_AS_NEW": "cyan",
}
REGISTRATION_STYLES = {"REGISTERED": "green", "DEPRECATED": "yellow"}


def text(value: Any, style: str = "") -> Any:
    """A table cell: ``value`` as plain text ("-" for None)."""
    from rich.text import Text

    return Text("-" if value is None or value == "" else str(value), style=style)


def table(*columns: str | tuple[str, dict[str, Any]], **options: Any) -> Any:
    """A borderless rich Table with these headers; a header may come with add_column keywords."""
    from rich.table import Table

    grid = Table(box=None, pad_edge=False, show_edge=False, **options)
    for column in columns:
        name, options = (column, {}) if isinstance(column, str) else column
        grid.add_column(name, **{"overflow": "fold", **options})
    return grid


def emit(session: Session, rows: Sequence[Any], build: Callable[[], Any]) -> None:
    """``rows`` as JSON (one array), JSON lines, or the table ``build()`` makes (``session.output``)."""
    if session.output == "json":
        session.echo(session.dump(list(rows)))
    elif session.output == "jsonl":
        for row in rows:
            session.echo(session.dump(row))
    else:
        session.console.print(build())


def fields(pairs: Iterable[tuple[str, Any]]) -> Any:
    """A two-column grid of a record's fields (name, value)."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in pairs:
        grid.add_row(name, value if hasattr(value, "__rich_console__") else text(value))
    return grid


def seconds(value: Any) -> str:
    """An SWF duration (seconds as a string, or NONE) for people: 300 -> 5m00s."""
    if value is None or value == "":
        return "-"
    if str(value).upper() == "NONE":
        return "none"
    try:
        number = float(value)
    except ValueError:
        return str(value)
    return f"{number:.0f}s" if number < 60 and number == int(number) else format_duration(number)


def type_name(value: dict[str, Any] | None) -> str:
    """A workflow or activity type as NAME:VERSION."""
    if not value:
        return "-"
    return f"{value.get('name')}:{value.get('version')}"
