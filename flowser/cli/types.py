"""``flowser types list|describe``: a domain's workflow and activity types."""

from __future__ import annotations

from typing import Any

import click

from .. import ops
from ._show import REGISTRATION_STYLES, emit, fields, seconds, table, text
from .common import CliError, Session, backend_options, usage_error

KINDS = ("workflow", "activity")
STATUSES = ("REGISTERED", "DEPRECATED")


@click.group("types", short_help="list and describe workflow and activity types", help="Workflow and activity types: list, describe.")
def types() -> None:
    pass


@types.command("list", help="A domain's workflow and activity types (or one kind), by kind, name and version.")
@backend_options(domain=True, output=True)
@click.option("--kind", type=click.Choice(KINDS), default=None, help="only workflow or only activity types")
@click.option("--status", type=click.Choice(STATUSES, case_sensitive=False), default=None, help="only this registration status")
@click.option("--name", metavar="NAME", default=None, help="only types of this name")
def list_types(session: Session, kind: str | None, status: str | None, name: str | None) -> None:
    rows: list[dict[str, Any]] = []
    domain = session.domain
    for k in (kind,) if kind else KINDS:
        for s in (status.upper(),) if status else STATUSES:
            for info in ops.list_types(session.client, domain, k, s, name=name):
                rows.append({"kind": k, **info})
    rows.sort(key=lambda r: (KINDS.index(r["kind"]), _type(r)["name"], _type(r)["version"]))

    def build() -> Any:
        grid = table("KIND", "NAME", "VERSION", "STATUS", "CREATED", "DESCRIPTION")
        for row in rows:
            kind_type = _type(row)
            grid.add_row(
                text(row["kind"]),
                text(kind_type["name"]),
                text(kind_type["version"]),
                text(row["status"], REGISTRATION_STYLES.get(row["status"], "")),
                text(session.time(row.get("creationDate"))),
                text(row.get("description")),
            )
        return grid

    emit(session, rows, build)


def _type(row: dict[str, Any]) -> dict[str, str]:
    return row.get("workflowType") or row["activityType"]


@types.command(
    "describe",
    help="A type's status, description and defaults (task list, timeouts, priority). "
    "NAME VERSION or NAME:VERSION; without --kind, whichever kind has that type.",
)
@backend_options(domain=True, output=True)
@click.argument("name")
@click.argument("version", required=False)
@click.option("--kind", type=click.Choice(KINDS), default=None, help="a workflow or an activity type")
def describe_type(session: Session, name: str, version: str | None, kind: str | None) -> None:
    if version is None and ":" in name:
        name, version = name.split(":", 1)
    domain = session.domain
    kinds = (kind,) if kind else KINDS
    candidates: list[tuple[str, str]] = []
    for k in kinds:
        if version is not None:
            candidates.append((k, version))
            continue
        versions = [_type(t)["version"] for t in ops.list_types(session.client, domain, k, "REGISTERED", name=name)]
        if len(versions) > 1:
            raise usage_error(f"{k} type {name!r} has versions {', '.join(versions)}: name one as {name}:VERSION")
        candidates += [(k, v) for v in versions]
    details: list[dict[str, Any]] = []
    for k, v in candidates:
        try:
            detail = dict(_describe(session.client, domain, k, name, v))
        except Exception as exc:
            if len(kinds) == 1 or ops.fault_code(exc) != "UnknownResourceFault":
                raise
            continue
        detail.pop("ResponseMetadata", None)
        details.append({"kind": k, **detail})
    named = f"{name}:{version}" if version else name
    if not details:
        kinds_named = f"{kind} type" if kind else "workflow or activity type"
        raise CliError(f"UnknownResourceFault: no {kinds_named} {named} in domain {session.domain!r}")
    if len(details) > 1:
        raise usage_error(f"{named} is both a workflow and an activity type: choose one with --kind")
    if session.output != "table":
        session.echo(session.dump(details[0]))
        return
    session.console.print(fields(_type_fields(session, details[0])))


def _describe(client: Any, domain: str, kind: str, name: str, version: str) -> Any:
    if kind == "workflow":
        return client.describe_workflow_type(domain=domain, workflowType={"name": name, "version": version})
    return client.describe_activity_type(domain=domain, activityType={"name": name, "version": version})


def _type_fields(session: Session, detail: dict[str, Any]) -> list[tuple[str, Any]]:
    info, config = detail["typeInfo"], detail.get("configuration", {})
    kind_type = _type(info)
    out: list[tuple[str, Any]] = [
        ("kind", detail["kind"]),
        ("name", kind_type["name"]),
        ("version", kind_type["version"]),
        ("status", text(info["status"], REGISTRATION_STYLES.get(info["status"], ""))),
        ("description", info.get("description")),
        ("created", session.time(info.get("creationDate"))),
    ]
    if info.get("deprecationDate"):
        out.append(("deprecated", session.time(info["deprecationDate"])))
    out.append(("default task list", (config.get("defaultTaskList") or {}).get("name")))
    out.append(("default priority", config.get("defaultTaskPriority")))
    if detail["kind"] == "workflow":
        out += [
            ("default execution timeout", seconds(config.get("defaultExecutionStartToCloseTimeout"))),
            ("default task timeout", seconds(config.get("defaultTaskStartToCloseTimeout"))),
            ("default child policy", config.get("defaultChildPolicy")),
        ]
        if config.get("defaultLambdaRole"):
            out.append(("default lambda role", config["defaultLambdaRole"]))
    else:
        out += [
            ("default schedule-to-start timeout", seconds(config.get("defaultTaskScheduleToStartTimeout"))),
            ("default start-to-close timeout", seconds(config.get("defaultTaskStartToCloseTimeout"))),
            ("default schedule-to-close timeout", seconds(config.get("defaultTaskScheduleToCloseTimeout"))),
            ("default heartbeat timeout", seconds(config.get("defaultTaskHeartbeatTimeout"))),
        ]
    return out


COMMANDS = [types]
