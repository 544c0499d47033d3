"""Domains, their tags, and workflow/activity types (swf-semantics.md §2.2, §3, §13)."""

from __future__ import annotations

from typing import Any

import pytest

from backends.local import faults

from .helpers import ARN_PREFIX, at, body, fault, whole_second

NAME_RULE = (
    "Member must not contain ':', '/', '|', control characters, leading or trailing whitespace, "
    "or be the literal 'arn'"
)


def register(swf: Any, name: str, retention: str = "1", **kw: Any) -> None:
    swf.register_domain(name=name, workflowExecutionRetentionPeriodInDays=retention, **kw)


def domain_names(swf: Any, status: str = "REGISTERED", **kw: Any) -> list[str]:
    return [d["name"] for d in swf.list_domains(registrationStatus=status, **kw)["domainInfos"]]


# -- domains ---------------------------------------------------------------------------------


def test_register_and_describe_domain(swf: Any) -> None:
    register(swf, "orders", "7", description="Order processing")
    assert body(swf.describe_domain(name="orders")) == {
        "domainInfo": {
            "name": "orders",
            "status": "REGISTERED",
            "description": "Order processing",
            "arn": "arn:aws:swf:us-east-1:000000000000:/domain/orders",
        },
        "configuration": {"workflowExecutionRetentionPeriodInDays": "7"},
    }
    register(swf, "plain", "NONE")
    assert body(swf.describe_domain(name="plain")) == {
        "domainInfo": {"name": "plain", "status": "REGISTERED", "arn": ARN_PREFIX + "plain"},
        "configuration": {"workflowExecutionRetentionPeriodInDays": "NONE"},
    }


def test_register_existing_domain_fails_whatever_its_status(swf: Any) -> None:
    register(swf, "d", "3", description="first")
    with fault("DomainAlreadyExistsFault"):
        register(swf, "d", "5")
    swf.deprecate_domain(name="d")
    with pytest.raises(swf.exceptions.DomainAlreadyExistsFault):
        register(swf, "d", "5")
    described = swf.describe_domain(name="d")
    assert described["configuration"] == {"workflowExecutionRetentionPeriodInDays": "3"}
    assert described["domainInfo"]["description"] == "first"


def test_retention_values_accepted(swf: Any) -> None:
    for retention in ("0", "1", "30", "90", "NONE"):
        register(swf, f"r{retention}", retention)
        configuration = swf.describe_domain(name=f"r{retention}")["configuration"]
        assert configuration == {"workflowExecutionRetentionPeriodInDays": retention}


def test_retention_over_90_days_is_a_limit_and_stores_nothing(swf: Any) -> None:
    with pytest.raises(swf.exceptions.LimitExceededFault):
        register(swf, "r", "91")
    with pytest.raises(swf.exceptions.UnknownResourceFault):
        swf.describe_domain(name="r")
    assert domain_names(swf) == []


def test_retention_not_a_number_of_days(swf: Any) -> None:
    for retention in ("abc", "-1", "1.5"):
        with fault(
            "ValidationException",
            f"1 validation error detected: Value '{retention}' at 'workflowExecutionRetentionPeriodInDays' "
            "failed to satisfy constraint: Member must be a number of days or NONE",
        ):
            register(swf, "r", retention)
    assert domain_names(swf) == []


def test_list_domains_by_status_ordered_by_name(swf: Any) -> None:
    assert body(swf.list_domains(registrationStatus="REGISTERED")) == {"domainInfos": []}
    for name in ("charlie", "alpha", "delta", "bravo"):
        register(swf, name)
    swf.deprecate_domain(name="delta")
    assert domain_names(swf) == ["alpha", "bravo", "charlie"]
    assert domain_names(swf, reverseOrder=True) == ["charlie", "bravo", "alpha"]
    assert domain_names(swf, "DEPRECATED") == ["delta"]
    infos = swf.list_domains(registrationStatus="DEPRECATED")["domainInfos"]
    assert infos == [{"name": "delta", "status": "DEPRECATED", "arn": ARN_PREFIX + "delta"}]


def test_list_domains_paging(swf: Any) -> None:
    for i in range(5):
        register(swf, f"d{i}")
    first = swf.list_domains(registrationStatus="REGISTERED", maximumPageSize=2)
    assert [d["name"] for d in first["domainInfos"]] == ["d0", "d1"]
    second = swf.list_domains(registrationStatus="REGISTERED", maximumPageSize=2, nextPageToken=first["nextPageToken"])
    assert [d["name"] for d in second["domainInfos"]] == ["d2", "d3"]
    third = swf.list_domains(registrationStatus="REGISTERED", maximumPageSize=2, nextPageToken=second["nextPageToken"])
    assert [d["name"] for d in third["domainInfos"]] == ["d4"]
    assert "nextPageToken" not in third
    backwards = swf.list_domains(registrationStatus="REGISTERED", maximumPageSize=3, reverseOrder=True)
    assert [d["name"] for d in backwards["domainInfos"]] == ["d4", "d3", "d2"]
    rest = swf.list_domains(
        registrationStatus="REGISTERED", maximumPageSize=3, reverseOrder=True, nextPageToken=backwards["nextPageToken"]
    )
    assert [d["name"] for d in rest["domainInfos"]] == ["d1", "d0"]
    assert "nextPageToken" not in rest
    # an exactly full last page has no token
    swf.deprecate_domain(name="d4")
    first = swf.list_domains(registrationStatus="REGISTERED", maximumPageSize=2)
    second = swf.list_domains(registrationStatus="REGISTERED", maximumPageSize=2, nextPageToken=first["nextPageToken"])
    assert [d["name"] for d in second["domainInfos"]] == ["d2", "d3"]
    assert "nextPageToken" not in second
    whole = swf.list_domains(registrationStatus="REGISTERED", maximumPageSize=4)
    assert len(whole["domainInfos"]) == 4 and "nextPageToken" not in whole


