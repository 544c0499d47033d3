"""``run.result()``: the result of a completed run, one exception per other way a run closes.

On every backend (local engine with virtual time, moto, ``flowser serve``),
through boto3 calls only; the close reason and details are on the run and
on its history too.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import flowser
from flowser.exceptions import (
    Error,
    Timeout,
    WorkflowCanceled,
    WorkflowContinuedAsNew,
    WorkflowExecutionError,
    WorkflowFailed,
    WorkflowTerminated,
    WorkflowTimedOut,
)
from flowser.testing import wait_until, workers

from .conftest import Backend
from .flows import ClosingWorkflow, OutcomeDomain


def start(domain: flowser.Domain, how: str, **settings: Any) -> Any:
    return domain.start(ClosingWorkflow, {"id": f"{how}-{uuid.uuid4().hex[:8]}", "how": how, "n": 0, "times": 2}, **settings)


def test_a_completed_run_returns_its_result(backend: Backend) -> None:
    domain = backend.domain(OutcomeDomain)
    with workers(domain, ClosingWorkflow):
        run = start(domain, "complete")
        assert run.result(timeout=20) == {"ok": True}
    assert (run.close_status, run.close_reason, run.close_details) == ("COMPLETED", None, None)


def test_a_failed_run_raises_workflow_failed_with_reason_and_decoded_details(backend: Backend) -> None:
    domain = backend.domain(OutcomeDomain)
    with workers(domain, ClosingWorkflow):
        run = start(domain, "fail")
        with pytest.raises(WorkflowFailed) as raised:
            run.result(timeout=20)
    error = raised.value
    assert isinstance(error, WorkflowExecutionError) and isinstance(error, Error)
    assert (error.close_status, error.reason) == ("FAILED", "out of luck")
    assert error.details == {"code": 7, "why": "no luck"}
    assert error.raw_details == '{"code": 7, "why": "no luck"}'
    assert (error.workflow_id, error.run_id) == (run.workflow_id, run.run_id)
    assert str(error) == f"workflow execution {run.workflow_id} (run {run.run_id}) closed FAILED: out of luck"
    assert error.history.close_status == "FAILED"
    # the run and its history say the same
    assert (run.close_status, run.close_reason, run.close_details) == ("FAILED", "out of luck", {"code": 7, "why": "no luck"})
    history = run.history()
    assert (history.close_reason, history.close_details) == ("out of luck", {"code": 7, "why": "no luck"})


def test_a_canceled_run_raises_workflow_canceled(backend: Backend) -> None:
    domain = backend.domain(OutcomeDomain)
    with workers(domain, ClosingWorkflow):
        run = start(domain, "cancel")
        with pytest.raises(WorkflowCanceled) as raised:
            run.result(timeout=20)
    assert (raised.value.close_status, raised.value.details, raised.value.reason) == ("CANCELED", "as asked", None)
    assert "closed CANCELED" in str(raised.value)


def test_a_terminated_run_raises_workflow_terminated(backend: Backend) -> None:
    domain = backend.domain(OutcomeDomain)
    with workers(domain, ClosingWorkflow):
        run = start(domain, "wait")
        wait_until(lambda: any(e.type == "DecisionTaskCompleted" for e in run.history()), timeout=20)
        run.terminate(details={"by": "the test"}, reason="enough")
        with pytest.raises(WorkflowTerminated) as raised:
            run.result(timeout=20)
    error = raised.value
    assert (error.reason, error.details) == ("enough", {"by": "the test"})
    assert error.cause in (None, "OPERATOR_INITIATED")  # SWF sets it for automatic terminations; moto always
    assert str(error).endswith("enough") and "closed TERMINATED" in str(error)
    assert run.close_reason == "enough"


def test_a_timed_out_run_raises_workflow_timed_out(backend: Backend) -> None:
    domain = backend.domain(OutcomeDomain)
    with workers(domain, ClosingWorkflow):
        run = start(domain, "wait", execution_start_to_close_timeout=1)
        wait_until(lambda: any(e.type == "DecisionTaskCompleted" for e in run.history()), timeout=20)
        backend.sleep(1.05)  # virtual time on the local engine
        with pytest.raises(WorkflowTimedOut) as raised:
            run.result(timeout=20)
    assert (raised.value.close_status, raised.value.timeout_type) == ("TIMED_OUT", "START_TO_CLOSE")
    assert "closed TIMED_OUT (timeout START_TO_CLOSE)" in str(raised.value)


def test_continue_as_new_is_followed_or_said_to_stop(backend: Backend) -> None:
    backend.require("continue_as_new")
    domain = backend.domain(OutcomeDomain)
    with workers(domain, ClosingWorkflow):
        run = start(domain, "continue")
        assert run.result(timeout=20) == {"n": 2}
        assert len(run.followed) == 2 and run.run_id not in run.followed
        assert run.close_status == "CONTINUED_AS_NEW"
        first_new = run.history().new_run_id
        assert first_new == run.followed[0]

        again = domain.execution(run.workflow_id, run.run_id, ClosingWorkflow)
        with pytest.raises(WorkflowContinuedAsNew) as raised:
            again.result(timeout=20, follow=False)
        assert raised.value.new_run_id == first_new and raised.value.run_id == run.run_id
        assert str(raised.value) == (
            f"workflow execution {run.workflow_id} (run {run.run_id}) continued as new run {first_new}; "
            "stopped following after 0 run(s) (follow=False)"
        )
        with pytest.raises(WorkflowContinuedAsNew, match=r"stopped following after 1 run\(s\) \(follow=1\)") as raised:
            domain.execution(run.workflow_id, run.run_id).result(timeout=20, follow=1)
        assert raised.value.run_id == first_new


def test_an_open_run_times_out_waiting(backend: Backend) -> None:
    domain = backend.domain(OutcomeDomain)
    run = start(domain, "wait")
    with pytest.raises(Timeout, match=r"still open after 0\.2 s"):
        run.result(timeout=0.2)
    assert (run.close_status, run.close_reason, run.close_details) == (None, None, None)
