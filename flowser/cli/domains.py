"""``flowser domains list|register|describe|deprecate|undeprecate``."""

from __future__ import annotations

from typing import Any

import click

from ._show import REGISTRATION_STYLES, emit, fields, table, text
from .common import Session, backend_options, usage_error

STATUSES = ("REGISTERED", "DEPRECATED")


@click.group("domains", short_help="list, register, describe, deprecate and undeprecate domains", help="SWF domains: list, register, describe, deprecate, undeprecate.")
def domains() -> None:
    pass


def _all_domains(client: Any, status: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("list_domains").paginate(registrationStatus=status):
        found.extend(page.get("domainInfos", []))
    return found


@domains.command("list", help="Domains, registered and deprecated (or one status), by name.")
@backend_options(domain=False, output=True)
@click.option("--status", type=click.Choice(STATUSES, case_sensitive=False), default=None, help="only this registration status")
def list_domains(session: Session, status: str | None) -> None:
    rows = [d for s in ((status.upper(),) if status else STATUSES) for d in _all_domains(session.client, s)]
    rows.sort(key=lambda d: d["name"])

    def build() -> Any:
        grid = table("NAME", "STATUS", "DESCRIPTION")
        for row in rows:
            grid.add_row(text(row["name"]), text(row["status"], REGISTRATION_STYLES.get(row["status"], "")), text(row.get("description")))
        return grid

    emit(session, rows, build)


@domains.command("describe", help="A domain's status, description, retention period and ARN.")
@backend_options(domain=False, output=True)
@click.argument("name")
def describe_domain(session: Session, name: str) -> None:
    detail = dict(session.client.describe_domain(name=name))
    detail.pop("ResponseMetadata", None)
    if session.output != "table":
        session.echo(session.dump(detail))
        return
    info, config = detail["domainInfo"], detail.get("configuration", {})
    retention = config.get("workflowExecutionRetentionPeriodInDays")
    session.console.print(
        fields(
            [
                ("name", info["name"]),
                ("status", text(info["status"], REGISTRATION_STYLES.get(info["status"], ""))),
                ("description", info.get("description")),
                ("retention", f"{retention} days" if retention and retention != "NONE" else retention),
                ("arn", info.get("arn")),
            ]
        )
    )


def _retention(value: str) -> str:
    if value.upper() == "NONE" or (value.isdigit() and 0 <= int(value) <= 90):
        return value.upper()
    raise usage_error(f"--retention {value}: a number of days, 0 to 90 (or NONE)")


@domains.command("register", help="Register a domain.")
@backend_options(domain=False)
@click.argument("name")
@click.option("--retention", metavar="DAYS", default="1", show_default=True, help="days closed runs are kept (0-90, or NONE)")
@click.option("--description", metavar="TEXT", default=None, help="a description")
def register_domain(session: Session, name: str, retention: str, description: str | None) -> None:
    params: dict[str, Any] = {"name": name, "workflowExecutionRetentionPeriodInDays": _retention(retention)}
    if description is not None:
        params["description"] = description
    session.client.register_domain(**params)
    session.echo(f"registered domain {name}")


@domains.command("deprecate", help="Deprecate a domain: no new runs or types in it; its open runs go on.")
@backend_options(domain=False)
@click.argument("name")
def deprecate_domain(session: Session, name: str) -> None:
    session.client.deprecate_domain(name=name)
    session.echo(f"deprecated domain {name}")


@domains.command("undeprecate", help="Undeprecate a domain.")
@backend_options(domain=False)
@click.argument("name")
def undeprecate_domain(session: Session, name: str) -> None:
    session.client.undeprecate_domain(name=name)
    session.echo(f"undeprecated domain {name}")


COMMANDS = [domains]
