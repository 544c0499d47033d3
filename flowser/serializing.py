"""Payload codecs: how inputs, results, controls and contexts become SWF's strings.

SWF carries every payload as a string (at most 32,768 characters). flowser
0.1 used JSON for all of them; that is still the default (``dumps``/``loads``
below are the 0.1 names). A codec is any object with ``dumps(obj) -> str``
and ``loads(text) -> obj``:

* :data:`JSON` -- ``json.dumps`` / ``json.loads`` (the default everywhere);
* :data:`MSGPACK` -- msgpack, base64-encoded so that it fits SWF's strings.

Types choose theirs with the ``codec`` class attribute (``Activity.codec =
MSGPACK``); ``Domain.codec`` covers payloads that belong to no type (signals,
timer controls, execution contexts, non-string marker details).

Typed payloads: a type may name pydantic-validatable ``input_model`` /
``result_model`` (a ``BaseModel`` subclass, a dataclass, ``list[int]``...).
:func:`encode` dumps such values to JSON-ready data first and :func:`decode`
validates decoded data into them. Plain values need no model.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import lru_cache
from typing import Any, Protocol

__all__ = ["JSON", "MSGPACK", "Codec", "JSONCodec", "MsgpackCodec", "decode", "dumps", "encode", "loads"]


class Codec(Protocol):
    name: str

    def dumps(self, obj: Any) -> str: ...

    def loads(self, text: str) -> Any: ...


class JSONCodec:
    """JSON, exactly as flowser 0.1 wrote it (``json.dumps`` defaults)."""

    name = "json"

    def dumps(self, obj: Any) -> str:
        return json.dumps(obj)

    def loads(self, text: str) -> Any:
        return json.loads(text)

    def __repr__(self) -> str:
        return "JSONCodec()"


class MsgpackCodec:
    """msgpack in base64 (SWF payloads are text)."""

    name = "msgpack"

    def dumps(self, obj: Any) -> str:
        import msgpack

        return base64.b64encode(msgpack.packb(obj, use_bin_type=True)).decode("ascii")

    def loads(self, text: str) -> Any:
        import msgpack

        try:
            data = base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise ValueError(f"not base64-encoded msgpack: {exc}") from exc
        try:
            return msgpack.unpackb(data, raw=False)
        except Exception as exc:  # msgpack raises several unrelated classes
            raise ValueError(f"not msgpack: {exc}") from exc

    def __repr__(self) -> str:
        return "MsgpackCodec()"


JSON: Codec = JSONCodec()
MSGPACK: Codec = MsgpackCodec()

# flowser 0.1's module-level functions
dumps = JSON.dumps
loads = JSON.loads


@lru_cache(maxsize=256)
def _adapter(model: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(model)


def to_plain(value: Any, model: Any = None) -> Any:
    """``value`` as codec-ready data: validated into ``model`` if given, then dumped (JSON mode)."""
    if model is not None:
        adapter = _adapter(model)
        return adapter.dump_python(adapter.validate_python(value), mode="json")
    if hasattr(value, "model_dump") and hasattr(type(value), "model_fields"):
        return value.model_dump(mode="json")
    return value


def from_plain(data: Any, model: Any = None) -> Any:
    """Decoded data validated into ``model`` (unchanged without one)."""
    if model is None:
        return data
    return _adapter(model).validate_python(data)


def encode(value: Any, codec: Codec | None = None, model: Any = None) -> str:
    """One payload as SWF text."""
    return (codec or JSON).dumps(to_plain(value, model))


def decode(text: str | None, codec: Codec | None = None, model: Any = None, *, lenient: bool = True) -> Any:
    """One payload from SWF text; ``None`` stays ``None``.

    ``lenient``: text the codec cannot read is returned as it is (so strings
    written by other clients stay usable) instead of raising ``ValueError``.
    """
    if text is None:
        return None
    try:
        data = (codec or JSON).loads(text)
    except (ValueError, TypeError):
        if not lenient:
            raise
        data = text
    return from_plain(data, model)
