"""Access keys, AWS Signature Version 4 verification, and per-key permissions.

A credentials document (JSON; ``docs/server.md``)::

    {"keys": [
      {"access_key_id": "AKIDADMIN", "secret_access_key": "..."},
      {"access_key_id": "AKIDORDERS", "secret_access_key": "...",
       "domains": ["orders", "orders-*"],
       "actions": ["swf:Poll*", "swf:Respond*", "swf:RecordActivityTaskHeartbeat"]}
    ],
     "metrics_token": "..."}

``domains`` and ``actions`` are glob patterns (``*``, ``?``) in the style of
IAM's ``swf:domain`` resources and ``swf:<Operation>`` actions (actions
match case-insensitively, ``swf:*`` or ``*`` is every action); a key without
them may use every domain or every action.

Every failure is one of the errors AWS answers with, and its text depends
only on what the caller sent, never on what exists: a key limited to domain
A asking about domain B learns nothing of B, not even whether it exists.

* ``MissingAuthenticationTokenException`` (403): no ``Authorization`` header
* ``IncompleteSignatureException`` (400): the header is not a SigV4 header
* ``UnrecognizedClientException`` (400): unknown access key
* ``InvalidSignatureException`` (400): wrong signature, wrong service in the
  scope, or a request dated more than 15 minutes away from now
* ``AccessDeniedException`` (403): the key may not perform that operation on
  that domain
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import ReadOnlyCredentials

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "swf"
MAX_SKEW = 15 * 60
CORAL = "com.amazon.coral.service"

_AUTH_FIELD = re.compile(r"\s*(Credential|SignedHeaders|Signature)\s*=\s*([^,\s]*)\s*")


class AuthError(Exception):
    """A request refused before it reaches the engine."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    @property
    def wire_type(self) -> str:
        return f"{CORAL}#{self.code}"


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str
    domains: tuple[str, ...] | None = None
    actions: tuple[str, ...] | None = None

    @property
    def limits_domains(self) -> bool:
        return self.domains is not None

    def allows_action(self, operation: str) -> bool:
        if self.actions is None:
            return True
        action = f"swf:{operation}".lower()
        return any(fnmatch.fnmatchcase(action, pattern.lower()) for pattern in self.actions)

    def allows_domain(self, domain: str) -> bool:
        if self.domains is None:
            return True
        return any(fnmatch.fnmatchcase(domain, pattern) for pattern in self.domains)


class CredentialsError(ValueError):
    """The credentials document is not usable."""