def test_list_domains_paginator_collects_everything(swf: Any) -> None:
    for i in range(7):
        register(swf, f"p{i}")
    pages = list(
        swf.get_paginator("list_domains").paginate(registrationStatus="REGISTERED", PaginationConfig={"PageSize": 3})
    )
    assert [len(p["domainInfos"]) for p in pages] == [3, 3, 1]
    assert [d["name"] for p in pages for d in p["domainInfos"]] == [f"p{i}" for i in range(7)]


def test_list_domains_bad_page_arguments(swf: Any) -> None:
    for i in range(3):
        register(swf, f"d{i}")
    with fault("ValidationException"):
        swf.list_domains(registrationStatus="REGISTERED", maximumPageSize=1001)
    token = swf.list_domains(registrationStatus="REGISTERED", maximumPageSize=1)["nextPageToken"]
    with fault("ValidationException"):  # token of another query
        swf.list_domains(registrationStatus="DEPRECATED", maximumPageSize=1, nextPageToken=token)
    with fault("ValidationException"):
        swf.list_domains(registrationStatus="REGISTERED", nextPageToken="not-a-token")
    with fault(
        "ValidationException",
        "1 validation error detected: Value 'ACTIVE' at 'registrationStatus' failed to satisfy constraint: "
        "Member must satisfy enum value set: [REGISTERED, DEPRECATED]",
    ):
        swf.list_domains(registrationStatus="ACTIVE")


def test_deprecate_and_undeprecate_domain(swf: Any) -> None:
    register(swf, "d")
    swf.deprecate_domain(name="d")
    assert swf.describe_domain(name="d")["domainInfo"]["status"] == "DEPRECATED"
    with fault("DomainDeprecatedFault"):
        swf.deprecate_domain(name="d")
    swf.undeprecate_domain(name="d")
    assert swf.describe_domain(name="d")["domainInfo"]["status"] == "REGISTERED"
    with fault("DomainAlreadyExistsFault"):
        swf.undeprecate_domain(name="d")
    assert domain_names(swf) == ["d"] and domain_names(swf, "DEPRECATED") == []


def test_unknown_domain(swf: Any) -> None:
    with fault("UnknownResourceFault", "Unknown domain: nope"):
        swf.describe_domain(name="nope")
    with fault("UnknownResourceFault", "Unknown domain: ghost"):
        swf.deprecate_domain(name="ghost")
    with fault("UnknownResourceFault", "Unknown domain: ghost"):
        swf.undeprecate_domain(name="ghost")


def test_hundred_domains_limit_counts_deprecated_ones(swf: Any) -> None:
    for i in range(100):
        register(swf, f"d{i:03}")
    swf.deprecate_domain(name="d000")
    with fault("LimitExceededFault"):
        register(swf, "one-too-many")
    with pytest.raises(swf.exceptions.UnknownResourceFault):
        swf.describe_domain(name="one-too-many")
    assert len(domain_names(swf)) == 99 and domain_names(swf, "DEPRECATED") == ["d000"]


def test_domain_description_too_long(swf: Any) -> None:
    with fault("ValidationException") as caught:
        register(swf, "d", description="x" * 1025)
    assert caught[0].response["Error"]["Message"] == (
        f"1 validation error detected: Value '{'x' * 64}...' at 'description' failed to satisfy constraint: "
        "Member must have length less than or equal to 1024"
    )
    register(swf, "d", description="x" * 1024)
    assert swf.describe_domain(name="d")["domainInfo"]["description"] == "x" * 1024


# -- bad names ---------------------------------------------------------------------------------


def test_domain_name_of_257_characters_is_rejected(swf: Any) -> None:
    name = "n" * 257
    with fault(
        "ValidationException",
        f"1 validation error detected: Value '{'n' * 64}...' at 'name' failed to satisfy constraint: "
        "Member must have length less than or equal to 256",
    ):
        register(swf, name)
    assert domain_names(swf) == []
    register(swf, "n" * 256)
    assert domain_names(swf) == ["n" * 256]


