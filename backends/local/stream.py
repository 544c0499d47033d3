"""A domain's event stream: every history event of every execution, as it is written, for live readers.

Writing (``Core.write_run``, ``stream.lua``): each transaction that appends
history events also appends them to the domain's Redis Stream, in the same
``MULTI``/``EXEC`` (one ``EVAL`` carrying all of the transaction's events), so
the stream holds an entry exactly for each event that committed, in commit
order, and each run's events in event order. Entry ids are ``<seq>-0``, seq
counted per domain with no gap. The stream is bounded (``EngineConfig.
stream_maxlen``, trimmed with ``MAXLEN ~``: it keeps at least that many
entries, a little more until a whole node can go); 0 writes none.

Reading (``Stream.read``): entries after an id; ``after=None`` means from
now (only entries written after the call), ``"0"`` from the oldest entry
kept (``"0-0"``, by contrast, is the place before the first entry ever
written: what was trimmed after it counts as lost). A reader that fell behind the bound is told exactly how many entries
it lost (``lost``: the gap between the id it read last and the first entry
still there), never skipped silently. A read may block (``XREAD BLOCK`` on
the thread's own connection) until entries come; it ends early when the
engine stops (``stop``: the read returns with ``ended``) or, when the layer
holding the reader's connection watches it (``pollers.watching``, as for held
polls), when the reader goes (``PollerGone``).

After ``flowser reset`` the numbering starts again from 1: a reader whose id
lies beyond the new stream's last entry reads it from its start (counting
what was trimmed as lost); ids taken before a reset mean nothing after it.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import threading
from dataclasses import dataclass
from typing import Any

from . import pollers
from .core import Core
from .events import event_json, load_event
from .faults import ValidationException
from .keys import DomainKeys
from .store import StreamRaw

FROM_OLDEST = "0"
"""``after`` value that reads from the oldest entry the stream still keeps."""
MAX_COUNT = 10_000
_ID = re.compile(r"(0|[1-9][0-9]{0,18})(?:-0)?")
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def parse_id(value: str) -> int:
    """The seq of a stream id (``"<seq>-0"`` or ``"<seq>"``); ``ValidationException`` for anything else."""
    match = _ID.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValidationException(f"Invalid stream id {value!r}: expected <number>-0 (an entry id) or 0 (the oldest)")
    return int(match.group(1))


@functools.lru_cache(maxsize=4096)
def _header(raw: bytes) -> tuple[str, str, str, str, bytes]:
    """(runId, workflowId, type name, type version) of an entry's run header, and their JSON members."""
    run_id, workflow_id, name, version = raw.decode("utf-8").split("|", 3)
    members = (
        f'"workflowId":{_dumps(workflow_id)},"runId":{_dumps(run_id)},'
        f'"workflowType":{{"name":{_dumps(name)},"version":{_dumps(version)}}}'
    ).encode()
    return run_id, workflow_id, name, version, members


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One history event of the domain's stream, with the execution it belongs to."""

    seq: int
    header: bytes
    stored: bytes
    """The event as its history stores it (``events``)."""

    @property
    def id(self) -> str:
        return f"{self.seq}-0"

    @property
    def run_id(self) -> str:
        return _header(self.header)[0]

    @property
    def workflow_id(self) -> str:
        return _header(self.header)[1]

    @property
    def workflow_type(self) -> dict[str, str]:
        _, _, name, version, _ = _header(self.header)
        return {"name": name, "version": version}

    @property
    def event_type(self) -> str:
        return self.stored.split(b"|", 2)[1].decode("ascii") if self.stored[:1].isdigit() else str(self.event()["eventType"])

    def event(self) -> dict[str, Any]:
        """The event as ``GetWorkflowExecutionHistory`` answers it (``eventTimestamp`` in epoch seconds)."""
        return load_event(self.stored)

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "workflowId", "runId", "workflowType": {"name", "version"}, "event"}``, JSON-ready."""
        run_id, workflow_id, name, version, _ = _header(self.header)
        return {
            "id": self.id,
            "workflowId": workflow_id,
            "runId": run_id,
            "workflowType": {"name": name, "version": version},
            "event": self.event(),
        }

    def to_json(self) -> bytes:
        """``to_dict`` as compact JSON, joined from the stored bytes (no decoding of the event)."""
        return b'{"id":"%d-0",%b,"event":%b}' % (self.seq, _header(self.header)[4], event_json(self.stored))


@dataclass(frozen=True, slots=True)
class StreamRead:
    """What one read of a domain's stream found."""

    entries: list[StreamEntry]
    lost: int
    """Entries after the id read from that the bound trimmed before they could be read (before ``entries``)."""
    cursor: str
    """The id to read after next: the last entry's, or where the read started if it found none."""
    ended: bool = False
    """The engine is stopping: read no more from it."""


