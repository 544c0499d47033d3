"""Safe on a network: SigV4 on every request, per-key domains and operations, loopback by default."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError

from backends.http.auth import AuthError, Credentials, CredentialsError
from backends.http.serve import is_loopback

from .conftest import KEY_ID, SECRET, raw, register_basics, swf_client, target

LIMITED = ("AKIDLIMITED", "limited-secret")
POLLER = ("AKIDPOLLER", "poller-secret")


def credentials_document(domain_a: str) -> dict[str, Any]:
    return {
        "keys": [
            {"access_key_id": KEY_ID, "secret_access_key": SECRET, "description": "everything"},
            {"access_key_id": LIMITED[0], "secret_access_key": LIMITED[1], "domains": [domain_a, f"{domain_a}-*"]},
            {"access_key_id": POLLER[0], "secret_access_key": POLLER[1], "actions": ["swf:Poll*", "swf:respond*"]},
        ],
        "metrics_token": "scrape-me",
    }


def code_of(call: Any, *args: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    error = caught.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


def test_sigv4_keys_and_per_key_permissions(serve: Any, tmp_path: Path, domain: str) -> None:
    a, b = f"{domain}-a", f"{domain}-b"
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps(credentials_document(a)))
    server = serve("--poll-hold", "1", "--credentials", str(path))
    admin = server.client()
    register_basics(admin, a, task_list="tl")
    register_basics(admin, b, task_list="tl")
    admin.start_workflow_execution(domain=b, workflowId="wb", workflowType={"name": "wf", "version": "1"})

    # bad signature, unknown key, no signature at all
    assert code_of(server.client(secret="wrong").describe_domain, name=a)[:2] == ("InvalidSignatureException", 400)
    assert code_of(server.client(key="AKIDNOBODY").describe_domain, name=a)[:2] == ("UnrecognizedClientException", 400)
    status, _, body = raw(server.url, target("DescribeDomain"), {"name": a})
    assert status == 403 and json.loads(body)["__type"] == "com.amazon.coral.service#MissingAuthenticationTokenException"
    status, _, body = raw(server.url, target("DescribeDomain"), {"name": a}, {"Authorization": "Basic eDp5"})
    assert status == 400 and json.loads(body)["__type"].endswith("#IncompleteSignatureException")
    expired = (f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20200101/us-east-1/swf/aws4_request, "
               "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)
    status, _, body = raw(server.url, target("DescribeDomain"), {"name": a}, {"Authorization": expired, "X-Amz-Date": "20200101T000000Z"})
    assert status == 400 and json.loads(body)["message"].startswith("Signature expired")
    # a body changed after signing fails the signature
    tampered = server.client()
    tampered.meta.events.register("before-send.swf", lambda request, **_: setattr(request, "body", request.body.replace(b"-a", b"-b")))
    assert code_of(tampered.describe_domain, name=a)[0] == "InvalidSignatureException"

    # a key limited to domain a: everything on a, nothing on b, and b's existence never shows
    limited = server.client(key=LIMITED[0], secret=LIMITED[1])
    assert limited.describe_domain(name=a)["domainInfo"]["name"] == a
    assert [d["name"] for d in limited.list_domains(registrationStatus="REGISTERED")["domainInfos"]] == [a]
    code, status, message = code_of(limited.describe_domain, name=b)
    assert (code, status) == ("AccessDeniedException", 403)
    missing = code_of(limited.describe_domain, name=f"{domain}-c")[2]  # a domain that does not exist
    assert message.replace(b, "X") == missing.replace(f"{domain}-c", "X")
    assert f"swf:DescribeDomain on resource: arn:aws:swf:us-east-1:000000000000:/domain/{b}" in message
    for call, kwargs in [
        (limited.start_workflow_execution, {"domain": b, "workflowId": "x", "workflowType": {"name": "wf", "version": "1"}}),
        (limited.poll_for_decision_task, {"domain": b, "taskList": {"name": "tl"}}),
        (limited.register_domain, {"name": b, "workflowExecutionRetentionPeriodInDays": "1"}),
        (limited.list_tags_for_resource, {"resourceArn": f"arn:aws:swf:us-east-1:000000000000:/domain/{b}"}),
        (limited.count_pending_decision_tasks, {"domain": b, "taskList": {"name": "tl"}}),
    ]:
        assert code_of(call, **kwargs)[0] == "AccessDeniedException", call
    # a task token of domain b is refused too, and b's task stays where it is
    task_b = admin.poll_for_decision_task(domain=b, taskList={"name": "tl"})
    assert code_of(limited.respond_decision_task_completed, taskToken=task_b["taskToken"], decisions=[])[0] == "AccessDeniedException"
    admin.respond_decision_task_completed(taskToken=task_b["taskToken"], decisions=[])
    # an invalid request is a ValidationException whatever domain it names (nothing to learn there either)
    assert code_of(limited.poll_for_decision_task, domain=b, taskList={"name": "a:b"})[0] == "ValidationException"
    limited.start_workflow_execution(domain=a, workflowId="wa", workflowType={"name": "wf", "version": "1"})
    task_a = limited.poll_for_decision_task(domain=a, taskList={"name": "tl"})
    limited.respond_decision_task_completed(taskToken=task_a["taskToken"], decisions=[])

    # a key limited to some operations
    poller = server.client(key=POLLER[0], secret=POLLER[1])
    assert poller.poll_for_activity_task(domain=a, taskList={"name": "tl"})["taskToken"] == ""
    code, status, message = code_of(poller.list_domains, registrationStatus="REGISTERED")
    assert (code, status) == ("AccessDeniedException", 403) and "swf:ListDomains" in message

    # /health is open; /metrics wants the metrics token
    assert raw(server.url, None, b"", method="GET", path="/health")[0] == 200
    assert raw(server.url, None, b"", method="GET", path="/metrics")[0] == 403
    status, _, body = raw(server.url, None, b"", {"Authorization": "Bearer scrape-me"}, method="GET", path="/metrics")
    assert status == 200 and b"flowser_requests_total" in body


def test_credentials_from_the_environment(serve: Any, domain: str) -> None:
    document = json.dumps({"keys": [{"access_key_id": "AKIDENV", "secret_access_key": "env-secret"}]})
    server = serve("--poll-hold", "1", env={"FLOWSER_CREDENTIALS": document})
    swf_client(server.url, key="AKIDENV", secret="env-secret").register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    assert code_of(server.client().describe_domain, name=domain)[0] == "UnrecognizedClientException"


def test_non_loopback_bind_refused_without_credentials(serve: Any, tmp_path: Path) -> None:
    refused = serve("--host", "0.0.0.0", wait=False)
    assert refused.proc.wait(30) == 2
    refused._ready.wait(5)
    assert not refused.lines and any("--insecure" in line for line in refused.errors)
    bad = tmp_path / "bad.json"
    bad.write_text('{"keys": [{"access_key_id": "x"}]}')
    broken = serve("--credentials", str(bad), wait=False)
    assert broken.proc.wait(30) == 2
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.8.9.10")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("no-such-host.invalid")


def test_credentials_documents() -> None:
    creds = Credentials.parse([{"access_key_id": "k", "secret_access_key": "s", "domains": ["a*"], "actions": ["swf:Get*"]}])
    key = creds.keys["k"]
    assert key.allows_domain("abc") and not key.allows_domain("b")
    assert key.allows_action("GetWorkflowExecutionHistory") and not key.allows_action("StartWorkflowExecution")
    for bad in ({}, {"keys": []}, {"keys": [{"access_key_id": "k"}]}, {"keys": [{"access_key_id": "k", "secret_access_key": "s", "domains": "a"}]},
                {"keys": [{"access_key_id": "k", "secret_access_key": "s", "extra": 1}]}):
        with pytest.raises(CredentialsError):
            Credentials.parse(bad)
    assert Credentials.from_environment({}) is None


def botocore_signed(url: str, params: dict[str, str], body: bytes, **extra_headers: str) -> tuple[str, dict[str, str]]:
    """The path with its query, and the headers, of a ListDomains request signed by botocore."""
    request = AWSRequest(method="POST", url=url + "/", params=params, data=body, headers={
        "X-Amz-Target": target("ListDomains"), "Content-Type": "application/x-amz-json-1.0", **extra_headers})
    SigV4Auth(BotoCredentials(KEY_ID, SECRET), "swf", "us-east-1").add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    return f"{parts.path}?{parts.query}", dict(prepared.headers)


def test_a_query_that_needs_encoding_is_checked_as_sigv4_encodes_it() -> None:
    """SigV4 signs each query name and value URI-encoded: "b c" as b%20c, "/" as %2F, whichever way it was sent."""
    creds = Credentials.parse([{"access_key_id": KEY_ID, "secret_access_key": SECRET}])
    body = b'{"registrationStatus":"REGISTERED"}'
    path, headers = botocore_signed("http://127.0.0.1:8000", {"a": "b c", "x": "/"}, body)
    assert path == "/?a=b+c&x=%2F"  # botocore's own encoding on the wire
    sent = {k.lower(): v for k, v in headers.items()} | {"host": "127.0.0.1:8000"}

    def check(query: str, request_body: bytes = body, **changed: str) -> str | None:
        try:
            creds.authenticate("POST", "/", query, sent | changed, request_body, now=time.time())
        except AuthError as err:
            return err.code
        return None

    assert check("a=b+c&x=%2F") is None
    assert check("x=%2F&a=b%20c") is None  # the same query, encoded and ordered otherwise
    assert check("a=b+c&x=%2Fy") == "InvalidSignatureException"
    assert check("a=b+c") == "InvalidSignatureException"
    assert check("a=b+c&x=%2F", body.replace(b"REGISTERED", b"DEPRECATED")) == "InvalidSignatureException"
    assert check("a=b+c&x=%2F", **{"x-amz-target": target("DescribeDomain")}) == "InvalidSignatureException"

    # a signed payload hash must be this body's
    path, headers = botocore_signed("http://127.0.0.1:8000", {}, body, **{"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    sent = {k.lower(): v for k, v in headers.items()} | {"host": "127.0.0.1:8000"}
    assert "x-amz-content-sha256" in sent["authorization"]
    assert check("") is None
    forged = {"x-amz-content-sha256": hashlib.sha256(b"{}").hexdigest()}
    assert check("", b"{}", **forged) == "InvalidSignatureException"


def test_a_signed_query_over_http(serve: Any, domain: str) -> None:
    document = json.dumps({"keys": [{"access_key_id": KEY_ID, "secret_access_key": SECRET}]})
    server = serve("--poll-hold", "1", env={"FLOWSER_CREDENTIALS": document})
    server.client().register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    body = b'{"registrationStatus":"REGISTERED"}'
    path, headers = botocore_signed(server.url, {"a": "b c", "x": "/"}, body)
    status, _, answer = raw(server.url, None, body, headers, path=path)
    assert status == 200 and domain in [d["name"] for d in json.loads(answer)["domainInfos"]]
    status, _, answer = raw(server.url, None, body, headers, path=path.replace("%2F", "%2E"))
    assert (status, json.loads(answer)["__type"]) == (400, "com.amazon.coral.service#InvalidSignatureException")