def test_domain_name_with_forbidden_characters_is_rejected(swf: Any) -> None:
    for name in ("a:b", "a/b", "a|b", " lead", "trail ", "arn", "tab\there"):
        with fault("ValidationException") as caught:
            register(swf, name)
        message = caught[0].response["Error"]["Message"]
        assert message.startswith("1 validation error detected: Value '")
        assert message.endswith(f"' at 'name' failed to satisfy constraint: {NAME_RULE}")
    assert domain_names(swf) == [] and domain_names(swf, "DEPRECATED") == []
    with fault(
        "ValidationException",
        f"1 validation error detected: Value 'a:b' at 'name' failed to satisfy constraint: {NAME_RULE}",
    ):
        register(swf, "a:b")


def test_type_name_and_version_rules(swf: Any) -> None:
    register(swf, "d")
    with fault(
        "ValidationException",
        f"1 validation error detected: Value 'wf:1' at 'name' failed to satisfy constraint: {NAME_RULE}",
    ):
        swf.register_workflow_type(domain="d", name="wf:1", version="1")
    with fault(
        "ValidationException",
        f"1 validation error detected: Value '{'v' * 64}...' at 'version' failed to satisfy constraint: "
        "Member must have length less than or equal to 64",
    ):
        swf.register_activity_type(domain="d", name="act", version="v" * 65)
    with fault("ValidationException") as caught:
        swf.register_workflow_type(domain="d", name="x" * 257, version="1")
    assert "at 'name' failed to satisfy constraint: Member must have length less than or equal to 256" in (
        caught[0].response["Error"]["Message"]
    )
    for status in ("REGISTERED", "DEPRECATED"):
        assert swf.list_workflow_types(domain="d", registrationStatus=status)["typeInfos"] == []
        assert swf.list_activity_types(domain="d", registrationStatus=status)["typeInfos"] == []
    with fault("ValidationException"):
        swf.register_workflow_type(domain="d", name="wf", version="1", description="x" * 1025)
    swf.register_workflow_type(domain="d", name="wf", version="1", description="x" * 1024)
    assert swf.describe_workflow_type(domain="d", workflowType=WF)["typeInfo"]["description"] == "x" * 1024


def test_several_violations_in_one_message(swf: Any) -> None:
    with fault("ValidationException") as caught:
        register(swf, "a:b", "x", description="d" * 1025)
    message = caught[0].response["Error"]["Message"]
    assert message.startswith("3 validation errors detected: Value ")
    for path in ("'name'", "'description'", "'workflowExecutionRetentionPeriodInDays'"):
        assert f"at {path} failed to satisfy constraint" in message
    assert domain_names(swf) == []


def test_missing_required_members_are_checked_by_the_engine(swf: Any) -> None:
    engine = swf.flowser_engine
    with pytest.raises(faults.ValidationException) as info:
        engine.handle("RegisterDomain", {"name": "d"})
    assert info.value.message == (
        "1 validation error detected: Value null at 'workflowExecutionRetentionPeriodInDays' "
        "failed to satisfy constraint: Member must not be null"
    )
    with pytest.raises(faults.ValidationException) as info:
        engine.handle("RegisterDomain", {"name": 5, "workflowExecutionRetentionPeriodInDays": "1"})
    assert info.value.message == (
        "1 validation error detected: Value '5' at 'name' failed to satisfy constraint: Member must be a string"
    )
    with pytest.raises(faults.ValidationException) as info:
        engine.handle("RegisterWorkflowType", {"domain": "d", "name": "wf"})
    assert info.value.message == (
        "1 validation error detected: Value null at 'version' failed to satisfy constraint: Member must not be null"
    )
    assert domain_names(swf) == []


# -- tags --------------------------------------------------------------------------------------


def tags_of(swf: Any, domain: str) -> list[dict[str, str]]:
    return sorted(swf.list_tags_for_resource(resourceArn=ARN_PREFIX + domain)["tags"], key=lambda t: t["key"])


def test_domain_tags(swf: Any) -> None:
    register(swf, "d", tags=[{"key": "team", "value": "core"}, {"key": "env", "value": "dev"}])
    arn = swf.describe_domain(name="d")["domainInfo"]["arn"]
    assert arn == ARN_PREFIX + "d"
    assert tags_of(swf, "d") == [{"key": "env", "value": "dev"}, {"key": "team", "value": "core"}]
    swf.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "prod"}, {"key": "cost", "value": "42"}])
    assert tags_of(swf, "d") == [
        {"key": "cost", "value": "42"},
        {"key": "env", "value": "prod"},
        {"key": "team", "value": "core"},
    ]
    swf.untag_resource(resourceArn=arn, tagKeys=["team", "absent"])
    assert tags_of(swf, "d") == [{"key": "cost", "value": "42"}, {"key": "env", "value": "prod"}]
    swf.untag_resource(resourceArn=arn, tagKeys=["cost", "env"])
    assert body(swf.list_tags_for_resource(resourceArn=arn)) == {"tags": []}
    # a deprecated domain keeps its tags working
    swf.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "1"}])
    swf.deprecate_domain(name="d")
    swf.tag_resource(resourceArn=arn, tags=[{"key": "b", "value": "2"}])
    assert tags_of(swf, "d") == [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    # a domain registered without tags has none
    register(swf, "untagged")
    assert body(swf.list_tags_for_resource(resourceArn=ARN_PREFIX + "untagged")) == {"tags": []}


def test_tags_of_unknown_resource(swf: Any) -> None:
    register(swf, "d")
    with fault("ValidationException"):
        swf.tag_resource(resourceArn=ARN_PREFIX + "d", tags=[{"key": "k" * 129, "value": "v"}])
    with fault("ValidationException"):
        swf.tag_resource(resourceArn=ARN_PREFIX + "d", tags=[{"key": "a*b", "value": "v"}])
    with fault("ValidationException"):
        swf.tag_resource(resourceArn=ARN_PREFIX + "d", tags=[{"key": "k", "value": "v" * 257}])
    with fault("ValidationException"):
        register(swf, "e", tags=[{"key": "a*b", "value": "v"}])
    assert tags_of(swf, "d") == [] and domain_names(swf) == ["d"]
    for arn in (ARN_PREFIX + "other", "arn:aws:swf:eu-west-1:000000000000:/domain/d", "not-an-arn"):
        with fault("UnknownResourceFault"):
            swf.list_tags_for_resource(resourceArn=arn)
        with fault("UnknownResourceFault"):
            swf.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "v"}])
        with fault("UnknownResourceFault"):
            swf.untag_resource(resourceArn=arn, tagKeys=["k"])


