"""One target parser and one error body: the HTTP front door reads and answers as the wire codec does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backends.http import app
from backends.local import wire
from backends.local.faults import (
    InternalFailure,
    SerializationException,
    UnknownOperationException,
    ValidationException,
)


@pytest.mark.parametrize(
    ("target", "operation"),
    [
        ("SimpleWorkflowService.PollForDecisionTask", "PollForDecisionTask"),
        ("com.amazonaws.swf.service.model.SimpleWorkflowService.ListDomains", "ListDomains"),
        ("SimpleWorkflowService.NoSuchOperation", None),
        ("SimpleWorkflowService.", None),
        ("SimpleWorkflowService", None),
        ("simpleworkflowservice.ListDomains", None),
        ("", None),
        (None, None),
    ],
)
def test_the_app_names_the_operation_wire_parses(target: str | None, operation: str | None) -> None:
    assert app._operation(target) == operation
    try:
        parsed: str | None = wire.operation_of(target)
    except UnknownOperationException:
        parsed = None
    assert parsed == operation or (operation is None and parsed not in app.KNOWN)


def test_one_error_body_for_faults_and_the_servers_own_refusals() -> None:
    assert json.loads(wire.fault_body(ValidationException("bad"))) == {
        "__type": "com.amazon.coral.validate#ValidationException", "message": "bad"}
    assert json.loads(wire.fault_body(SerializationException("ignored"))) == {
        "__type": "com.amazon.coral.service#SerializationException"}
    assert wire.fault_body(InternalFailure("x")) == wire.error_body(InternalFailure.namespace + "#InternalFailure", "x")
    refusal: Any = app.App.http_error(None, 415, "UnsupportedMediaTypeException", "text/plain")  # needs no App state
    assert refusal.status == 415
    assert refusal.body == wire.error_body("com.amazon.coral.service#UnsupportedMediaTypeException", "text/plain")