class Stream:
    """Reads of the domains' event streams, for ``Engine.read_stream`` (see the module docstring)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._waiting: set[str] = set()  # stop keys of the blocked reads
        self._read_ids = itertools.count()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def position(self, domain: str) -> str:
        """The id of the domain's last stream entry now (``"0-0"``: none yet)."""
        self.core.known_domain(domain)
        return f"{self.core.store.stream_last(DomainKeys(domain))}-0"

    def read(self, domain: str, after: str | None = None, wait: float = 0.0, count: int = 1000) -> StreamRead:
        """At most ``count`` entries after ``after`` (None: from now; ``"0"``: from the oldest kept),
        waiting up to ``wait`` seconds for one if there is none yet."""
        if not 1 <= count <= MAX_COUNT:
            raise ValidationException(f"count must be between 1 and {MAX_COUNT}")
        self.core.known_domain(domain)
        dk = DomainKeys(domain)
        store = self.core.store
        if after is None:
            cursor, counted = store.stream_last(dk), True
        else:
            cursor = parse_id(after)
            # "0": from the oldest kept, and what was trimmed before is not this reader's loss;
            # "0-0" is an id like any other: the place before the first entry
            counted = after.strip() != FROM_OLDEST
        raw, last = store.stream_after(dk, cursor, count)
        if not raw and last < cursor:
            # numbered anew since that id (flowser reset): the new stream from its start
            cursor, counted = 0, True
            raw, last = store.stream_after(dk, cursor, count)
        ended = self.stopping
        if not raw and wait > 0 and not ended:
            raw, ended = self._wait(dk, cursor, count, wait)
        entries = [StreamEntry(seq, header, stored) for seq, header, stored in raw]
        lost = entries[0].seq - cursor - 1 if entries and counted else 0
        return StreamRead(entries, lost, f"{entries[-1].seq if entries else cursor}-0", ended)

    def _wait(self, dk: DomainKeys, cursor: int, count: int, wait: float) -> tuple[list[StreamRaw], bool]:
        """Block for entries; (entries, ended). A watched reader that goes raises ``PollerGone``."""
        stop_key = dk.stream_stop(self.core.instance_id, next(self._read_ids))
        with self._lock:
            if self._stopping.is_set():
                return [], True
            self._waiting.add(stop_key)
        reader = pollers.watching.get()
        reported: list[bool] = []
        try:
            if reader is None:
                raw, stopped = self.core.store.wait_stream(dk, cursor, count, wait, stop_key)
            else:
                with reader.watch(functools.partial(self._reader_gone, stop_key, reported)):
                    raw, stopped = self.core.store.wait_stream(dk, cursor, count, wait, stop_key)
        finally:
            with self._lock:
                self._waiting.discard(stop_key)
        if stopped or reported:
            self.core.store.drop_wakes(stop_key)
        if reported:
            raise pollers.PollerGone()
        return raw, stopped

    def _reader_gone(self, stop_key: str, reported: list[bool]) -> None:
        """The server saw a blocked reader's client go (on its watcher thread): end the read."""
        reported.append(True)
        self.core.store.stop_stream_waits([stop_key])

    def stop(self) -> None:
        """End every blocked read of this engine now, and the waits of later reads (graceful shutdown)."""
        with self._lock:
            self._stopping.set()
            keys = list(self._waiting)
        if keys:
            self.core.store.stop_stream_waits(keys)