def test_more_than_50_tags(swf: Any) -> None:
    fifty = [{"key": f"k{i:02}", "value": str(i)} for i in range(50)]
    with fault("TooManyTagsFault"):
        register(swf, "big", tags=[*fifty, {"key": "k50", "value": "50"}])
    assert domain_names(swf) == []
    register(swf, "d", tags=fifty)
    assert tags_of(swf, "d") == fifty
    with fault("TooManyTagsFault"):
        swf.tag_resource(resourceArn=ARN_PREFIX + "d", tags=[{"key": "one-more", "value": "x"}])
    assert tags_of(swf, "d") == fifty
    swf.tag_resource(resourceArn=ARN_PREFIX + "d", tags=[{"key": "k00", "value": "replaced"}])  # still 50
    assert tags_of(swf, "d")[0] == {"key": "k00", "value": "replaced"}


# -- types -------------------------------------------------------------------------------------

WORKFLOW_DEFAULTS = {
    "defaultTaskStartToCloseTimeout": "30",
    "defaultExecutionStartToCloseTimeout": "3600",
    "defaultTaskList": {"name": "deciders"},
    "defaultTaskPriority": "5",
    "defaultChildPolicy": "ABANDON",
    "defaultLambdaRole": "arn:aws:iam::000000000000:role/lambda",
}
ACTIVITY_DEFAULTS = {
    "defaultTaskStartToCloseTimeout": "300",
    "defaultTaskHeartbeatTimeout": "60",
    "defaultTaskList": {"name": "workers"},
    "defaultTaskPriority": "-3",
    "defaultTaskScheduleToStartTimeout": "NONE",
    "defaultTaskScheduleToCloseTimeout": "900",
}
WF = {"name": "wf", "version": "1"}
ACT = {"name": "act", "version": "1"}


def test_workflow_type_stores_every_default_given(env: Any) -> None:
    swf = env.client
    t0 = whole_second(env, 10)
    register(swf, "d")
    swf.register_workflow_type(domain="d", name="wf", version="1", description="the flow", **WORKFLOW_DEFAULTS)
    assert body(swf.describe_workflow_type(domain="d", workflowType=WF)) == {
        "typeInfo": {"workflowType": WF, "status": "REGISTERED", "description": "the flow", "creationDate": at(t0)},
        "configuration": WORKFLOW_DEFAULTS,
    }


def test_activity_type_stores_every_default_given(env: Any) -> None:
    swf = env.client
    t0 = whole_second(env, 10)
    register(swf, "d")
    swf.register_activity_type(domain="d", name="act", version="1", description="does it", **ACTIVITY_DEFAULTS)
    assert body(swf.describe_activity_type(domain="d", activityType=ACT)) == {
        "typeInfo": {"activityType": ACT, "status": "REGISTERED", "description": "does it", "creationDate": at(t0)},
        "configuration": ACTIVITY_DEFAULTS,
    }


def test_types_store_only_the_defaults_given(swf: Any) -> None:
    register(swf, "d")
    for member, value in WORKFLOW_DEFAULTS.items():
        swf.register_workflow_type(domain="d", name="wf", version=member, **{member: value})
        described = swf.describe_workflow_type(domain="d", workflowType={"name": "wf", "version": member})
        assert described["configuration"] == {member: value}
        assert set(described["typeInfo"]) == {"workflowType", "status", "creationDate"}
    for member, value in ACTIVITY_DEFAULTS.items():
        swf.register_activity_type(domain="d", name="act", version=member, **{member: value})
        described = swf.describe_activity_type(domain="d", activityType={"name": "act", "version": member})
        assert described["configuration"] == {member: value}
    swf.register_workflow_type(domain="d", name="wf", version="none")
    swf.register_activity_type(domain="d", name="act", version="none")
    assert swf.describe_workflow_type(domain="d", workflowType={"name": "wf", "version": "none"})["configuration"] == {}
    assert swf.describe_activity_type(domain="d", activityType={"name": "act", "version": "none"})["configuration"] == {}


