"""Every Redis key the engine uses, one function each (docs/architecture.md mirrors this).

All keys of a domain share the Redis Cluster hash tag ``{<tag>}`` where
``<tag>`` is a digest of the domain name (names may contain braces), so every
transition touches a single slot and the engine shards by domain on a
cluster. The only global keys are the domain registry and two wake-up lists,
which are written after a transaction, never inside one.

Key                                   type     holds
------------------------------------  -------  ----------------------------------------------
swf:domains                           HASH     domain name -> msgpack domain record
swf:tk:wake                           LIST     timekeeper wake-up tokens (a deadline was added)
swf:lambda:wake                       LIST     Lambda runner wake-up tokens (a Lambda task was scheduled)
swf:{T}:types                         HASH     "<kind>|<name>|<version>" -> msgpack type record
swf:{T}:wf:<workflowId>               STRING   runId of the open run of that workflowId
swf:{T}:run:<runId>                   STRING   msgpack run state (the WATCHed version of the run)
swf:{T}:run:<runId>:h                 LIST     history events (events.py: "<id>|<type>|<timestamp>|<attributes JSON>"), index = eventId - 1
swf:{T}:open                          ZSET     open runIds by start time
swf:{T}:closed                        ZSET     closed runIds by start time
swf:{T}:closedc                       ZSET     closed runIds by close time
swf:{T}:x:wf:<workflowId>             ZSET     runIds of that workflowId by start time
swf:{T}:x:ty:<name>                   ZSET     runIds of that workflow type name by start time
swf:{T}:x:tag:<tag>                   ZSET     runIds carrying that tag by start time
swf:{T}:x:cs:<closeStatus>            ZSET     closed runIds with that close status by start time
swf:{T}:tl:<d|a|l>:<taskList>         ZSET     dispatchable tasks (l: Lambda, by function name), all score 0, ordered by member
                                               "<priority key><time key>|<runId>|<scheduledEventId>"
swf:{T}:tl:<d|a|l>:<taskList>:wake    LIST     one token per task made dispatchable (long-poll wake-up)
swf:{T}:tl:d:<taskList>:held         SET      runIds whose scheduled decision task waits behind a started one
swf:{T}:stop:<instance>               LIST     tokens ending the held polls of one engine instance (graceful stop)
swf:{T}:stop:<instance>:<poll>        LIST     a token ending one held poll whose poller went (expires in 60 s)
swf:{T}:inflight                      ZSET     claimed-but-not-yet-started task members by lease end
swf:{T}:deadlines                     ZSET     "<kind>|<runId>|<ref>" by deadline (timeouts, timers, retention)
swf:{T}:stream                        STREAM   every history event of the domain as written, ids "<seq>-0", bounded
                                               (MAXLEN ~); fields r "<runId>|<workflowId>|<type name>|<version>",
                                               e the stored event (stream.lua)
swf:{T}:stream:seq                    STRING   the last stream entry's seq (one per event, no gaps)
swf:{T}:stop:<instance>:s<n>          STREAM   an entry ending one blocked stream read (its reader went, or the
                                               engine stops; expires in 60 s)
swf:tk:stop:<timekeeper>{swf:tk:wake} LIST     a token ending one timekeeper's wait on swf:tk:wake (stop); the
                                               hash tag puts it in the wake key's slot (one BLPOP on a cluster)

Pub/Sub channels (``reset``): ``swf:reset:<db>`` tells the engines on database
<db> to drop their caches; each answers on the ``swf:reset:ack:<random>``
channel the wipe named.
"""

from __future__ import annotations

import hashlib
import re
import uuid

PREFIX = "swf"
DOMAINS = f"{PREFIX}:domains"
TIMEKEEPER_WAKE = f"{PREFIX}:tk:wake"
LAMBDA_WAKE = f"{PREFIX}:lambda:wake"
EVERY_KEY = f"{PREFIX}:*"
"""SCAN pattern of every key of flowser (``flowser reset``)."""
RESET_ACK_PREFIX = f"{PREFIX}:reset:ack:"

_STOP_KEY = re.compile(rb"^" + re.escape(PREFIX.encode()) + rb":(\{[0-9a-f]+\}|tk):stop:")


def timekeeper_stop() -> str:
    """A new timekeeper's own stop key: a token there ends its wait on ``TIMEKEEPER_WAKE``.

    Its hash tag is the wake key's whole name, so both are in one slot (one BLPOP on a cluster)."""
    return f"{PREFIX}:tk:stop:{uuid.uuid4().hex}{{{TIMEKEEPER_WAKE}}}"