@dataclass(frozen=True)
class Credentials:
    keys: dict[str, AccessKey]
    metrics_token: str | None = None

    @classmethod
    def parse(cls, document: Any) -> Credentials:
        if isinstance(document, list):
            document = {"keys": document}
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list) or not document["keys"]:
            raise CredentialsError('expected {"keys": [{"access_key_id": ..., "secret_access_key": ...}, ...]}')
        keys: dict[str, AccessKey] = {}
        for n, entry in enumerate(document["keys"], 1):
            if not isinstance(entry, dict):
                raise CredentialsError(f"key {n}: expected an object")
            key_id, secret = entry.get("access_key_id"), entry.get("secret_access_key")
            if not isinstance(key_id, str) or not key_id or not isinstance(secret, str) or not secret:
                raise CredentialsError(f"key {n}: access_key_id and secret_access_key must be non-empty strings")
            if key_id in keys:
                raise CredentialsError(f"key {n}: access key {key_id} appears twice")
            limits: dict[str, tuple[str, ...] | None] = {}
            for member in ("domains", "actions"):
                value = entry.get(member)
                if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                    raise CredentialsError(f"key {n}: {member} must be a list of strings")
                limits[member] = tuple(value) if value is not None else None
            unknown = set(entry) - {"access_key_id", "secret_access_key", "domains", "actions", "description"}
            if unknown:
                raise CredentialsError(f"key {n}: unknown members {sorted(unknown)}")
            keys[key_id] = AccessKey(key_id, secret, limits["domains"], limits["actions"])
        token = document.get("metrics_token")
        if token is not None and (not isinstance(token, str) or not token):
            raise CredentialsError("metrics_token must be a non-empty string")
        return cls(keys, token)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Credentials:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CredentialsError(f"cannot read {path}: {exc.strerror}") from exc
        return cls.loads(text, str(path))

    @classmethod
    def loads(cls, text: str, origin: str = "credentials") -> Credentials:
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise CredentialsError(f"{origin} is not JSON: {exc}") from exc
        return cls.parse(document)

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Credentials | None:
        """``$FLOWSER_CREDENTIALS`` (the JSON document) or ``$FLOWSER_CREDENTIALS_FILE`` (its path)."""
        env = os.environ if environ is None else environ
        if env.get("FLOWSER_CREDENTIALS"):
            return cls.loads(env["FLOWSER_CREDENTIALS"], "$FLOWSER_CREDENTIALS")
        if env.get("FLOWSER_CREDENTIALS_FILE"):
            return cls.load(env["FLOWSER_CREDENTIALS_FILE"])
        return None

    # -- SigV4 --------------------------------------------------------------------------
    def authenticate(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, now: float | None = None
    ) -> AccessKey:
        """The key that signed this request, or ``AuthError``."""
        authorization = headers.get("authorization")
        if not authorization:
            raise AuthError("MissingAuthenticationTokenException", "Request is missing Authentication Token", 403)
        algorithm, _, rest = authorization.strip().partition(" ")
        if algorithm != ALGORITHM:
            raise AuthError(
                "IncompleteSignatureException", f"Authorization header requires the {ALGORITHM} algorithm"
            )
        fields: dict[str, str] = {}
        for part in rest.split(","):
            match = _AUTH_FIELD.fullmatch(part)
            if match is None:
                raise AuthError("IncompleteSignatureException", "Authorization header is malformed")
            fields[match.group(1)] = match.group(2)
        missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not fields.get(k)]
        if missing:
            raise AuthError(
                "IncompleteSignatureException", f"Authorization header requires the parameters {', '.join(missing)}"
            )
        scope = fields["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise AuthError("IncompleteSignatureException", "Credential must be <key>/<date>/<region>/<service>/aws4_request")
        key_id, date, region, service, _ = scope
        key = self.keys.get(key_id)
        if key is None:
            raise AuthError("UnrecognizedClientException", "The security token included in the request is invalid.")
        if service != SERVICE:
            raise AuthError("InvalidSignatureException", f"Credential should be scoped to correct service: '{SERVICE}'.")
        amz_date = headers.get("x-amz-date", "")
        try:
            when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise AuthError("IncompleteSignatureException", "X-Amz-Date must be set to a date like 20130524T000000Z") from None
        if amz_date[:8] != date:
            raise AuthError("InvalidSignatureException", "Date in Credential scope does not match X-Amz-Date")
        now = time.time() if now is None else now
        if abs(now - when) > MAX_SKEW:
            raise AuthError(
                "InvalidSignatureException",
                f"Signature expired: {amz_date} is now earlier than "
                f"{datetime.fromtimestamp(now - MAX_SKEW, UTC):%Y%m%dT%H%M%SZ} or later than "
                f"{datetime.fromtimestamp(now + MAX_SKEW, UTC):%Y%m%dT%H%M%SZ}",
            )
        signed = fields["SignedHeaders"].split(";")
        if "host" not in signed or signed != sorted(set(signed)) or any(h not in headers for h in signed):
            raise AuthError("InvalidSignatureException", _MISMATCH)
        body_hash = headers.get("x-amz-content-sha256")
        if "x-amz-content-sha256" in signed and body_hash != hashlib.sha256(body).hexdigest():
            raise AuthError("InvalidSignatureException", _MISMATCH)  # the signed hash is not this body's
        signed_request = AWSRequest(
            method=method.upper(),
            url=f"http://host{path}",  # only the path counts: the Host header is among the signed ones
            headers={h: headers[h] for h in signed},
            data=body,
            params=parse_qsl(query, keep_blank_values=True),  # "b+c" and "b%20c" are both "b c"
        )
        expected = _expected_signature(key, region, amz_date, signed_request)
        if not hmac.compare_digest(expected.encode(), fields["Signature"].encode()):
            raise AuthError("InvalidSignatureException", _MISMATCH)
        return key


_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


_SCOPE_REGION = re.compile(r"Credential\s*=\s*[^/,\s]*/[0-9]{8}/([a-z0-9][a-z0-9-]{0,31})/")


def signed_region(headers: dict[str, str]) -> str | None:
    """The region of a SigV4 ``Authorization`` header's credential scope, whether or not
    signatures are checked (``Credential=AKID/20261203/eu-west-1/swf/aws4_request``)."""
    authorization = headers.get("authorization")
    if not authorization or not authorization.startswith(ALGORITHM):
        return None
    match = _SCOPE_REGION.search(authorization)
    return match.group(1) if match else None


class _Verifier(SigV4Auth):
    """botocore's SigV4 signer, told which headers the request signed (botocore's choice
    is its own: it would leave out, say, a signed ``User-Agent``)."""

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return request.headers


def _expected_signature(key: AccessKey, region: str, amz_date: str, request: AWSRequest) -> str:
    """The signature ``key`` gives ``request`` (holding only its signed headers) at ``amz_date``.

    botocore builds the canonical request (the path URI-encoded, the query's
    names and values decoded, then URI-encoded and sorted), the string to sign
    and the signing key, exactly as its clients do when they sign.
    """
    signer = _Verifier(ReadOnlyCredentials(key.access_key_id, key.secret_access_key, None), SERVICE, region)
    request.context["timestamp"] = amz_date
    return str(signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request))


def denied(key: AccessKey, operation: str, resource: str) -> AuthError:
    return AuthError(
        "AccessDeniedException",
        f"User: {key.access_key_id} is not authorized to perform: swf:{operation} on resource: {resource}",
        403,
    )