def test_type_durations_and_priority_are_checked(swf: Any) -> None:
    register(swf, "d")
    with fault(
        "ValidationException",
        "1 validation error detected: Value 'soon' at 'defaultTaskStartToCloseTimeout' failed to satisfy "
        "constraint: Member must be a number of seconds or NONE",
    ):
        swf.register_activity_type(domain="d", name="act", version="1", defaultTaskStartToCloseTimeout="soon")
    with fault(
        "ValidationException",
        "1 validation error detected: Value 'high' at 'defaultTaskPriority' failed to satisfy "
        "constraint: Member must be an integer between -2147483648 and 2147483647",
    ):
        swf.register_workflow_type(domain="d", name="wf", version="1", defaultTaskPriority="high")
    with fault(
        "ValidationException",
        "1 validation error detected: Value 'KILL' at 'defaultChildPolicy' failed to satisfy "
        "constraint: Member must satisfy enum value set: [TERMINATE, REQUEST_CANCEL, ABANDON]",
    ):
        swf.register_workflow_type(domain="d", name="wf", version="1", defaultChildPolicy="KILL")
    with fault("ValidationException"):
        swf.register_workflow_type(domain="d", name="wf", version="1", defaultExecutionStartToCloseTimeout="NONE")
    with fault("ValidationException"):
        swf.register_workflow_type(domain="d", name="wf", version="1", defaultExecutionStartToCloseTimeout="31536001")
    assert swf.list_workflow_types(domain="d", registrationStatus="REGISTERED")["typeInfos"] == []
    assert swf.list_activity_types(domain="d", registrationStatus="REGISTERED")["typeInfos"] == []
    swf.register_workflow_type(domain="d", name="wf", version="1", defaultExecutionStartToCloseTimeout="31536000")
    configuration = swf.describe_workflow_type(domain="d", workflowType=WF)["configuration"]
    assert configuration == {"defaultExecutionStartToCloseTimeout": "31536000"}


def test_register_existing_type_fails_whatever_its_status(swf: Any) -> None:
    register(swf, "d")
    swf.register_workflow_type(domain="d", name="wf", version="1", defaultChildPolicy="TERMINATE")
    swf.register_activity_type(domain="d", name="act", version="1")
    with fault("TypeAlreadyExistsFault"):
        swf.register_workflow_type(domain="d", name="wf", version="1", defaultChildPolicy="ABANDON")
    with fault("TypeAlreadyExistsFault"):
        swf.register_activity_type(domain="d", name="act", version="1")
    swf.deprecate_workflow_type(domain="d", workflowType=WF)
    swf.deprecate_activity_type(domain="d", activityType=ACT)
    with fault("TypeAlreadyExistsFault"):
        swf.register_workflow_type(domain="d", name="wf", version="1")
    with fault("TypeAlreadyExistsFault"):
        swf.register_activity_type(domain="d", name="act", version="1")
    assert swf.describe_workflow_type(domain="d", workflowType=WF)["configuration"] == {
        "defaultChildPolicy": "TERMINATE"
    }


def test_workflow_and_activity_types_are_separate(swf: Any) -> None:
    register(swf, "d")
    swf.register_workflow_type(domain="d", name="same", version="1")
    swf.register_activity_type(domain="d", name="same", version="1")
    swf.register_workflow_type(domain="d", name="same", version="2")
    wf = swf.list_workflow_types(domain="d", registrationStatus="REGISTERED")["typeInfos"]
    act = swf.list_activity_types(domain="d", registrationStatus="REGISTERED")["typeInfos"]
    assert [t["workflowType"] for t in wf] == [{"name": "same", "version": "1"}, {"name": "same", "version": "2"}]
    assert [t["activityType"] for t in act] == [{"name": "same", "version": "1"}]


def test_describe_unknown_type(swf: Any) -> None:
    register(swf, "d")
    swf.register_workflow_type(domain="d", name="wf", version="1")
    with fault("UnknownResourceFault", "Unknown type: WorkflowType=[name=wf, version=2]"):
        swf.describe_workflow_type(domain="d", workflowType={"name": "wf", "version": "2"})
    with fault("UnknownResourceFault", "Unknown type: ActivityType=[name=wf, version=1]"):
        swf.describe_activity_type(domain="d", activityType=WF)
    with fault("UnknownResourceFault", "Unknown domain: other"):
        swf.describe_workflow_type(domain="other", workflowType=WF)


def test_deprecate_undeprecate_workflow_type(env: Any) -> None:
    swf = env.client
    t0 = whole_second(env, 10)
    register(swf, "d")
    swf.register_workflow_type(domain="d", name="wf", version="1")
    env.sleep(60)
    swf.deprecate_workflow_type(domain="d", workflowType=WF)
    assert swf.describe_workflow_type(domain="d", workflowType=WF)["typeInfo"] == {
        "workflowType": WF,
        "status": "DEPRECATED",
        "creationDate": at(t0),
        "deprecationDate": at(t0 + 60),
    }
    with fault("TypeDeprecatedFault"):
        swf.deprecate_workflow_type(domain="d", workflowType=WF)
    env.sleep(60)
    swf.undeprecate_workflow_type(domain="d", workflowType=WF)
    assert swf.describe_workflow_type(domain="d", workflowType=WF)["typeInfo"] == {
        "workflowType": WF,
        "status": "REGISTERED",
        "creationDate": at(t0),
    }
    with fault("TypeAlreadyExistsFault"):
        swf.undeprecate_workflow_type(domain="d", workflowType=WF)


