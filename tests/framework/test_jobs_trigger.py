"""The data trigger (``flowser serve --jobs DIR``): an authenticated POST starts a job with the posted input.

Each test starts its own ``flowser serve`` process (127.0.0.1, a free port, the session's Redis) and
stops it by PID; the job decider and built-in worker run in threads on a client of that server.
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flowser
from flowser.jobs import Builtins, Job, JobLock
from flowser.testing import workers
from tests.serve_process import ServeProcess

DOMAIN = "trigger-jobs"
KEYS = {"keys": [
    {"access_key_id": "AKIDADMIN", "secret_access_key": "admin-secret"},
    {"access_key_id": "AKIDOTHER", "secret_access_key": "other-secret", "domains": ["elsewhere"]},
]}


class Serve(ServeProcess):
    def __init__(self, redis_url: str, jobs: Path, credentials: Path | None, env: dict[str, str], check: bool = True) -> None:
        extra = ["--jobs", str(jobs), *(["--credentials", str(credentials)] if credentials is not None else [])]
        super().__init__(redis_url, *extra, env=env, check=check)

    def post(self, path: str, body: bytes = b"", auth: str | None = None, method: str = "POST") -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path, data=body if method == "POST" else None, method=method)
        if auth:
            request.add_header("Authorization", auth)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


@pytest.fixture
def jobs_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "greet.yaml").write_text(
        "name: greet\nvars: {GREETING: hello}\ntasks:\n"
        f"  say:\n    shell: {{command: '{sys.executable}', args: [-c, \"import json, os; print('${{GREETING}} ' + json.loads(os.environ['FLOWSER_INPUT']))\"]}}\n"
        "    input: {from: job, path: who}\n"
    )
    (folder / "broken.yaml").write_text("name: broken\ntasks:\n  a: {depends_on: [b], sleep: {seconds: 1}}\n")
    return folder


@pytest.fixture
def serve_with_keys(redis_client: Any, redis_url: str, jobs_dir: Path, tmp_path: Path) -> Iterator[Serve]:
    credentials = tmp_path / "keys.json"
    credentials.write_text(json.dumps(KEYS))
    server = Serve(redis_url, jobs_dir, credentials, {})
    try:
        yield server
    finally:
        server.stop()


class TriggerJobs(flowser.Domain):
    name = DOMAIN
    workflow_types = [Job, JobLock]
    activity_types = [Builtins]


def test_an_authenticated_post_starts_the_job_with_the_posted_input(serve_with_keys: Serve) -> None:
    import boto3

    server = serve_with_keys
    assert server.post(f"/jobs/{DOMAIN}/greet", b'{"who": "x"}')[0] == 401
    assert server.post(f"/jobs/{DOMAIN}/greet", b'{"who": "x"}', basic("AKIDADMIN", "wrong"))[0] == 401
    assert server.post(f"/jobs/{DOMAIN}/greet", b'{"who": "x"}', basic("AKIDOTHER", "other-secret"))[0] == 403
    assert server.post(f"/jobs/{DOMAIN}/greet", b'{"who": "x"}', "Bearer anything")[0] == 401  # no token configured
    admin = basic("AKIDADMIN", "admin-secret")
    assert server.post("/jobs/", auth=admin, method="GET") == (200, {"jobs": ["broken", "greet"]})
    assert server.post(f"/jobs/{DOMAIN}/nope", b"{}", admin)[0] == 404
    status, answer = server.post(f"/jobs/{DOMAIN}/broken", b"{}", admin)
    assert status == 400 and answer["problems"][0].endswith("broken.yaml:3: tasks.a.depends_on[0]: unknown task 'b'")
    assert server.post(f"/jobs/{DOMAIN}/greet", b"{nope", admin)[0] == 400

    status, started = server.post(f"/jobs/{DOMAIN}/greet?var=GREETING=hi&id=greet-1", b'{"who": "world"}', admin)
    assert (status, started["workflowId"], started["job"]) == (201, "greet-1", "greet")
    assert server.post(f"/jobs/{DOMAIN}/greet?id=greet-1", b'{"who": "again"}', admin)[0] == 409

    client = boto3.client("swf", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="AKIDADMIN", aws_secret_access_key="admin-secret")
    domain = TriggerJobs(client)
    with workers(domain, Job, Builtins):
        result = domain.execution("greet-1", started["runId"]).result(timeout=60)
    assert result["results"]["say"]["stdout"] == "hi world\n"


def test_a_bearer_token_works_and_no_authentication_at_all_is_refused(redis_client: Any, redis_url: str, jobs_dir: Path) -> None:
    server = Serve(redis_url, jobs_dir, None, {"FLOWSER_JOBS_TOKEN": "s3cret-token"})
    try:
        assert server.post(f"/jobs/{DOMAIN}/greet", b'{"who": "x"}', "Bearer wrong")[0] == 401
        status, started = server.post(f"/jobs/{DOMAIN}/greet?id=greet-2", b'{"who": "x"}', "Bearer s3cret-token")
        assert (status, started["workflowId"]) == (201, "greet-2")
    finally:
        server.stop()
    open_server = Serve(redis_url, jobs_dir, None, {}, check=False)
    try:
        assert open_server.proc.wait(30) == 1
    finally:
        open_server.stop()
    assert any("it starts jobs, it is never open to anyone" in line for line in open_server.lines)
