"""``flowser domains list|register|describe|deprecate|undeprecate``."""

from __future__ import annotations

from typing import Any

import click

from .common import Session, backend_options

STATUSES = ("REGISTERED", "DEPRECATED")


@click.group("domains", help="SWF domains: list, register, describe, deprecate, undeprecate.")
def domains() -> None:
    pass


def _all_domains(client: Any, status: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("list_domains").paginate(registrationStatus=status):
        found.extend(page.get("domainInfos", []))
    return found


@domains.command("list", help="Domains, registered and deprecated (or one status).")
@backend_options(domain=False, output=True)
@click.option("--status", type=click.Choice(STATUSES), default=None, help="only this registration status")
def list_domains(session: Session, status: str | None) -> None:
    rows = [d for s in ((status,) if status else STATUSES) for d in _all_domains(session.client, s)]
    rows.sort(key=lambda d: d["name"])
    if session.output == "json":
        session.echo(session.dump(rows))
        return
    if session.output == "jsonl":
        for row in rows:
            session.echo(session.dump(row))
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("NAME", "STATUS", "DESCRIPTION"):
        table.add_column(column, overflow="fold")
    for row in rows:
        colour = "green" if row["status"] == "REGISTERED" else "yellow"
        table.add_row(row["name"], f"[{colour}]{row['status']}[/]", row.get("description", ""))
    session.console.print(table)


COMMANDS = [domains]