def test_deprecate_undeprecate_activity_type(env: Any) -> None:
    swf = env.client
    t0 = whole_second(env, 10)
    register(swf, "d")
    swf.register_activity_type(domain="d", name="act", version="1", description="x")
    env.sleep(5)
    swf.deprecate_activity_type(domain="d", activityType=ACT)
    assert swf.describe_activity_type(domain="d", activityType=ACT)["typeInfo"] == {
        "activityType": ACT,
        "status": "DEPRECATED",
        "description": "x",
        "creationDate": at(t0),
        "deprecationDate": at(t0 + 5),
    }
    with fault("TypeDeprecatedFault"):
        swf.deprecate_activity_type(domain="d", activityType=ACT)
    swf.undeprecate_activity_type(domain="d", activityType=ACT)
    info = swf.describe_activity_type(domain="d", activityType=ACT)["typeInfo"]
    assert info["status"] == "REGISTERED" and "deprecationDate" not in info
    with fault("TypeAlreadyExistsFault"):
        swf.undeprecate_activity_type(domain="d", activityType=ACT)


def test_unknown_domains_and_types(swf: Any) -> None:
    with fault("UnknownResourceFault", "Unknown domain: nope"):
        swf.register_workflow_type(domain="nope", name="wf", version="1")
    with fault("UnknownResourceFault", "Unknown domain: nope"):
        swf.register_activity_type(domain="nope", name="act", version="1")
    with fault("UnknownResourceFault", "Unknown domain: nope"):
        swf.list_workflow_types(domain="nope", registrationStatus="REGISTERED")
    with fault("UnknownResourceFault", "Unknown domain: nope"):
        swf.list_activity_types(domain="nope", registrationStatus="REGISTERED")
    register(swf, "d")
    missing_wf = "Unknown type: WorkflowType=[name=wf, version=1]"
    missing_act = "Unknown type: ActivityType=[name=act, version=1]"
    for call in (swf.deprecate_workflow_type, swf.undeprecate_workflow_type, swf.delete_workflow_type):
        with fault("UnknownResourceFault", missing_wf):
            call(domain="d", workflowType=WF)
        with fault("UnknownResourceFault", "Unknown domain: nope"):
            call(domain="nope", workflowType=WF)
    for call in (swf.deprecate_activity_type, swf.undeprecate_activity_type, swf.delete_activity_type):
        with fault("UnknownResourceFault", missing_act):
            call(domain="d", activityType=ACT)
        with fault("UnknownResourceFault", "Unknown domain: nope"):
            call(domain="nope", activityType=ACT)


def test_delete_workflow_type_then_register_again(env: Any) -> None:
    swf = env.client
    whole_second(env, 10)
    register(swf, "d")
    swf.register_workflow_type(domain="d", name="wf", version="1", defaultChildPolicy="ABANDON")
    with fault("TypeNotDeprecatedFault"):
        swf.delete_workflow_type(domain="d", workflowType=WF)
    assert swf.describe_workflow_type(domain="d", workflowType=WF)["typeInfo"]["status"] == "REGISTERED"
    swf.deprecate_workflow_type(domain="d", workflowType=WF)
    swf.delete_workflow_type(domain="d", workflowType=WF)
    with fault("UnknownResourceFault", "Unknown type: WorkflowType=[name=wf, version=1]"):
        swf.describe_workflow_type(domain="d", workflowType=WF)
    with fault("UnknownResourceFault"):
        swf.delete_workflow_type(domain="d", workflowType=WF)
    for status in ("REGISTERED", "DEPRECATED"):
        assert swf.list_workflow_types(domain="d", registrationStatus=status)["typeInfos"] == []
    env.sleep(10)
    swf.register_workflow_type(domain="d", name="wf", version="1", defaultChildPolicy="TERMINATE")
    described = swf.describe_workflow_type(domain="d", workflowType=WF)
    assert described["typeInfo"] == {"workflowType": WF, "status": "REGISTERED", "creationDate": at(env.clock.now())}
    assert described["configuration"] == {"defaultChildPolicy": "TERMINATE"}


def test_delete_activity_type_then_register_again(swf: Any) -> None:
    register(swf, "d")
    swf.register_activity_type(domain="d", name="act", version="1")
    with fault("TypeNotDeprecatedFault"):
        swf.delete_activity_type(domain="d", activityType=ACT)
    swf.deprecate_activity_type(domain="d", activityType=ACT)
    swf.delete_activity_type(domain="d", activityType=ACT)
    with fault("UnknownResourceFault", "Unknown type: ActivityType=[name=act, version=1]"):
        swf.describe_activity_type(domain="d", activityType=ACT)
    with fault("UnknownResourceFault"):
        swf.undeprecate_activity_type(domain="d", activityType=ACT)
    swf.register_activity_type(domain="d", name="act", version="1")
    assert swf.describe_activity_type(domain="d", activityType=ACT)["typeInfo"]["status"] == "REGISTERED"


