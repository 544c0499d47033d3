"""The data trigger: ``flowser serve --jobs DIR`` starts a job when an authenticated client POSTs its input.

    curl -u AKID:SECRET -X POST --data '{"repo": "github.com/acme/shop"}' \\
         'http://127.0.0.1:8765/jobs/DOMAIN/ci?var=BRANCH=main'

* ``POST /jobs/DOMAIN/NAME`` reads ``DIR/NAME.yaml`` (or ``.yml``) afresh, with ``var=NAME=VALUE`` query
  parameters as ``--var``, registers what it needs and starts one run of ``flowser.Job`` whose job input
  is the body (JSON; an empty body is no input); ``id=WORKFLOW_ID`` names the run. Answers ``201``
  ``{"workflowId", "runId", "job"}``. ``GET /jobs/`` lists the job files.
* Authentication is always required; there are two ways, and ``--jobs`` refuses to start with neither:
  HTTP Basic with an access key of ``flowser serve``'s credentials (``--credentials`` /
  ``$FLOWSER_CREDENTIALS``: user = access key id, password = secret access key), the key being allowed
  ``swf:StartWorkflowExecution`` on that domain; or ``Authorization: Bearer TOKEN`` where TOKEN is
  ``$FLOWSER_JOBS_TOKEN``. Put TLS in front of a server that listens beyond loopback: both travel as is.
* Answers: 400 (not JSON, a mistake in the job file: ``problems`` lists them, ``FILE:LINE: ...``), 401
  (no or wrong credentials), 403 (the key may not start runs in that domain), 404 (no such job file),
  405, 409 (that workflowId is already running), 502 (SWF refused the start).

This module knows only a boto3 SWF client; ``flowser.cli.runtime`` mounts it on ``backends.http``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from ..exceptions import is_fault
from .load import JobFileError, load, parse_vars
from .run import job_domain, register, start
from .workflow import JobInputTooLarge

__all__ = ["PREFIX", "Answer", "JobTrigger"]

PREFIX = "/jobs/"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$")


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: Any = None


def _json(status: int, document: Any, headers: dict[str, str] | None = None) -> Answer:
    body = (json.dumps(document) + "\n").encode()
    return Answer(status, {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}, body)


class JobTrigger:
    """The ``/jobs/`` application (``handle(request) -> Answer``; a request has method, path, query, headers, body)."""

    def __init__(
        self,
        client: Any,
        directory: str | Path,
        *,
        check: Callable[[str, str], bool] | None = None,
        allows: Callable[[str, str, str], bool] | None = None,
        token: str | None = None,
    ) -> None:
        if check is None and not token:
            raise ValueError(
                "the job trigger needs credentials (flowser serve --credentials, or $FLOWSER_CREDENTIALS) or a token "
                "($FLOWSER_JOBS_TOKEN): it starts jobs, it is never open to anyone"
            )
        self.client = client
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise ValueError(f"--jobs {directory}: not a directory")
        self.check, self.allows, self.token = check, allows, token

    def _authenticated(self, headers: Any, domain: str | None) -> Answer | None:
        """None if the request may go on; else the 401/403 answer."""
        value = ""
        for name, text in dict(headers).items():
            if str(name).lower() == "authorization":
                value = str(text)
        scheme, _, rest = value.partition(" ")
        challenge = {"WWW-Authenticate": 'Basic realm="flowser jobs", charset="UTF-8"'}
        if scheme.lower() == "bearer" and self.token:
            if hmac.compare_digest(rest.strip().encode(), self.token.encode()):
                return None
            return _json(401, {"error": "wrong token"}, challenge)
        if scheme.lower() == "basic" and self.check is not None:
            try:
                key_id, _, secret = base64.b64decode(rest.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return _json(401, {"error": "malformed Basic credentials"}, challenge)
            if not self.check(key_id, secret):
                return _json(401, {"error": "unknown access key or wrong secret"}, challenge)
            if self.allows is not None and not self.allows(key_id, "StartWorkflowExecution", domain or ""):
                return _json(403, {"error": f"access key {key_id} may not start executions in this domain"})
            return None
        return _json(401, {"error": "authentication required (Basic ACCESS_KEY_ID:SECRET, or Bearer token)"}, challenge)

    def _file(self, name: str) -> Path | None:
        for suffix in (".yaml", ".yml"):
            path = self.directory / f"{name}{suffix}"
            if path.is_file():
                return path
        return None

    def handle(self, request: Any) -> Answer:
        parts = [unquote(p) for p in request.path[len(PREFIX) :].split("/") if p] if request.path.startswith(PREFIX) else []
        if request.method in ("GET", "HEAD") and not parts:
            denied = self._authenticated(request.headers, None)
            if denied is not None:
                return denied
            names = sorted({p.stem for p in self.directory.iterdir() if p.suffix in (".yaml", ".yml") and _NAME.match(p.stem)})
            return _json(200, {"jobs": names})
        if len(parts) != 2 or not all(_NAME.match(p) for p in parts):
            return _json(404, {"error": "POST /jobs/DOMAIN/NAME starts the job NAME (GET /jobs/ lists them)"})
        if request.method != "POST":
            return _json(405, {"error": "use POST"}, {"Allow": "POST"})
        domain_name, job_name = parts
        denied = self._authenticated(request.headers, domain_name)
        if denied is not None:
            return denied
        path = self._file(job_name)
        if path is None:
            return _json(404, {"error": f"no job file {job_name}.yaml"})
        query = parse_qsl(request.query or "", keep_blank_values=True)
        try:
            variables = parse_vars([value for key, value in query if key == "var"])
        except ValueError as exc:
            return _json(400, {"error": str(exc).replace("--var", "var")})
        try:
            value = json.loads(request.body) if request.body and request.body.strip() else None
        except ValueError as exc:
            return _json(400, {"error": f"the body is not JSON: {exc}"})
        try:
            loaded = load(path, variables)
        except JobFileError as exc:
            return _json(400, {"error": "the job file has mistakes", "problems": exc.problems})
        workflow_id = next((v for k, v in query if k == "id"), None)
        domain = job_domain(self.client, domain_name)
        try:
            register(domain, loaded.spec)
            run = start(domain, loaded.spec, value, workflow_id_=workflow_id)
        except JobInputTooLarge as exc:
            return _json(400, {"error": str(exc)})
        except Exception as exc:
            if is_fault(exc, "WorkflowExecutionAlreadyStartedFault"):
                return _json(409, {"error": f"{workflow_id} is already running"})
            message = getattr(exc, "response", {}).get("Error", {}).get("Message") if hasattr(exc, "response") else None
            return _json(502, {"error": message or f"{type(exc).__name__}: {exc}"})
        return _json(201, {"workflowId": run.workflow_id, "runId": run.run_id, "job": loaded.spec.name})