def is_stop_key(key: bytes) -> bool:
    """A wake-up of a shutdown, or of a poll whose poller went, under way (left to expire by a reset)."""
    return _STOP_KEY.match(key) is not None


def reset_channel(database: int) -> str:
    """The Pub/Sub channel of resets of one Redis database (Pub/Sub spans a server's databases, a wipe only one)."""
    return f"{PREFIX}:reset:{database}"


def reset_ack_channel() -> str:
    """A new reply channel for the engines' acknowledgements of one wipe."""
    return f"{RESET_ACK_PREFIX}{uuid.uuid4().hex}"


def tag(domain: str) -> str:
    """The hash tag of a domain: a short digest, safe whatever the name holds."""
    return hashlib.blake2b(domain.encode(), digest_size=6).hexdigest()


class DomainKeys:
    """Key builder for one domain; every key carries the domain's hash tag."""

    __slots__ = ("base", "domain")

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.base = f"{PREFIX}:{{{tag(domain)}}}:"

    @property
    def types(self) -> str:
        return self.base + "types"

    def workflow_id(self, workflow_id: str) -> str:
        return f"{self.base}wf:{workflow_id}"

    def run(self, run_id: str) -> str:
        return f"{self.base}run:{run_id}"

    def history(self, run_id: str) -> str:
        return f"{self.base}run:{run_id}:h"

    @property
    def open(self) -> str:
        return self.base + "open"

    @property
    def closed(self) -> str:
        return self.base + "closed"

    @property
    def closed_by_close(self) -> str:
        return self.base + "closedc"

    def by_workflow_id(self, workflow_id: str) -> str:
        return f"{self.base}x:wf:{workflow_id}"

    def by_type(self, name: str) -> str:
        return f"{self.base}x:ty:{name}"

    def by_tag(self, tag_value: str) -> str:
        return f"{self.base}x:tag:{tag_value}"

    def by_close_status(self, status: str) -> str:
        return f"{self.base}x:cs:{status}"

    @property
    def task_lists_pattern(self) -> str:
        """SCAN pattern of every task list key of the domain (with their wake keys and held sets)."""
        return self.base + "tl:*"

    def task_list(self, kind: str, name: str) -> str:
        return f"{self.base}tl:{kind}:{name}"

    def wake(self, kind: str, name: str) -> str:
        return f"{self.base}tl:{kind}:{name}:wake"

    def held(self, task_list: str) -> str:
        return f"{self.base}tl:d:{task_list}:held"

    def stop(self, instance: str) -> str:
        return f"{self.base}stop:{instance}"

    def poll_gone(self, instance: str, poll: int) -> str:
        return f"{self.base}stop:{instance}:{poll}"

    @property
    def inflight(self) -> str:
        return self.base + "inflight"

    @property
    def deadlines(self) -> str:
        return self.base + "deadlines"

    @property
    def stream(self) -> str:
        """The domain's event stream (every history event, as written)."""
        return self.base + "stream"

    @property
    def stream_seq(self) -> str:
        """The number of the stream's last entry."""
        return self.base + "stream:seq"

    def stream_stop(self, instance: str, read: int) -> str:
        """A stream an entry on which ends one blocked read of the domain's stream."""
        return f"{self.base}stop:{instance}:s{read}"


def parse_task_list_key(dk: DomainKeys, key: str) -> tuple[str, str] | None:
    """(kind, name) of a task list's own key, its wake key or its held set; None for any other key."""
    prefix = dk.base + "tl:"
    if not key.startswith(prefix):
        return None
    kind, sep, name = key[len(prefix) :].partition(":")
    if not sep or not name:
        return None
    for suffix in (":wake", ":held"):  # task list names hold no ':' (validation)
        name = name.removesuffix(suffix)
    return (kind, name) if ":" not in name else None


def inflight_member(task_list_key: str, member: str) -> str:
    """A claim in the in-flight set: its list's key and its member, so an ended lease goes back to its own list."""
    return f"{task_list_key}\n{member}"


def inflight_prefix(task_list_key: str) -> bytes:
    """What every in-flight member of one task list starts with."""
    return f"{task_list_key}\n".encode()


def inflight_task_list(member: bytes) -> str:
    """The task list key an in-flight member (``inflight_member``) belongs to."""
    return member.decode("utf-8", "replace").partition("\n")[0]


def type_field_prefix(kind: str, name: str | None = None) -> str:
    """What the fields of every type of ``kind`` (of that name, if given) start with."""
    return f"{kind}|" if name is None else f"{kind}|{name}|"


def type_field(kind: str, name: str, version: str) -> str:
    """Field of a type in the domain's types hash (``|`` cannot occur in names)."""
    return f"{kind}|{name}|{version}"