def _versions(infos: list[dict[str, Any]], member: str = "workflowType") -> list[tuple[str, str]]:
    return [(t[member]["name"], t[member]["version"]) for t in infos]


def test_list_workflow_types_by_status_name_and_order(swf: Any) -> None:
    register(swf, "d")
    for name, version in [("beta", "2"), ("alpha", "1"), ("beta", "1"), ("gamma", "1"), ("alpha", "2")]:
        swf.register_workflow_type(domain="d", name=name, version=version)
    swf.deprecate_workflow_type(domain="d", workflowType={"name": "gamma", "version": "1"})
    registered = swf.list_workflow_types(domain="d", registrationStatus="REGISTERED")["typeInfos"]
    assert _versions(registered) == [("alpha", "1"), ("alpha", "2"), ("beta", "1"), ("beta", "2")]
    assert all(set(t) == {"workflowType", "status", "creationDate"} and t["status"] == "REGISTERED" for t in registered)
    backwards = swf.list_workflow_types(domain="d", registrationStatus="REGISTERED", reverseOrder=True)["typeInfos"]
    assert _versions(backwards) == [("beta", "2"), ("beta", "1"), ("alpha", "2"), ("alpha", "1")]
    by_name = swf.list_workflow_types(domain="d", registrationStatus="REGISTERED", name="beta")["typeInfos"]
    assert _versions(by_name) == [("beta", "1"), ("beta", "2")]
    assert swf.list_workflow_types(domain="d", registrationStatus="REGISTERED", name="bet")["typeInfos"] == []
    assert swf.list_workflow_types(domain="d", registrationStatus="REGISTERED", name="gamma")["typeInfos"] == []
    deprecated = swf.list_workflow_types(domain="d", registrationStatus="DEPRECATED")["typeInfos"]
    assert _versions(deprecated) == [("gamma", "1")] and deprecated[0]["status"] == "DEPRECATED"
    assert "deprecationDate" in deprecated[0]


def test_list_activity_types_by_name_with_paging(swf: Any) -> None:
    register(swf, "d")
    for version in ("1", "2", "3"):
        swf.register_activity_type(domain="d", name="act", version=version)
    swf.register_activity_type(domain="d", name="other", version="1")
    first = swf.list_activity_types(domain="d", registrationStatus="REGISTERED", name="act", maximumPageSize=2)
    assert _versions(first["typeInfos"], "activityType") == [("act", "1"), ("act", "2")]
    second = swf.list_activity_types(
        domain="d", registrationStatus="REGISTERED", name="act", maximumPageSize=2, nextPageToken=first["nextPageToken"]
    )
    assert _versions(second["typeInfos"], "activityType") == [("act", "3")]
    assert "nextPageToken" not in second
    with fault("ValidationException"):  # the token belongs to the name=act query
        swf.list_activity_types(
            domain="d", registrationStatus="REGISTERED", name="other", nextPageToken=first["nextPageToken"]
        )
    everything = swf.list_activity_types(domain="d", registrationStatus="REGISTERED", maximumPageSize=4)
    assert len(everything["typeInfos"]) == 4 and "nextPageToken" not in everything


def test_list_workflow_types_paging_chain(swf: Any) -> None:
    register(swf, "d")
    for i in range(5):
        swf.register_workflow_type(domain="d", name=f"wf{i}", version="1")
    seen: list[tuple[str, str]] = []
    token = None
    pages = 0
    while True:
        kw = {"nextPageToken": token} if token else {}
        page = swf.list_workflow_types(domain="d", registrationStatus="REGISTERED", maximumPageSize=2, **kw)
        seen.extend(_versions(page["typeInfos"]))
        pages += 1
        token = page.get("nextPageToken")
        if not token:
            break
    assert pages == 3
    assert seen == [(f"wf{i}", "1") for i in range(5)]


def test_deprecating_a_domain_deprecates_its_types(env: Any) -> None:
    swf = env.client
    t0 = whole_second(env, 10)
    register(swf, "d")
    swf.register_workflow_type(domain="d", name="wf", version="1")
    swf.register_workflow_type(domain="d", name="old", version="1")
    swf.register_activity_type(domain="d", name="act", version="1")
    swf.deprecate_workflow_type(domain="d", workflowType={"name": "old", "version": "1"})
    env.sleep(30)
    swf.deprecate_domain(name="d")
    assert swf.list_workflow_types(domain="d", registrationStatus="REGISTERED")["typeInfos"] == []
    assert swf.list_activity_types(domain="d", registrationStatus="REGISTERED")["typeInfos"] == []
    wf = swf.describe_workflow_type(domain="d", workflowType=WF)["typeInfo"]
    assert (wf["status"], wf["deprecationDate"]) == ("DEPRECATED", at(t0 + 30))
    old = swf.describe_workflow_type(domain="d", workflowType={"name": "old", "version": "1"})["typeInfo"]
    assert old["deprecationDate"] == at(t0)  # deprecated before: keeps its date
    act = swf.describe_activity_type(domain="d", activityType=ACT)["typeInfo"]
    assert (act["status"], act["deprecationDate"]) == ("DEPRECATED", at(t0 + 30))
    # visibility continues in a deprecated domain
    deprecated = swf.list_workflow_types(domain="d", registrationStatus="DEPRECATED")["typeInfos"]
    assert _versions(deprecated) == [("old", "1"), ("wf", "1")]
    # undeprecating the domain leaves its types deprecated (§3.2 [E])
    swf.undeprecate_domain(name="d")
    assert swf.describe_workflow_type(domain="d", workflowType=WF)["typeInfo"]["status"] == "DEPRECATED"


