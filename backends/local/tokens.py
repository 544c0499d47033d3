"""Every opaque token the engine hands out, through one codec: base64url of a msgpack list.

* task tokens name a started task: ``[domain, runId, kind, scheduledEventId, startedEventId]``;
* page tokens (``paging``) carry the next offset, a digest of the query and the issue time;
* a decision task's later history pages wrap a page token with the task they belong to.

A token that does not decode, or is of another kind, is refused with the
fault SWF gives for it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgpack

from .faults import UnknownResourceFault, ValidationException


def pack(*fields: Any) -> str:
    return base64.urlsafe_b64encode(msgpack.packb(list(fields), use_bin_type=True)).decode()


def unpack(token: str, count: int) -> list[Any]:
    """The ``count`` fields of a token; ValueError if it is not one."""
    try:
        fields = msgpack.unpackb(base64.urlsafe_b64decode(token.encode()), raw=False)
    except (ValueError, TypeError, binascii.Error, msgpack.UnpackException) as exc:
        raise ValueError("not a token") from exc
    if not isinstance(fields, list) or len(fields) != count:
        raise ValueError("not a token")
    return fields


def encode_task(domain: str, run_id: str, kind: str, scheduled: int, started: int) -> str:
    return pack(domain, run_id, kind, scheduled, started)


def decode_task(token: str, kind: str) -> tuple[str, str, int, int]:
    """(domain, runId, scheduledEventId, startedEventId) of a task token of ``kind`` (d, a)."""
    try:
        domain, run_id, token_kind, scheduled, started = unpack(token, 5)
        if token_kind != kind or not isinstance(scheduled, int) or not isinstance(started, int):
            raise ValueError(token_kind)
        return str(domain), str(run_id), scheduled, started
    except (ValueError, TypeError) as exc:
        raise UnknownResourceFault("Unknown task token") from exc


def wrap_decision_page(inner: str, run_id: str, started: int, prev: int, task_token: str) -> str:
    return pack(inner, run_id, started, prev, task_token)


def unwrap_decision_page(token: str) -> tuple[str, str, int, int, str]:
    try:
        inner, run_id, started, prev, task_token = unpack(token, 5)
        return str(inner), str(run_id), int(started), int(prev), str(task_token)
    except (ValueError, TypeError) as exc:
        raise ValidationException("Invalid nextPageToken") from exc
