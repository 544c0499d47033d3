"""Page tokens: opaque to clients, checked by the engine.

A token is the offset of the next item, a digest of the query it belongs to
and its issue time, packed by ``tokens``. A token replayed with other arguments,
tampered with, or older than its lifetime gives ValidationException, as SWF
does.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack

from . import tokens
from .faults import ValidationException

DEFAULT_PAGE_SIZE = 1000
TOKEN_LIFETIME = 24 * 3600.0


def page_size(params: dict[str, Any]) -> int:
    size = params.get("maximumPageSize") or 0
    if size < 0 or size > DEFAULT_PAGE_SIZE:  # validation already checks; keep the engine safe alone
        raise ValidationException(
            f"1 validation error detected: Value '{size}' at 'maximumPageSize' failed to satisfy "
            "constraint: Member must have value less than or equal to 1000"
        )
    return size or DEFAULT_PAGE_SIZE


def query_digest(*parts: Any) -> bytes:
    return hashlib.blake2b(msgpack.packb(parts, use_bin_type=True, default=str), digest_size=8).digest()


def make_token(offset: int, digest: bytes, now: float, extra: Any = None) -> str:
    return tokens.pack(offset, digest, int(now), extra)


def read_token(token: str | None, digest: bytes, now: float) -> tuple[int, Any]:
    """Offset (and extra) of a token for this query; 0 without a token."""
    if not token:
        return 0, None
    try:
        offset, token_digest, issued, extra = tokens.unpack(token, 4)
        valid = isinstance(offset, int) and offset >= 0 and token_digest == digest and isinstance(issued, int)
    except ValueError:
        valid = False
    if not valid:
        raise ValidationException("Invalid nextPageToken")
    if now - issued > TOKEN_LIFETIME:
        raise ValidationException("Specified token has exceeded its maximum lifetime")
    return int(offset), extra