def test_deprecating_again_completes_a_deprecation_cut_short(env: Any) -> None:
    """On a Redis Cluster the registry and the domain's types are two writes (docs/scaling.md): a process
    that dies between them leaves types registered in a deprecated domain. DeprecateDomain again
    deprecates them, and still answers DomainDeprecatedFault."""
    from backends.local.keys import DomainKeys

    swf = env.client
    register(swf, "d")
    swf.register_workflow_type(domain="d", name="wf", version="1")
    swf.deprecate_domain(name="d")
    dk = DomainKeys("d")
    records = env.store.transaction([dk.types], lambda tx: tx.type_records(dk))
    for record in records.values():
        record["status"] = "REGISTERED"  # as the lost second write left it

    def put_back(tx: Any) -> None:
        tx.multi()
        tx.put_types(dk, records)

    env.store.transaction([dk.types], put_back)
    assert swf.describe_workflow_type(domain="d", workflowType=WF)["typeInfo"]["status"] == "REGISTERED"
    with fault("DomainDeprecatedFault"):
        swf.deprecate_domain(name="d")
    assert swf.describe_workflow_type(domain="d", workflowType=WF)["typeInfo"]["status"] == "DEPRECATED"
    with fault("DomainDeprecatedFault"):
        swf.deprecate_domain(name="d")


def test_registering_types_in_a_deprecated_domain(swf: Any) -> None:
    register(swf, "d")
    swf.deprecate_domain(name="d")
    with fault("UnknownResourceFault") as caught:
        swf.register_workflow_type(domain="d", name="wf", version="1")
    assert caught[0].response["Error"]["Message"].startswith("Unknown domain: d")
    with fault("UnknownResourceFault"):
        swf.register_activity_type(domain="d", name="act", version="1")
    assert swf.list_workflow_types(domain="d", registrationStatus="REGISTERED")["typeInfos"] == []
    assert swf.list_activity_types(domain="d", registrationStatus="DEPRECATED")["typeInfos"] == []
    swf.undeprecate_domain(name="d")
    swf.register_workflow_type(domain="d", name="wf", version="1")
    assert swf.describe_workflow_type(domain="d", workflowType=WF)["typeInfo"]["status"] == "REGISTERED"


def test_list_domains_token_expires_after_a_day(env: Any) -> None:
    swf = env.client
    for i in range(3):
        register(swf, f"d{i}")
    token = swf.list_domains(registrationStatus="REGISTERED", maximumPageSize=1)["nextPageToken"]
    env.sleep(3600)
    page = swf.list_domains(registrationStatus="REGISTERED", maximumPageSize=1, nextPageToken=token)
    assert [d["name"] for d in page["domainInfos"]] == ["d1"]
    env.sleep(86400)
    with fault("ValidationException", "Specified token has exceeded its maximum lifetime"):
        swf.list_domains(registrationStatus="REGISTERED", maximumPageSize=1, nextPageToken=token)


def test_type_limit_per_kind_counts_deprecated_types(redis_client: Any, redis_url: str) -> None:
    from backends.local import EngineConfig
    from backends.local.testing import LocalEnvironment

    with LocalEnvironment(redis_url, config=EngineConfig(max_types=3)) as environment:
        swf = environment.client
        register(swf, "d")
        for version in ("1", "2", "3"):
            swf.register_workflow_type(domain="d", name="wf", version=version)
            swf.register_activity_type(domain="d", name="act", version=version)
        swf.deprecate_workflow_type(domain="d", workflowType={"name": "wf", "version": "1"})
        with fault("LimitExceededFault"):
            swf.register_workflow_type(domain="d", name="wf", version="4")
        with fault("LimitExceededFault"):
            swf.register_activity_type(domain="d", name="other", version="1")
        register(swf, "e")  # the limit is per domain
        swf.register_workflow_type(domain="e", name="wf", version="4")
        swf.delete_workflow_type(domain="d", workflowType={"name": "wf", "version": "1"})
        swf.register_workflow_type(domain="d", name="wf", version="4")
        versions = [t["workflowType"]["version"] for t in swf.list_workflow_types(domain="d", registrationStatus="REGISTERED")["typeInfos"]]
        assert versions == ["2", "3", "4"]
