"""History events as stored in Redis, and pages of them answered without re-encoding.

A history is a Redis list, one entry per event (index = eventId - 1). An entry is

    <eventId>|<eventType>|<eventTimestamp>|<attributes as compact JSON>

The wire form of the event, ``{"eventId":..,"eventTimestamp":..,"eventType":..,
"<type>EventAttributes":{..}}``, is rebuilt from those four parts by joining
bytes (``event_json``), so a page of 1,000 events is answered with no JSON
decoding or encoding per event, and the stored entry leaves out what the
wire form repeats (member names, the attributes key): about 70 bytes less per
event. Entries written by the engine's first versions (msgpack) are still
read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, overload

from .run import attributes_key
from .store import unpack

_dumps = json.JSONEncoder(separators=(",", ":")).encode
_DIGITS = b"0123456789"


def dump_event(event: dict[str, Any]) -> bytes:
    """An event (``Run.add``'s dict) as stored."""
    event_type = event["eventType"]
    attributes = event[attributes_key(event_type)]
    return f"{event['eventId']}|{event_type}|{_dumps(event['eventTimestamp'])}|{_dumps(attributes)}".encode()


@lru_cache(maxsize=256)
def _attributes_member(event_type: bytes) -> bytes:
    return b'","' + attributes_key(event_type.decode("ascii")).encode() + b'":'


def event_json(raw: bytes) -> bytes:
    """A stored event's wire form (compact JSON)."""
    if raw[:1] in _DIGITS:
        event_id, event_type, timestamp, attributes = raw.split(b"|", 3)
        member = _attributes_member(event_type)
        return b'{"eventId":%b,"eventTimestamp":%b,"eventType":"%b%b%b}' % (event_id, timestamp, event_type, member, attributes)
    return _dumps(unpack(raw)).encode()  # msgpack, as the first versions stored events


def event_time(raw: bytes) -> float:
    """A stored event's ``eventTimestamp`` (epoch seconds), without decoding the rest of it."""
    if raw[:1] in _DIGITS:
        start = raw.index(b"|", raw.index(b"|") + 1) + 1  # "<id>|<type>|<timestamp>|<attributes>"
        return float(raw[start : raw.index(b"|", start)])
    return float(unpack(raw)["eventTimestamp"])


def load_event(raw: bytes) -> dict[str, Any]:
    """A stored event as a dict."""
    if raw[:1] in _DIGITS:
        return dict(json.loads(event_json(raw)))
    return dict(unpack(raw))


class EventPage(Sequence[dict[str, Any]]):
    """A page of history events as read from Redis, in answer order.

    Indexing or iterating decodes events (for callers of ``Engine.handle``);
    the wire codec instead splices ``json_items()`` into its answer.
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: list[bytes], reverse: bool = False) -> None:
        self._raw = raw[::-1] if reverse else raw

    def json_items(self) -> list[bytes]:
        return [event_json(r) for r in self._raw]

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [load_event(r) for r in self._raw[index]]
        return load_event(self._raw[index])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"EventPage({list(self)!r})"
