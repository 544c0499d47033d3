"""Helpers for the registration and execution tests: faults, clean responses, closing runs."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError

ARN_PREFIX = "arn:aws:swf:us-east-1:000000000000:/domain/"


def body(response: dict[str, Any]) -> dict[str, Any]:
    """A response without botocore's ResponseMetadata."""
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


@contextmanager
def fault(code: str, message: str | None = None) -> Iterator[list[ClientError]]:
    """Expect a ClientError with this code (and exact message, if given); yields [the error]."""
    caught: list[ClientError] = []
    with pytest.raises(ClientError) as info:
        yield caught
    error = info.value.response["Error"]
    assert error["Code"] == code, error
    if message is not None:
        assert error.get("Message") == message, error
    caught.append(info.value)


def message_of(call: Callable[..., Any], **kw: Any) -> tuple[str, str]:
    """(code, message) of the ClientError a call raises."""
    with pytest.raises(ClientError) as info:
        call(**kw)
    error = info.value.response["Error"]
    return error["Code"], error.get("Message", "")


def at(epoch: float) -> dt.datetime:
    """An epoch time as botocore returns it (timezone-aware)."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def whole_second(env: Any, ahead: int = 10) -> float:
    """Move the virtual clock to a whole second (so timestamps round-trip exactly); return it."""
    target = float(math.ceil(env.clock.now()) + ahead)
    env.clock.set(target)
    return target


def terminate(swf: Any, workflow_id: str, domain: str = "test", **kw: Any) -> None:
    swf.terminate_workflow_execution(domain=domain, workflowId=workflow_id, **kw)


def describe(swf: Any, run_id: str, workflow_id: str = "w1", domain: str = "test") -> dict[str, Any]:
    return body(swf.describe_workflow_execution(domain=domain, execution={"workflowId": workflow_id, "runId": run_id}))


def ids_of(response: dict[str, Any]) -> list[str]:
    """workflowIds of a List*WorkflowExecutions page, in order."""
    return [info["execution"]["workflowId"] for info in response["executionInfos"]]
