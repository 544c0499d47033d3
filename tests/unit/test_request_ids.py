"""Request ids (``x-amzn-RequestId``) are UUID-shaped and never repeat, in this process or a forked one."""

from __future__ import annotations

import os
import uuid

from backends.local.wire import request_id


def test_request_ids_are_uuid4_strings_and_unique() -> None:
    ids = [request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:100] + ids[-100:]:
        parsed = uuid.UUID(value)
        assert str(parsed) == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_forked_child_draws_its_own_ids() -> None:
    before = request_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, request_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    after = request_id()
    assert child[:20] != before[:20]  # a new random part, not the parent's counter continued
    assert len({before, child, after}) == 3
