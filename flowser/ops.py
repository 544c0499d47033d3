"""Operator queries over any boto3 SWF client (AWS, moto, ``flowser serve``, the embedded engine).

Nothing here knows which backend it talks to: the CLI (``flowser/cli/``) and
the dashboard build on these functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class NoSuchExecution(LookupError):
    """No run of that workflowId (and runId) is known to the domain."""


def resolve_run(client: Any, domain: str, workflow_id: str, run_id: str | None = None) -> dict[str, str]:
    """``{"workflowId", "runId"}``: the given run, or the workflowId's open run, else its latest closed run."""
    if run_id:
        return {"workflowId": workflow_id, "runId": run_id}
    since = {"oldestDate": EPOCH}
    found = client.list_open_workflow_executions(
        domain=domain, startTimeFilter=since, executionFilter={"workflowId": workflow_id}, maximumPageSize=1
    ).get("executionInfos", [])
    if not found:
        found = client.list_closed_workflow_executions(
            domain=domain, startTimeFilter=since, executionFilter={"workflowId": workflow_id}, maximumPageSize=1
        ).get("executionInfos", [])  # newest first
    if not found:
        raise NoSuchExecution(f"no execution with workflowId {workflow_id!r} in domain {domain!r}")
    return dict(found[0]["execution"])


def history_events(client: Any, domain: str, execution: dict[str, str], *, after: int = 0) -> Iterator[dict[str, Any]]:
    """Every event of a run, oldest first, page by page (only those with eventId > ``after``)."""
    token: str | None = None
    while True:
        params: dict[str, Any] = {"domain": domain, "execution": execution, "maximumPageSize": 1000}
        if token:
            params["nextPageToken"] = token
        page = client.get_workflow_execution_history(**params)
        for event in page.get("events", []):
            if event["eventId"] > after:
                yield event
        token = page.get("nextPageToken")
        if not token:
            return
