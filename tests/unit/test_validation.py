"""Request validation as clients see it: what passes, and SWF's exact messages."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.local.faults import SerializationException, UnknownOperationException, ValidationException
from backends.local.validation import OPERATIONS, validate

NAME_RULE = (
    "Member must not contain ':', '/', '|', control characters, leading or trailing whitespace, "
    "or be the literal 'arn'"
)
SWF_DECISION_ORDER = (
    "[CompleteWorkflowExecution, StartTimer, RequestCancelExternalWorkflowExecution, "
    "SignalExternalWorkflowExecution, CancelTimer, RecordMarker, ScheduleActivityTask, "
    "ContinueAsNewWorkflowExecution, ScheduleLambdaFunction, FailWorkflowExecution, "
    "RequestCancelActivityTask, StartChildWorkflowExecution, CancelWorkflowExecution]"
)


def start_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "domain": "orders",
        "workflowId": "order-42",
        "workflowType": {"name": "ProcessOrder", "version": "1.0"},
        "taskList": {"name": "deciders"},
        "taskPriority": "-5",
        "input": '{"orderId": 42}',
        "executionStartToCloseTimeout": "3600",
        "taskStartToCloseTimeout": "NONE",
        "childPolicy": "TERMINATE",
        "tagList": ["a", "b"],
    }
    params.update(overrides)
    return params


def decisions_params(*decisions: object) -> dict[str, Any]:
    return {"taskToken": "token-1", "decisions": list(decisions)}


def message(operation: str, params: object) -> str:
    with pytest.raises(ValidationException) as info:
        validate(operation, params)
    assert info.value.message is not None
    return info.value.message


def one_error(value: str | None, path: str, constraint: str) -> str:
    shown = "null" if value is None else f"'{value}'"
    return (
        f"1 validation error detected: Value {shown} at '{path}' failed to satisfy constraint: {constraint}"
    )


# ---------------------------------------------------------------- valid calls


def test_all_39_operations_are_known() -> None:
    assert len(OPERATIONS) == 39
    assert {"StartWorkflowExecution", "RespondDecisionTaskCompleted", "TagResource"} <= OPERATIONS


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("StartWorkflowExecution", start_params()),
        (
            "RegisterDomain",
            {
                "name": "orders",
                "workflowExecutionRetentionPeriodInDays": "NONE",
                "description": "",
                "tags": [{"key": "team", "value": "a b:c/d=e+f-g@h_i.j"}],
            },
        ),
        (
            "RegisterActivityType",
            {
                "domain": "orders",
                "name": "Charge",
                "version": "2",
                "defaultTaskList": {"name": "workers"},
                "defaultTaskPriority": "2147483647",
                "defaultTaskHeartbeatTimeout": "99999999",
                "defaultTaskScheduleToStartTimeout": "0",
            },
        ),
        ("ListDomains", {"registrationStatus": "DEPRECATED", "maximumPageSize": 1000, "reverseOrder": False}),
        (
            "ListClosedWorkflowExecutions",
            {
                "domain": "orders",
                "closeTimeFilter": {"oldestDate": 0, "latestDate": 1497371587.073},
                "closeStatusFilter": {"status": "TIMED_OUT"},
                "maximumPageSize": 0,
            },
        ),
        (
            "PollForDecisionTask",
            {
                "domain": "orders",
                "taskList": {"name": "deciders"},
                "identity": "host:1/x",
                "nextPageToken": "abc",
                "startAtPreviousStartedEvent": True,
            },
        ),
        ("RespondActivityTaskCompleted", {"taskToken": "t", "result": "x" * 32768}),
        (
            "TagResource",
            {"resourceArn": "arn:aws:swf:us-east-1:123456789012:/domain/orders", "tags": [{"key": "k"}]},
        ),
        ("UntagResource", {"resourceArn": "arn:aws:swf:us-east-1:1:/domain/d", "tagKeys": ["k"]}),
        (
            "RespondDecisionTaskCompleted",
            decisions_params(
                {
                    "decisionType": "ScheduleActivityTask",
                    "scheduleActivityTaskDecisionAttributes": {
                        "activityType": {"name": "Charge", "version": "2"},
                        "activityId": "charge-1",
                        "taskList": {"name": "workers"},
                        "taskPriority": "+3",
                        "heartbeatTimeout": "NONE",
                    },
                },
                {
                    "decisionType": "StartTimer",
                    "startTimerDecisionAttributes": {"timerId": "t1", "startToFireTimeout": "0"},
                },
                {"decisionType": "RecordMarker", "recordMarkerDecisionAttributes": {"markerName": "m"}},
                {"decisionType": "CompleteWorkflowExecution"},
            ),
        ),
    ],
)
def test_valid_calls_pass_and_come_back_equal(operation: str, params: dict[str, Any]) -> None:
    original = copy.deepcopy(params)
    assert validate(operation, params) == original
    assert params == original


def test_values_are_not_coerced_or_defaulted() -> None:
    result = validate("CountOpenWorkflowExecutions", {"domain": "d", "startTimeFilter": {"oldestDate": 12}})
    assert result == {"domain": "d", "startTimeFilter": {"oldestDate": 12}}
    assert type(result["startTimeFilter"]["oldestDate"]) is int


def test_unknown_members_and_nulls_are_dropped() -> None:
    params = start_params(extra="x", taskList={"name": "tl", "kind": 1}, lambdaRole=None)
    result = validate("StartWorkflowExecution", params)
    assert "extra" not in result and "lambdaRole" not in result
    assert result["taskList"] == {"name": "tl"}


# --------------------------------------------------------------- violations


def test_missing_required_member() -> None:
    params = start_params()
    del params["workflowId"]
    assert message("StartWorkflowExecution", params) == one_error(
        None, "workflowId", "Member must not be null"
    )


def test_null_required_nested_member() -> None:
    params = start_params(workflowType={"name": "n", "version": None})
    assert message("StartWorkflowExecution", params) == one_error(
        None, "workflowType.version", "Member must not be null"
    )


def test_name_with_colon() -> None:
    assert message("StartWorkflowExecution", start_params(workflowId="order:42")) == one_error(
        "order:42", "workflowId", NAME_RULE
    )


def test_name_with_trailing_space() -> None:
    assert message("RegisterDomain", {"name": "orders ", "workflowExecutionRetentionPeriodInDays": "1"}) == (
        one_error("orders ", "name", NAME_RULE)
    )


@pytest.mark.parametrize("bad", ["a/b", "a|b", "a\u0085b", "arn", " x"])
def test_task_list_name_rule(bad: str) -> None:
    msg = message("PollForActivityTask", {"domain": "d", "taskList": {"name": bad}})
    assert "at 'taskList.name'" in msg and msg.endswith(NAME_RULE)
    assert "\n" not in msg and "\u0085" not in msg


def test_name_257_chars() -> None:
    name = "n" * 257
    assert message("RegisterDomain", {"name": name, "workflowExecutionRetentionPeriodInDays": "1"}) == (
        one_error("n" * 64 + "...", "name", "Member must have length less than or equal to 256")
    )


def test_empty_name() -> None:
    assert message("DescribeDomain", {"name": ""}) == one_error(
        "", "name", "Member must have length greater than or equal to 1"
    )


def test_input_over_32768_chars_is_shown_truncated() -> None:
    msg = message("StartWorkflowExecution", start_params(input="x" * 32769))
    assert msg == one_error("x" * 64 + "...", "input", "Member must have length less than or equal to 32768")


def test_six_tags() -> None:
    tags = ["t1", "t2", "t3", "t4", "t5", "t6"]
    assert message("StartWorkflowExecution", start_params(tagList=tags)) == one_error(
        '["t1", "t2", "t3", "t4", "t5", "t6"]', "tagList", "Member must have length less than or equal to 5"
    )


def test_long_tag_in_list_has_member_path() -> None:
    msg = message("StartWorkflowExecution", start_params(tagList=["ok", "t" * 257]))
    assert (
        "at 'tagList.2.member' failed to satisfy constraint: Member must have length less than or equal to 256"
        in msg
    )


def test_resource_tag_key_path_and_pattern() -> None:
    msg = message("TagResource", {"resourceArn": "arn:x", "tags": [{"key": "ok"}, {"key": "a#b"}]})
    assert msg == one_error(
        "a#b",
        "tags.2.member.key",
        r"Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*",
    )


def test_bad_enum_child_policy() -> None:
    assert message("StartWorkflowExecution", start_params(childPolicy="KILL")) == one_error(
        "KILL", "childPolicy", "Member must satisfy enum value set: [TERMINATE, REQUEST_CANCEL, ABANDON]"
    )


@pytest.mark.parametrize("bad", ["abc", "-1", "", "1e3", "none", "123456789"])
def test_bad_duration(bad: str) -> None:
    msg = message("StartWorkflowExecution", start_params(executionStartToCloseTimeout=bad))
    assert "at 'executionStartToCloseTimeout' failed to satisfy constraint: Member must " in msg
    if len(bad) <= 8:
        assert msg == one_error(
            bad, "executionStartToCloseTimeout", "Member must be a number of seconds or NONE"
        )


def test_bad_retention_format() -> None:
    assert message("RegisterDomain", {"name": "d", "workflowExecutionRetentionPeriodInDays": "ten"}) == (
        one_error("ten", "workflowExecutionRetentionPeriodInDays", "Member must be a number of days or NONE")
    )


@pytest.mark.parametrize("bad", ["2147483648", "-2147483649", "high", "1.5", ""])
def test_bad_priority(bad: str) -> None:
    assert message("StartWorkflowExecution", start_params(taskPriority=bad)) == one_error(
        bad, "taskPriority", "Member must be an integer between -2147483648 and 2147483647"
    )


def test_page_size_bounds() -> None:
    assert message("ListDomains", {"registrationStatus": "REGISTERED", "maximumPageSize": 1001}) == one_error(
        "1001", "maximumPageSize", "Member must have value less than or equal to 1000"
    )
    assert message("ListDomains", {"registrationStatus": "REGISTERED", "maximumPageSize": -1}) == one_error(
        "-1", "maximumPageSize", "Member must have value greater than or equal to 0"
    )


@pytest.mark.parametrize(
    ("operation", "params", "value", "path", "kind"),
    [
        ("DescribeDomain", {"name": 5}, "5", "name", "a string"),
        (
            "ListDomains",
            {"registrationStatus": "REGISTERED", "reverseOrder": "yes"},
            "yes",
            "reverseOrder",
            "a boolean",
        ),
        (
            "ListDomains",
            {"registrationStatus": "REGISTERED", "maximumPageSize": 10.0},
            "10.0",
            "maximumPageSize",
            "an integer",
        ),
        (
            "ListDomains",
            {"registrationStatus": "REGISTERED", "maximumPageSize": True},
            "true",
            "maximumPageSize",
            "an integer",
        ),
        ("RespondDecisionTaskCompleted", {"taskToken": "t", "decisions": {}}, "{}", "decisions", "a list"),
        ("CountPendingActivityTasks", {"domain": "d", "taskList": "tl"}, "tl", "taskList", "a structure"),
        (
            "CountOpenWorkflowExecutions",
            {"domain": "d", "startTimeFilter": {"oldestDate": "2024-01-01"}},
            "2024-01-01",
            "startTimeFilter.oldestDate",
            "a number (epoch seconds)",
        ),
        (
            "CountOpenWorkflowExecutions",
            {"domain": "d", "startTimeFilter": {"oldestDate": False}},
            "false",
            "startTimeFilter.oldestDate",
            "a number (epoch seconds)",
        ),
    ],
)
def test_wrong_json_types(operation: str, params: dict[str, Any], value: str, path: str, kind: str) -> None:
    assert message(operation, params) == one_error(value, path, f"Member must be {kind}")


def test_domain_given_a_number() -> None:
    msg = message("StartWorkflowExecution", start_params(domain=5))
    assert msg == one_error("5", "domain", "Member must be a string")


@pytest.mark.parametrize("body", [None, [], ["domain"], "domain", 5, True])
def test_non_object_body_is_a_serialization_error(body: object) -> None:
    with pytest.raises(SerializationException) as info:
        validate("DescribeDomain", body)
    assert not info.value.message


def test_lone_surrogate_is_a_serialization_error() -> None:
    with pytest.raises(SerializationException):
        validate("DescribeDomain", {"name": "a\ud800"})


def test_messages_stay_printable_utf8() -> None:
    msg = message("StartWorkflowExecution", start_params(tagList=["\ud800\n"] * 6))
    msg.encode("utf-8")
    assert "\n" not in msg


def test_unknown_operation() -> None:
    with pytest.raises(UnknownOperationException) as info:
        validate("LaunchRocket", {})
    assert "LaunchRocket" in (info.value.message or "")


def test_several_errors_are_counted_and_joined() -> None:
    params = start_params(childPolicy="KILL")
    del params["domain"]
    assert message("StartWorkflowExecution", params) == (
        "2 validation errors detected: "
        "Value null at 'domain' failed to satisfy constraint: Member must not be null; "
        "Value 'KILL' at 'childPolicy' failed to satisfy constraint: "
        "Member must satisfy enum value set: [TERMINATE, REQUEST_CANCEL, ABANDON]"
    )


# ---------------------------------------------------------------- decisions


def test_unknown_decision_type_lists_swf_order() -> None:
    msg = message("RespondDecisionTaskCompleted", decisions_params({"decisionType": "LaunchRocket"}))
    assert msg == one_error(
        "LaunchRocket",
        "decisions.1.member.decisionType",
        f"Member must satisfy enum value set: {SWF_DECISION_ORDER}",
    )


def test_decision_missing_its_attribute_block() -> None:
    params = decisions_params(
        {"decisionType": "CompleteWorkflowExecution"},  # no required members: block optional
        {"decisionType": "StartTimer", "cancelTimerDecisionAttributes": {"timerId": "t"}},
    )
    assert message("RespondDecisionTaskCompleted", params) == one_error(
        None, "decisions.2.member.startTimerDecisionAttributes", "Member must not be null"
    )


def test_decision_attribute_paths() -> None:
    params = decisions_params(
        {
            "decisionType": "ScheduleActivityTask",
            "scheduleActivityTaskDecisionAttributes": {
                "activityType": {"name": "a", "version": "1"},
                "activityId": "a:1",
            },
        },
    )
    assert message("RespondDecisionTaskCompleted", params) == one_error(
        "a:1", "decisions.1.member.scheduleActivityTaskDecisionAttributes.activityId", NAME_RULE
    )


def test_blocks_not_matching_decision_type_are_validated_too() -> None:
    params = decisions_params(
        {
            "decisionType": "CancelTimer",
            "cancelTimerDecisionAttributes": {"timerId": "t"},
            "startTimerDecisionAttributes": {"timerId": "t2"},
        },
    )
    assert message("RespondDecisionTaskCompleted", params) == one_error(
        None, "decisions.1.member.startTimerDecisionAttributes.startToFireTimeout", "Member must not be null"
    )


def test_null_decision_and_errors_in_order() -> None:
    params = decisions_params(
        {
            "decisionType": "StartTimer",
            "startTimerDecisionAttributes": {"timerId": "t", "startToFireTimeout": "x"},
        },
        None,
        {"decisionType": "RecordMarker"},
    )
    assert message("RespondDecisionTaskCompleted", params) == (
        "3 validation errors detected: "
        "Value 'x' at 'decisions.1.member.startTimerDecisionAttributes.startToFireTimeout' "
        "failed to satisfy constraint: Member must be a number of seconds or NONE; "
        "Value null at 'decisions.2.member' failed to satisfy constraint: Member must not be null; "
        "Value null at 'decisions.3.member.recordMarkerDecisionAttributes' "
        "failed to satisfy constraint: Member must not be null"
    )


# --------------------------------------------------------------- robustness

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=7) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
START_MEMBERS = [
    "domain",
    "workflowId",
    "workflowType",
    "taskList",
    "taskPriority",
    "input",
    "executionStartToCloseTimeout",
    "tagList",
    "taskStartToCloseTimeout",
    "childPolicy",
    "lambdaRole",
]
NEAR_VALID = st.sampled_from(
    ["", "x", "NONE", "arn", "-1", "a:b", " ", "2147483648", "TERMINATE", "x" * 300, "\ud800"]
)
START_BODY = st.dictionaries(
    st.sampled_from([*START_MEMBERS, "name", "version"]),
    JSON | NEAR_VALID | st.fixed_dictionaries({}, optional={"name": JSON | NEAR_VALID, "version": JSON}),
    max_size=12,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=JSON | START_BODY)
def test_random_bodies_only_raise_swf_client_faults(body: object) -> None:
    try:
        result = validate("StartWorkflowExecution", body)
    except ValidationException as exc:
        assert exc.message and exc.message.split(" ", 1)[0].isdigit()
        assert "\n" not in exc.message
    except SerializationException:
        assert not isinstance(body, dict) or "\\ud800" in json.dumps(body)
    else:
        assert isinstance(body, dict)
        assert {key: body[key] for key in result} == result
