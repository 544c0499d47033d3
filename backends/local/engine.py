"""The SWF engine: one method per SWF operation, over a Redis store and a clock.

``Engine.handle(operation, params)`` validates the request (``validation``),
runs the operation and returns the response as a dict of JSON-ready values
(timestamps are epoch seconds), or raises an ``SWFFault``. It knows nothing
of HTTP or boto3: the wire codec and the in-process client sit on top.

State changes to one execution are single optimistic transactions (see
``store``); the pure parts live in ``run`` (event appending, decision-task
invariant) and ``decisions`` (the decisions of a completed decision task).
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

import msgpack
import redis

from . import caller, pollers, relations, timeouts
from . import decisions as decision_rules
from .clock import Clock, SystemClock
from .events import EventPage, dump_event, load_event
from .faults import (
    DefaultUndefinedFault,
    DomainAlreadyExistsFault,
    DomainDeprecatedFault,
    InternalFailure,
    LimitExceededFault,
    SWFFault,
    TooManyTagsFault,
    TypeAlreadyExistsFault,
    TypeDeprecatedFault,
    TypeNotDeprecatedFault,
    UnknownOperationException,
    UnknownResourceFault,
    ValidationException,
    WorkflowExecutionAlreadyStartedFault,
)
from .keys import DOMAINS, LAMBDA_WAKE, TIMEKEEPER_WAKE, DomainKeys, inflight_member, type_field
from .paging import make_token, page_size, query_digest, read_token
from .reset import DomainCache
from .run import Run, deadline, ms, new_run_id, parse_member
from .store import RedisStore, pack, unpack
from .validation import validate

log = logging.getLogger("flowser.engine")

KIND_NAMES = {"w": "WorkflowType", "a": "ActivityType"}
ONE_YEAR = 31_536_000
RUN_LOCK_STRIPES = 256
MIN_BLOCK = 0.01
"""Shortest BLPOP timeout sent to Redis (seconds)."""
FIRE_BATCH = 64
"""Deadlines fired per transaction by a timekeeper."""


@dataclass
class EngineConfig:
    """Settings of one engine; every process sharing a Redis should use the same."""

    poll_hold: float = 60.0
    """Seconds a poll waits for a task before answering empty (SWF: 60)."""
    empty_poll_token: Literal["absent", "empty"] = "empty"
    """Empty poll answers carry ``taskToken: ""`` (as AWS documents) or none (as moto; docs/semantics.md)."""
    region: str = "us-east-1"
    account: str = "000000000000"
    lease: float = 30.0
    """Seconds a claimed task may stay unstarted before another poller may take it."""
    limits: decision_rules.Limits = field(default_factory=decision_rules.Limits)
    max_domains: int = 100
    max_types: int = 10_000
    max_open_executions: int = 100_000


@dataclass
class _Pending:
    """What a transaction added that others must be woken for, once it has committed."""

    deadline: float = math.inf
    lambdas: bool = False


def _unknown_type(kind: str, name: str, version: str) -> UnknownResourceFault:
    return UnknownResourceFault(f"Unknown type: {KIND_NAMES[kind]}=[name={name}, version={version}]")


def _unknown_execution(workflow_id: str, run_id: str | None) -> UnknownResourceFault:
    return UnknownResourceFault(f"Unknown execution: WorkflowExecution=[workflowId={workflow_id}, runId={run_id}]")


def _seconds(value: str | None) -> float | None:
    """A duration string as seconds; None for NONE/absent."""
    if value is None or value == "NONE":
        return None
    return float(int(value))


def encode_token(domain: str, run_id: str, kind: str, scheduled: int, started: int) -> str:
    raw = msgpack.packb([domain, run_id, kind, scheduled, started], use_bin_type=True)
    return base64.urlsafe_b64encode(raw).decode()


def decode_token(token: str, kind: str) -> tuple[str, str, int, int]:
    try:
        domain, run_id, token_kind, scheduled, started = msgpack.unpackb(
            base64.urlsafe_b64decode(token.encode()), raw=False
        )
        if token_kind != kind or not isinstance(scheduled, int) or not isinstance(started, int):
            raise ValueError(token_kind)
        return str(domain), str(run_id), scheduled, started
    except (ValueError, TypeError, binascii.Error, msgpack.UnpackException) as exc:
        raise UnknownResourceFault("Unknown task token") from exc


class Engine:
    """Amazon SWF's semantics over a ``RedisStore``, with time from ``clock``."""

    def __init__(self, store: RedisStore, clock: Clock | None = None, config: EngineConfig | None = None) -> None:
        self.store = store
        self.r: Any = store.redis  # redis-py's own annotations are too loose to help here
        self.clock: Clock = clock or SystemClock()
        self.config = config or EngineConfig()
        self._ops: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            name: getattr(self, _snake(name)) for name in OPERATIONS
        }
        self.extra_appliers: dict[str, decision_rules.Applier] = {}
        self.deadlines = _Deadlines(self)
        self.timekeeper_notify: Callable[[float], None] | None = None
        self.lambda_notify: Callable[[], None] | None = None
        self.instance_id = uuid.uuid4().hex
        self._stopping = threading.Event()
        self._waiting: dict[str, int] = {}
        self._waiting_lock = threading.Lock()
        self._poll_ids = itertools.count()
        self.domain_cache = DomainCache(store.redis, lambda: store.closed)
        self._run_locks = [threading.Lock() for _ in range(RUN_LOCK_STRIPES)]
        self._local = threading.local()

    def fire_due(self, now: float | None = None) -> int:
        """Fire every timeout, timer and retention purge due at ``now`` (default: the clock's now)."""
        return self.deadlines.fire_due(now)


    # -- entry point -------------------------------------------------------------------
    def handle(self, operation: str, params: Any) -> dict[str, Any]:
        """Validate and run one SWF operation; the response is a dict of JSON-ready values."""
        method = self._ops.get(operation)
        if method is None:
            raise UnknownOperationException(f"Unknown operation {operation}")
        checked = validate(operation, params)
        try:
            return method(checked)
        except SWFFault:
            raise
        except redis.ConnectionError as exc:
            raise InternalFailure(f"store unavailable: {exc}") from exc

    def now(self) -> float:
        return ms(self.clock.now())

    # -- domains -----------------------------------------------------------------------
    def _domain(self, name: str) -> dict[str, Any]:
        raw = self.r.hget(DOMAINS, name)
        if raw is None:
            raise UnknownResourceFault(f"Unknown domain: {name}")
        return dict(unpack(raw))

    def _known_domain(self, name: str) -> None:
        """Existence check for the hot paths (polls, counts): only ``flowser reset`` deletes
        domains, so a positive answer is cached for a few seconds, until a reset (``reset``)."""
        cached = self.domain_cache.current()  # taken before the read: a reset in between drops it
        if cached is not None and cached.knows(name):
            return
        self._domain(name)
        if cached is not None:
            cached.saw(name)

    def region(self) -> str:
        """The region of this request's ARNs: the one its caller signed for, else the configured one."""
        return caller.signed_region.get() or self.config.region

    def _arn(self, name: str) -> str:
        return f"arn:aws:swf:{self.region()}:{self.config.account}:/domain/{name}"

    def register_domain(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["name"]
        retention = p["workflowExecutionRetentionPeriodInDays"]
        if retention != "NONE" and not (retention.isdigit() and int(retention) <= 90):
            raise LimitExceededFault(f"Retention period {retention} exceeds the maximum of 90 days")
        tags = p.get("tags") or []
        if len(tags) > 50:
            raise TooManyTagsFault("A domain can have at most 50 tags")
        record = {
            "name": name,
            "status": "REGISTERED",
            "retention": retention,
            "tags": _merge_tags([], tags),
            "created": self.now(),
        }
        if "description" in p:
            record["description"] = p["description"]

        def body(pipe: Any) -> None:
            if pipe.hexists(DOMAINS, name):
                raise DomainAlreadyExistsFault(f"Domain already exists: {name}")
            if pipe.hlen(DOMAINS) >= self.config.max_domains:
                raise LimitExceededFault(f"Limit of {self.config.max_domains} domains reached")
            pipe.multi()
            pipe.hset(DOMAINS, name, pack(record))

        self.store.transaction([DOMAINS], body)
        return {}

    def _domain_info(self, record: dict[str, Any]) -> dict[str, Any]:
        info = {"name": record["name"], "status": record["status"]}
        if "description" in record:
            info["description"] = record["description"]
        info["arn"] = self._arn(record["name"])
        return info

    def describe_domain(self, p: dict[str, Any]) -> dict[str, Any]:
        record = self._domain(p["name"])
        return {
            "domainInfo": self._domain_info(record),
            "configuration": {"workflowExecutionRetentionPeriodInDays": record["retention"]},
        }

    def list_domains(self, p: dict[str, Any]) -> dict[str, Any]:
        records = [unpack(v) for v in self.r.hvals(DOMAINS)]
        wanted = [r for r in records if r["status"] == p["registrationStatus"]]
        wanted.sort(key=lambda r: r["name"], reverse=bool(p.get("reverseOrder")))
        page, token = self._page(wanted, p, ("ListDomains", p["registrationStatus"], p.get("reverseOrder")))
        out: dict[str, Any] = {"domainInfos": [self._domain_info(r) for r in page]}
        if token:
            out["nextPageToken"] = token
        return out

    def _set_domain_status(self, name: str, status: str) -> None:
        now = self.now()

        def body(pipe: Any) -> None:
            raw = pipe.hget(DOMAINS, name)
            if raw is None:
                raise UnknownResourceFault(f"Unknown domain: {name}")
            record = unpack(raw)
            if record["status"] == status:
                if status == "DEPRECATED":
                    raise DomainDeprecatedFault(f"Domain already deprecated: {name}")
                raise DomainAlreadyExistsFault(f"Domain already registered: {name}")
            record["status"] = status
            deprecated_types: dict[str, bytes] = {}
            dk = DomainKeys(name)
            if status == "DEPRECATED":  # all its types become deprecated (§3.2)
                for type_key, type_raw in pipe.hgetall(dk.types).items():
                    type_record = unpack(type_raw)
                    if type_record["status"] == "REGISTERED":
                        type_record["status"] = "DEPRECATED"
                        type_record["deprecationDate"] = now
                        deprecated_types[type_key] = pack(type_record)
            pipe.multi()
            pipe.hset(DOMAINS, name, pack(record))
            if deprecated_types:
                pipe.hset(dk.types, mapping=deprecated_types)

        self.store.transaction([DOMAINS], body)

    def deprecate_domain(self, p: dict[str, Any]) -> dict[str, Any]:
        self._set_domain_status(p["name"], "DEPRECATED")
        return {}

    def undeprecate_domain(self, p: dict[str, Any]) -> dict[str, Any]:
        self._set_domain_status(p["name"], "REGISTERED")
        return {}

    def _domain_of_arn(self, arn: str) -> str:
        prefix = f"arn:aws:swf:{self.region()}:{self.config.account}:/domain/"
        if not arn.startswith(prefix) or len(arn) == len(prefix):
            raise UnknownResourceFault(f"Unknown resource: {arn}")
        return arn[len(prefix) :]

    def _update_tags(self, arn: str, change: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> None:
        name = self._domain_of_arn(arn)

        def body(pipe: Any) -> None:
            raw = pipe.hget(DOMAINS, name)
            if raw is None:
                raise UnknownResourceFault(f"Unknown resource: {arn}")
            record = unpack(raw)
            record["tags"] = change(record.get("tags", []))
            if len(record["tags"]) > 50:
                raise TooManyTagsFault("A domain can have at most 50 tags")
            pipe.multi()
            pipe.hset(DOMAINS, name, pack(record))

        self.store.transaction([DOMAINS], body)

    def tag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        self._update_tags(p["resourceArn"], lambda tags: _merge_tags(tags, p["tags"]))
        return {}

    def untag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        drop = set(p["tagKeys"])
        self._update_tags(p["resourceArn"], lambda tags: [t for t in tags if t["key"] not in drop])
        return {}

    def list_tags_for_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = p["resourceArn"]
        raw = self.r.hget(DOMAINS, self._domain_of_arn(arn))
        if raw is None:
            raise UnknownResourceFault(f"Unknown resource: {arn}")
        return {"tags": unpack(raw).get("tags", [])}

    # -- types -------------------------------------------------------------------------
    def _type(self, dk: DomainKeys, kind: str, t: dict[str, str]) -> dict[str, Any]:
        raw = self.r.hget(dk.types, type_field(kind, t["name"], t["version"]))
        if raw is None:
            raise _unknown_type(kind, t["name"], t["version"])
        return dict(unpack(raw))

    def _register_type(self, p: dict[str, Any], kind: str, defaults: tuple[str, ...]) -> dict[str, Any]:
        domain = self._domain(p["domain"])
        if domain["status"] != "REGISTERED":
            raise UnknownResourceFault(f"Unknown domain: {p['domain']} (deprecated)")
        if kind == "w" and p.get("defaultExecutionStartToCloseTimeout") == "NONE":
            raise ValidationException("defaultExecutionStartToCloseTimeout cannot be NONE")
        _check_year(p, "defaultExecutionStartToCloseTimeout")
        dk = DomainKeys(p["domain"])
        configuration = {k: p[k] for k in defaults if k in p}
        record: dict[str, Any] = {
            "name": p["name"],
            "version": p["version"],
            "status": "REGISTERED",
            "creationDate": self.now(),
            "configuration": configuration,
        }
        if "description" in p:
            record["description"] = p["description"]
        key = type_field(kind, p["name"], p["version"])

        def body(pipe: Any) -> None:
            if pipe.hexists(dk.types, key):
                raise TypeAlreadyExistsFault(f"{KIND_NAMES[kind]}=[name={p['name']}, version={p['version']}]")
            count = sum(1 for k in pipe.hkeys(dk.types) if k.startswith(kind.encode() + b"|"))
            if count >= self.config.max_types:
                raise LimitExceededFault(f"Limit of {self.config.max_types} types reached")
            pipe.multi()
            pipe.hset(dk.types, key, pack(record))

        self.store.transaction([dk.types], body)
        return {}

    def register_workflow_type(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._register_type(p, "w", WORKFLOW_DEFAULTS)

    def register_activity_type(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._register_type(p, "a", ACTIVITY_DEFAULTS)

    def _type_info(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        key = "workflowType" if kind == "w" else "activityType"
        info: dict[str, Any] = {key: {"name": record["name"], "version": record["version"]}, "status": record["status"]}
        if "description" in record:
            info["description"] = record["description"]
        info["creationDate"] = record["creationDate"]
        if "deprecationDate" in record:
            info["deprecationDate"] = record["deprecationDate"]
        return info

    def _describe_type(self, p: dict[str, Any], kind: str, member: str) -> dict[str, Any]:
        self._domain(p["domain"])
        record = self._type(DomainKeys(p["domain"]), kind, p[member])
        return {"typeInfo": self._type_info(kind, record), "configuration": record["configuration"]}

    def describe_workflow_type(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._describe_type(p, "w", "workflowType")

    def describe_activity_type(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._describe_type(p, "a", "activityType")

    def _list_types(self, p: dict[str, Any], kind: str) -> dict[str, Any]:
        self._domain(p["domain"])
        dk = DomainKeys(p["domain"])
        prefix = f"{kind}|{p['name']}|" if "name" in p else f"{kind}|"
        records = [
            unpack(v) for k, v in self.r.hgetall(dk.types).items() if k.decode().startswith(prefix)
        ]
        records = [r for r in records if r["status"] == p["registrationStatus"]]
        records.sort(key=lambda r: (r["name"], r["version"]), reverse=bool(p.get("reverseOrder")))
        query = ("ListTypes", kind, p["domain"], p.get("name"), p["registrationStatus"], p.get("reverseOrder"))
        page, token = self._page(records, p, query)
        out: dict[str, Any] = {"typeInfos": [self._type_info(kind, r) for r in page]}
        if token:
            out["nextPageToken"] = token
        return out

    def list_workflow_types(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._list_types(p, "w")

    def list_activity_types(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._list_types(p, "a")

    def _change_type(self, p: dict[str, Any], kind: str, member: str, action: str) -> dict[str, Any]:
        self._domain(p["domain"])
        dk = DomainKeys(p["domain"])
        t = p[member]
        key = type_field(kind, t["name"], t["version"])
        label = f"{KIND_NAMES[kind]}=[name={t['name']}, version={t['version']}]"
        now = self.now()

        def body(pipe: Any) -> None:
            raw = pipe.hget(dk.types, key)
            if raw is None:
                raise _unknown_type(kind, t["name"], t["version"])
            record = unpack(raw)
            if action == "deprecate":
                if record["status"] == "DEPRECATED":
                    raise TypeDeprecatedFault(label)
                record["status"] = "DEPRECATED"
                record["deprecationDate"] = now
            elif action == "undeprecate":
                if record["status"] == "REGISTERED":
                    raise TypeAlreadyExistsFault(label)
                record["status"] = "REGISTERED"
                record.pop("deprecationDate", None)
            elif record["status"] != "DEPRECATED":
                raise TypeNotDeprecatedFault(label)
            pipe.multi()
            if action == "delete":
                pipe.hdel(dk.types, key)
            else:
                pipe.hset(dk.types, key, pack(record))

        self.store.transaction([dk.types], body)
        return {}

    def deprecate_workflow_type(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._change_type(p, "w", "workflowType", "deprecate")

    def undeprecate_workflow_type(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._change_type(p, "w", "workflowType", "undeprecate")

    def delete_workflow_type(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._change_type(p, "w", "workflowType", "delete")

    def deprecate_activity_type(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._change_type(p, "a", "activityType", "deprecate")

    def undeprecate_activity_type(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._change_type(p, "a", "activityType", "undeprecate")

    def delete_activity_type(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._change_type(p, "a", "activityType", "delete")

    # -- paging helper -----------------------------------------------------------------
    def _page(self, items: list[Any], p: dict[str, Any], query: tuple[Any, ...]) -> tuple[list[Any], str | None]:
        size = page_size(p)
        digest = query_digest(*query)
        now = self.now()
        offset, _ = read_token(p.get("nextPageToken"), digest, now)
        page = items[offset : offset + size]
        more = offset + size < len(items)
        return page, (make_token(offset + size, digest, now) if more else None)

    # -- executions --------------------------------------------------------------------
    def _load(self, dk: DomainKeys, run_id: str, reader: Any = None) -> Run | None:
        raw = (reader or self.r).get(dk.run(run_id))
        if raw is None:
            return None
        return Run(unpack(raw), self.clock.now())

    def _resolve_run_id(self, dk: DomainKeys, workflow_id: str, run_id: str | None) -> str:
        """The run a Signal/RequestCancel/Terminate targets: the given one if open, else the open one."""
        open_run = self.r.get(dk.workflow_id(workflow_id))
        if open_run is None or (run_id and run_id != open_run.decode()):
            raise _unknown_execution(workflow_id, run_id)
        return str(open_run.decode())

    def resolve_workflow_settings(
        self, record: dict[str, Any], p: dict[str, Any]
    ) -> tuple[dict[str, Any], str | None]:
        """Resolve a new run's settings from the request, then the type (§3.1); return (cfg, missing field)."""
        defaults = record.get("configuration", {})
        cfg: dict[str, Any] = {}
        for member in ("executionStartToCloseTimeout", "taskList", "taskStartToCloseTimeout", "childPolicy"):
            value = p.get(member) or defaults.get("default" + member[0].upper() + member[1:])
            if not value:
                return cfg, member
            cfg[member] = value
        priority = p.get("taskPriority", defaults.get("defaultTaskPriority"))
        if priority is not None:
            cfg["taskPriority"] = priority
        role = p.get("lambdaRole", defaults.get("defaultLambdaRole"))
        if role is not None:
            cfg["lambdaRole"] = role
        return cfg, None

    def new_run(
        self,
        domain: str,
        workflow_id: str,
        workflow_type: dict[str, str],
        cfg: dict[str, Any],
        p: dict[str, Any],
        now: float,
        *,
        parent: dict[str, str] | None = None,
        parent_initiated: int = 0,
        continued_from: str | None = None,
    ) -> Run:
        """A new open run with WorkflowExecutionStarted and its first DecisionTaskScheduled."""
        run_id = new_run_id()
        state: dict[str, Any] = {
            "d": domain,
            "wid": workflow_id,
            "rid": run_id,
            "type": [workflow_type["name"], workflow_type["version"]],
            "start": ms(now),
            "seq": time.time_ns(),  # orders runs started within one millisecond (not SWF time)
            "close": None,
            "status": "OPEN",
            "cs": None,
            "cfg": cfg,
            "tags": list(p.get("tagList") or []),
            "parent": parent,
            "pie": parent_initiated,
            "cr": False,
            "n": 0,
            "dt": {"sched": 0, "started": 0, "ssched": 0, "prev": 0, "m": None, "tl": None},
            "acts": {},
            "timers": {},
            "ctx": None,
            "lat": None,
        }
        run = Run(state, now)
        attrs: dict[str, Any] = {}
        if "input" in p:
            attrs["input"] = p["input"]
        attrs["executionStartToCloseTimeout"] = cfg["executionStartToCloseTimeout"]
        attrs["taskStartToCloseTimeout"] = cfg["taskStartToCloseTimeout"]
        attrs["childPolicy"] = cfg["childPolicy"]
        attrs["taskList"] = cfg["taskList"]
        if "taskPriority" in cfg:
            attrs["taskPriority"] = cfg["taskPriority"]
        attrs["workflowType"] = workflow_type
        if state["tags"]:
            attrs["tagList"] = state["tags"]
        if continued_from:
            attrs["continuedExecutionRunId"] = continued_from
        if parent:
            attrs["parentWorkflowExecution"] = parent
        attrs["parentInitiatedEventId"] = parent_initiated
        if "lambdaRole" in cfg:
            attrs["lambdaRole"] = cfg["lambdaRole"]
        run.add("WorkflowExecutionStarted", attrs)
        timeout = _seconds(cfg["executionStartToCloseTimeout"])
        if timeout is not None:
            run.effects.deadlines_add[deadline("wto", run_id)] = run.now + timeout
        return run

    def start_workflow_execution(self, p: dict[str, Any]) -> dict[str, Any]:
        dk = DomainKeys(p["domain"])
        wtype = p["workflowType"]
        workflow_id = p["workflowId"]
        wf_key = dk.workflow_id(workflow_id)

        def body(pipe: Any) -> str:
            # one round trip: the domain, the type, the workflowId (WATCHed) and the open count
            raw_domain, raw_type, exists, open_count = pipe.read_many(
                ("HGET", DOMAINS, p["domain"]),
                ("HGET", dk.types, type_field("w", wtype["name"], wtype["version"])),
                ("EXISTS", wf_key),
                ("ZCARD", dk.open),
            )
            if raw_domain is None:
                raise UnknownResourceFault(f"Unknown domain: {p['domain']}")
            if raw_type is None:
                raise _unknown_type("w", wtype["name"], wtype["version"])
            domain, record = unpack(raw_domain), unpack(raw_type)
            if record["status"] != "REGISTERED" or domain["status"] != "REGISTERED":
                raise TypeDeprecatedFault(
                    f"WorkflowType=[name={wtype['name']}, version={wtype['version']}] is deprecated"
                )
            if p.get("executionStartToCloseTimeout") == "NONE":
                raise ValidationException("executionStartToCloseTimeout cannot be NONE")
            _check_year(p, "executionStartToCloseTimeout")
            cfg, missing = self.resolve_workflow_settings(record, p)
            if missing:
                raise DefaultUndefinedFault(f"{missing} is not set for this execution and has no default in its type")
            if cfg["executionStartToCloseTimeout"] == "NONE":
                raise DefaultUndefinedFault("executionStartToCloseTimeout cannot be NONE")
            if exists:
                raise WorkflowExecutionAlreadyStartedFault(
                    f"WorkflowExecution=[workflowId={workflow_id}] is already started"
                )
            if open_count >= self.config.max_open_executions:
                raise LimitExceededFault("Limit of open executions in this domain reached")
            run = self.new_run(p["domain"], workflow_id, wtype, cfg, p, self.clock.now())
            pipe.multi()
            self.write_run(pipe, dk, run, created=True)
            return run.run_id

        run_id = self.commit([wf_key], body)
        return {"runId": run_id}

    def write_run(self, pipe: Any, dk: DomainKeys, run: Run, *, created: bool = False) -> None:
        """Queue a transition's writes: state, new events, task lists, deadlines, indexes."""
        run.effects.written = True
        if run.is_open and run.s["n"] >= self.config.limits.history_events:
            # SWF's hard limit on history length: the run is terminated (§13)
            policy = run.s["cfg"]["childPolicy"]
            run.add("WorkflowExecutionTerminated", {"childPolicy": policy, "cause": "EVENT_LIMIT_EXCEEDED"})
            run.s["policy"] = policy
            run.close("TERMINATED")
        s = run.s
        rid = run.run_id
        pipe.set(dk.run(rid), pack(s))
        if run.events:
            pipe.rpush(dk.history(rid), *[dump_event(e) for e in run.events])
        effects = run.effects
        if created:
            pipe.set(dk.workflow_id(run.workflow_id), rid)
            start = s["start"]
            pipe.zadd(dk.open, {rid: start})
            pipe.zadd(dk.by_workflow_id(run.workflow_id), {rid: start})
            pipe.zadd(dk.by_type(s["type"][0]), {rid: start})
            for tag_value in s["tags"]:
                pipe.zadd(dk.by_tag(tag_value), {rid: start})
        dropped = set(effects.dequeue)
        for kind, task_list, member in dropped.difference(effects.enqueue):
            pipe.zrem(dk.task_list(kind, task_list), member)
        for task_list, held_run in effects.hold:
            pipe.sadd(dk.held(task_list), held_run)
        for task_list, held_run in effects.unhold:
            pipe.srem(dk.held(task_list), held_run)
        by_list: dict[tuple[str, str], dict[str, float]] = {}
        for kind, task_list, member in effects.enqueue:
            if (kind, task_list, member) in dropped:
                continue  # scheduled and withdrawn in one transition
            by_list.setdefault((kind, task_list), {})[member] = 0
        for (kind, task_list), members in by_list.items():  # a fan-out is 3 commands per list
            pipe.zadd(dk.task_list(kind, task_list), members)
            wake = dk.wake(kind, task_list)
            pipe.rpush(wake, *([1] * len(members)))
            pipe.ltrim(wake, -1000, -1)
        if effects.closed:
            effects.deadlines_remove.update(_run_deadlines(s))
            pipe.delete(dk.workflow_id(run.workflow_id))
            pipe.zrem(dk.open, rid)
            pipe.zadd(dk.closed, {rid: s["start"]})
            pipe.zadd(dk.closed_by_close, {rid: s["close"]})
            pipe.zadd(dk.by_close_status(s["cs"]), {rid: s["start"]})
            retention = self._retention_days(dk.domain)
            effects.deadlines_add[deadline("purge", rid)] = s["close"] + retention * 86400
            if s.get("parent") and s["cs"] != "CONTINUED_AS_NEW":
                effects.deadlines_add[deadline("chc", rid)] = s["close"]  # outbox: tell the parent
            policy = s.get("policy")
            if policy in ("TERMINATE", "REQUEST_CANCEL"):
                kind = "cpt" if policy == "TERMINATE" else "cpc"
                for child in s.get("children", {}).values():
                    if child["rid"]:
                        effects.deadlines_add[deadline(kind, child['rid'])] = s["close"]
        if effects.deadlines_remove:
            for member in effects.deadlines_remove.intersection(effects.deadlines_add):
                del effects.deadlines_add[member]  # set and withdrawn in one transition
            pipe.zrem(dk.deadlines, *effects.deadlines_remove)
        pending: _Pending | None = getattr(self._local, "pending", None)
        if effects.deadlines_add:
            pipe.zadd(dk.deadlines, effects.deadlines_add)
            if pending is not None:
                pending.deadline = min(pending.deadline, *effects.deadlines_add.values())
        if pending is not None and any(kind == "l" for kind, _, _ in effects.enqueue):
            pending.lambdas = True

    def _retention_days(self, domain: str) -> float:
        """A domain's retention never changes (SWF has no UpdateDomain): read it once, and again
        after a reset (which may have deleted it and let it be registered anew)."""
        cached = self.domain_cache.current()
        days = cached.retention.get(domain) if cached is not None else None
        if days is None:
            raw = self.r.hget(DOMAINS, domain)
            retention = unpack(raw)["retention"] if raw else "0"
            days = 0.0 if retention == "NONE" else float(retention)
            if cached is not None:
                cached.retention[domain] = days
        return days

    def transition(
        self,
        dk: DomainKeys,
        run_id: str,
        change: Callable[[Run, Any], Any],
        also_read: tuple[tuple[Any, ...], ...] = (),
    ) -> Any:
        """Load a run under WATCH, apply ``change`` (which may raise a fault), write it atomically.

        ``also_read`` commands go in the same round trip as the run's state;
        their replies are in ``pipe.prefetched`` for ``change``.
        """

        def body(pipe: Any) -> Any:
            raw, *pipe.prefetched = pipe.read_many(("GET", dk.run(run_id)), *also_read)
            if raw is None:
                raise UnknownResourceFault(f"Unknown execution: runId={run_id}")
            run = Run(unpack(raw), self.clock.now())
            result = change(run, pipe)
            if not pipe.explicit_transaction:
                pipe.multi()
            if not run.effects.written:
                self.write_run(pipe, dk, run)
            return result

        # Threads of this process take turns on a run (striped locks): a transaction
        # another thread here would make fail is not even started. WATCH still
        # guards against every other process.
        with self._run_locks[hash(run_id) % len(self._run_locks)]:
            return self.commit([dk.run(run_id)], body)

    def commit(self, watch: list[str], body: Callable[[Any], Any]) -> Any:
        """``store.transaction``, then wake whoever must act on what it added.

        A new deadline wakes this process's timekeeper directly, or, without
        one, a timekeeper of another process through the Redis wake list; a
        Lambda task wakes the Lambda runners. The wake-ups are sent after the
        EXEC (never inside it: the lists are global keys, and a transaction
        stays within its domain's slot).
        """
        pending = _Pending()
        self._local.pending = pending
        try:
            result = self.store.transaction(watch, body)
        finally:
            self._local.pending = None
        if pending.deadline < math.inf:
            if self.timekeeper_notify is not None:
                self.timekeeper_notify(pending.deadline)
            else:
                with self.r.pipeline(transaction=False) as pipe:
                    pipe.rpush(TIMEKEEPER_WAKE, 1)
                    pipe.ltrim(TIMEKEEPER_WAKE, -100, -1)
                    pipe.execute()
        if pending.lambdas:
            if self.lambda_notify is not None:
                self.lambda_notify()
            with self.r.pipeline(transaction=False) as pipe:
                pipe.rpush(LAMBDA_WAKE, 1)
                pipe.ltrim(LAMBDA_WAKE, -100, -1)
                pipe.execute()
        return result

    def _execution(self, p: dict[str, Any]) -> tuple[DomainKeys, Run]:
        """The run ``p["execution"]`` names (open, or closed within retention)."""
        self._domain(p["domain"])
        dk = DomainKeys(p["domain"])
        ex = p["execution"]
        run = self._load(dk, ex["runId"])
        if run is None or run.workflow_id != ex["workflowId"]:
            raise _unknown_execution(ex["workflowId"], ex["runId"])
        return dk, run

    def describe_workflow_execution(self, p: dict[str, Any]) -> dict[str, Any]:
        _, run = self._execution(p)
        s = run.s
        cfg = s["cfg"]
        configuration = {
            "taskStartToCloseTimeout": cfg["taskStartToCloseTimeout"],
            "executionStartToCloseTimeout": cfg["executionStartToCloseTimeout"],
            "taskList": cfg["taskList"],
        }
        if "taskPriority" in cfg:
            configuration["taskPriority"] = cfg["taskPriority"]
        configuration["childPolicy"] = cfg["childPolicy"]
        if "lambdaRole" in cfg:
            configuration["lambdaRole"] = cfg["lambdaRole"]
        dt = s["dt"]
        out: dict[str, Any] = {
            "executionInfo": execution_info(s),
            "executionConfiguration": configuration,
            "openCounts": {
                "openActivityTasks": len(s["acts"]),
                "openDecisionTasks": 1 if (dt["sched"] or dt["started"]) else 0,
                "openTimers": len(s["timers"]),
                "openChildWorkflowExecutions": len(s.get("children", {})),
                "openLambdaFunctions": len(s.get("lambdas", {})),
            },
        }
        if s.get("lat") is not None:
            out["latestActivityTaskTimestamp"] = s["lat"]
        if s.get("ctx") is not None:
            out["latestExecutionContext"] = s["ctx"]
        return out

    def get_workflow_execution_history(self, p: dict[str, Any]) -> dict[str, Any]:
        dk, run = self._execution(p)
        query = ("History", p["domain"], run.run_id, p.get("reverseOrder"))
        events, token = self._history_page(dk, run.run_id, 1, run.s["n"], p, query)
        out: dict[str, Any] = {"events": events}
        if token:
            out["nextPageToken"] = token
        return out

    def _history_page(
        self, dk: DomainKeys, run_id: str, first: int, last: int, p: dict[str, Any], query: tuple[Any, ...]
    ) -> tuple[EventPage, str | None]:
        """Events ``first..last`` (ids), one page; reads only the page (LRANGE by index)."""
        read, reverse, token = self._page_plan(dk, run_id, first, last, p, query)
        return EventPage(self.r.lrange(*read) if read else [], reverse), token

    def _page_plan(
        self, dk: DomainKeys, run_id: str, first: int, last: int, p: dict[str, Any], query: tuple[Any, ...]
    ) -> tuple[tuple[Any, ...] | None, bool, str | None]:
        """The LRANGE reading one page of events ``first..last``, its order, and the next page's token."""
        size = page_size(p)
        digest = query_digest(*query)
        now = self.now()
        offset, _ = read_token(p.get("nextPageToken"), digest, now)
        total = max(0, last - first + 1)
        if offset >= total:
            return None, False, None
        count = min(size, total - offset)
        reverse = bool(p.get("reverseOrder"))
        lo = last - offset - count + 1 if reverse else first + offset
        more = offset + count < total
        token = make_token(offset + count, digest, now) if more else None
        return (dk.history(run_id), lo - 1, lo + count - 2), reverse, token

    def _control(self, p: dict[str, Any], change: Callable[[Run], None]) -> dict[str, Any]:
        """Signal, RequestCancel, Terminate: the given run if open, else the workflowId's open run."""
        self._domain(p["domain"])
        dk = DomainKeys(p["domain"])
        run_id = self._resolve_run_id(dk, p["workflowId"], p.get("runId"))

        def guarded(run: Run, _pipe: Any) -> None:
            if not run.is_open:
                raise _unknown_execution(p["workflowId"], p.get("runId"))
            change(run)

        self.transition(dk, run_id, guarded)
        return {}

    def signal_workflow_execution(self, p: dict[str, Any]) -> dict[str, Any]:
        def change(run: Run) -> None:
            attrs: dict[str, Any] = {"signalName": p["signalName"]}
            if "input" in p:
                attrs["input"] = p["input"]
            attrs["externalInitiatedEventId"] = 0
            run.add("WorkflowExecutionSignaled", attrs)

        return self._control(p, change)

    def request_cancel_workflow_execution(self, p: dict[str, Any]) -> dict[str, Any]:
        def change(run: Run) -> None:
            run.s["cr"] = True
            run.add("WorkflowExecutionCancelRequested", {"externalInitiatedEventId": 0})

        return self._control(p, change)

    def terminate_workflow_execution(self, p: dict[str, Any]) -> dict[str, Any]:
        def change(run: Run) -> None:
            attrs: dict[str, Any] = {k: p[k] for k in ("reason", "details") if k in p}
            attrs["childPolicy"] = p.get("childPolicy") or run.s["cfg"]["childPolicy"]
            run.add("WorkflowExecutionTerminated", attrs)
            run.s["policy"] = attrs["childPolicy"]
            run.close("TERMINATED")

        return self._control(p, change)

    # -- visibility --------------------------------------------------------------------
    def _executions(self, p: dict[str, Any], closed: bool) -> tuple[list[dict[str, Any]], int, DomainKeys]:
        """Matching run states, newest first (or oldest first with reverseOrder) — for list/count."""
        self._domain(p["domain"])
        dk = DomainKeys(p["domain"])
        start_filter = p.get("startTimeFilter")
        close_filter = p.get("closeTimeFilter")
        if closed and (start_filter is None) == (close_filter is None):
            raise ValidationException("Exactly one of startTimeFilter or closeTimeFilter must be specified")
        if not closed and start_filter is None:
            raise ValidationException("startTimeFilter is required")
        filters = [k for k in ("executionFilter", "typeFilter", "tagFilter", "closeStatusFilter") if k in p]
        if len(filters) > 1:
            raise ValidationException(
                "executionFilter, typeFilter, tagFilter and closeStatusFilter are mutually exclusive; "
                "only one can be specified"
            )
        by_close = close_filter is not None
        window = close_filter if by_close else start_filter
        assert window is not None
        lo = window["oldestDate"]
        hi = window.get("latestDate", math.inf)
        if not filters:
            zkey = (dk.closed_by_close if by_close else dk.closed) if closed else dk.open
            ids = [m.decode() for m in self.r.zrangebyscore(zkey, lo, hi)]
        else:
            f = filters[0]
            if f == "executionFilter":
                zkey = dk.by_workflow_id(p[f]["workflowId"])
            elif f == "typeFilter":
                zkey = dk.by_type(p[f]["name"])
            elif f == "tagFilter":
                zkey = dk.by_tag(p[f]["tag"])
            else:
                zkey = dk.by_close_status(p[f]["status"])
            ids = [m.decode() for m in (self.r.zrange(zkey, 0, -1) if by_close else self.r.zrangebyscore(zkey, lo, hi))]
        states = [unpack(raw) for raw in self.r.mget([dk.run(i) for i in ids]) if raw is not None] if ids else []
        wanted = "CLOSED" if closed else "OPEN"
        version = p.get("typeFilter", {}).get("version")
        time_key = "close" if by_close else "start"
        matches = [
            s
            for s in states
            if s["status"] == wanted
            and (version is None or s["type"][1] == version)
            and lo <= s[time_key] <= hi
        ]
        matches.sort(key=lambda s: (s[time_key], s.get("seq", 0), s["rid"]), reverse=not p.get("reverseOrder"))
        return matches, len(matches), dk

    def _list_executions(self, p: dict[str, Any], closed: bool) -> dict[str, Any]:
        matches, _, _ = self._executions(p, closed)
        query = (
            "Executions",
            closed,
            p["domain"],
            *(
                str(p.get(k))
                for k in (
                    "startTimeFilter",
                    "closeTimeFilter",
                    "executionFilter",
                    "typeFilter",
                    "tagFilter",
                    "closeStatusFilter",
                    "reverseOrder",
                )
            ),
        )
        page, token = self._page(matches, p, query)
        out: dict[str, Any] = {"executionInfos": [execution_info(s) for s in page]}
        if token:
            out["nextPageToken"] = token
        return out

    def list_open_workflow_executions(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._list_executions(p, closed=False)

    def list_closed_workflow_executions(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._list_executions(p, closed=True)

    def count_open_workflow_executions(self, p: dict[str, Any]) -> dict[str, Any]:
        _, count, _ = self._executions(p, closed=False)
        return {"count": count, "truncated": False}

    def count_closed_workflow_executions(self, p: dict[str, Any]) -> dict[str, Any]:
        _, count, _ = self._executions(p, closed=True)
        return {"count": count, "truncated": False}

    # -- task lists --------------------------------------------------------------------
    def count_pending_decision_tasks(self, p: dict[str, Any]) -> dict[str, Any]:
        self._known_domain(p["domain"])
        dk = DomainKeys(p["domain"])
        return {"count": self._pending(dk, "d", p["taskList"]["name"]), "truncated": False}

    def count_pending_activity_tasks(self, p: dict[str, Any]) -> dict[str, Any]:
        self._known_domain(p["domain"])
        dk = DomainKeys(p["domain"])
        return {"count": self._pending(dk, "a", p["taskList"]["name"]), "truncated": False}

    def _pending(self, dk: DomainKeys, kind: str, name: str) -> int:
        """Scheduled, not started: dispatchable, claimed by a poller not yet done (or dead), held."""
        tl_key = dk.task_list(kind, name)
        with self.r.pipeline(transaction=False) as pipe:
            pipe.zcard(tl_key)
            pipe.zrange(dk.inflight, 0, -1)
            if kind == "d":
                pipe.scard(dk.held(name))
            replies = pipe.execute()
        prefix = tl_key.encode() + b"\n"
        leased = sum(1 for member in replies[1] if member.startswith(prefix))
        return int(replies[0]) + leased + (int(replies[2]) if kind == "d" else 0)

    def _long_poll(self, dk: DomainKeys, kind: str, task_list: str, take: Callable[[str], Any]) -> Any:
        """Claim a task now, or wait (blocking on the list's wake key) until one comes or the hold ends.

        A poll whose server watches its connection (``pollers``) claims nothing
        once its poller is gone: it looks right before every claim, and its wait
        ends as soon as the server reports the poller gone.
        """
        tl_key = dk.task_list(kind, task_list)
        wake_key = dk.wake(kind, task_list)
        stop_key = dk.stop(self.instance_id)
        poller = pollers.watching.get()
        gone_key: str | None = None
        hold = self.config.poll_hold
        give_up = time.monotonic() + hold
        woken = False
        try:
            while True:
                while True:
                    if poller is not None and poller.gone():
                        self._give_up(wake_key if woken else None)
                    member, lease_end = self.store.claim(
                        tl_key, dk.inflight, wake_key, self.clock.now(), self.config.lease, woken=woken
                    )
                    woken = False
                    if member is None:
                        break
                    result = take(member)
                    if result is not None:
                        return result
                remaining = give_up - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    return None
                # A token per task made dispatchable ends the wait at once. A task whose
                # claimer died comes back when its lease ends: wait no longer than that.
                wait = remaining
                if lease_end is not None:
                    wait = min(wait, max(lease_end - self.clock.now(), 0.0) + 0.005)
                with self._waiting_lock:
                    self._waiting[dk.domain] = self._waiting.get(dk.domain, 0) + 1
                    if self._stopping.is_set():  # stop_polls ran before it could count this wait
                        self._waiting[dk.domain] -= 1
                        return None
                try:
                    # Redis reads timeouts under ~1 ms as 0, which means "forever"
                    if poller is None:
                        popped = self.r.blpop([wake_key, stop_key], timeout=max(wait, MIN_BLOCK))
                    else:
                        gone_key = gone_key or dk.poll_gone(self.instance_id, next(self._poll_ids))
                        with poller.watch(functools.partial(self._poller_gone, gone_key)):
                            popped = self.r.blpop([wake_key, stop_key, gone_key], timeout=max(wait, MIN_BLOCK))
                finally:
                    with self._waiting_lock:
                        self._waiting[dk.domain] -= 1
                if popped is not None and popped[0].decode() == stop_key:
                    return None
                if popped is not None and popped[0].decode() == gone_key:
                    gone_key = None  # its token is taken: nothing left to clean
                    self._give_up(None)
                if popped is not None:
                    woken = True
                elif wait >= remaining:
                    if poller is not None and poller.gone():
                        self._give_up(None)
                    member, _ = self.store.claim(tl_key, dk.inflight, wake_key, self.clock.now(), self.config.lease)
                    return take(member) if member is not None else None
        finally:
            if gone_key is not None and poller is not None and poller.gone():
                self.r.delete(gone_key)  # reported while the poll was ending anyway

    def _poller_gone(self, gone_key: str) -> None:
        """The server saw a held poll's poller go: end its wait (called on the server's watcher thread)."""
        with self.r.pipeline(transaction=False) as pipe:
            pipe.rpush(gone_key, 1)
            pipe.expire(gone_key, 60)
            pipe.execute()

    def _unless_poller_gone(self, dk: DomainKeys, kind: str, task_list: str, member: str) -> None:
        """Last look before a claimed task is started for its poller: gone, the claim goes back.

        Its lease is ended at once (a claim on the domain puts it back on its
        list) and a wake token brings a waiting poller to claim it.
        """
        poller = pollers.watching.get()
        if poller is None or not poller.gone():
            return
        with self.r.pipeline(transaction=False) as pipe:
            pipe.zadd(dk.inflight, {inflight_member(dk.task_list(kind, task_list), member): 0}, xx=True)
            pipe.rpush(dk.wake(kind, task_list), 1)
            pipe.execute()
        raise pollers.PollerGone()

    def _give_up(self, taken_wake_token: str | None) -> NoReturn:
        """End a poll whose poller is gone, claiming nothing; a wake token it took goes back for a live poller."""
        if taken_wake_token is not None:
            self.r.rpush(taken_wake_token, 1)
        raise pollers.PollerGone()

    def stop_polls(self) -> None:
        """Answer every poll held by this engine empty, now and from now on (graceful shutdown).

        A poll that already claimed its task still returns it: a task is never
        lost to a shutdown, only left for the next poller.
        """
        with self._waiting_lock:
            self._stopping.set()
            waiting = {domain: count for domain, count in self._waiting.items() if count > 0}
        with self.r.pipeline(transaction=False) as pipe:
            for domain, count in waiting.items():
                key = DomainKeys(domain).stop(self.instance_id)
                pipe.rpush(key, *([1] * count))
                pipe.expire(key, 60)
            pipe.execute()

    def drop_claim(self, pipe: Any, dk: DomainKeys, kind: str, task_list: str, member: str) -> None:
        """The claim is over: drop its lease, and the member itself in case an ended lease
        had already put it back on its list (a claimer slower than its lease)."""
        tl_key = dk.task_list(kind, task_list)
        pipe.zrem(dk.inflight, inflight_member(tl_key, member))
        pipe.zrem(tl_key, member)

    def _empty_token(self, out: dict[str, Any]) -> dict[str, Any]:
        if self.config.empty_poll_token == "empty":
            out["taskToken"] = ""
        return out

    def poll_for_decision_task(self, p: dict[str, Any]) -> dict[str, Any]:
        self._known_domain(p["domain"])
        dk = DomainKeys(p["domain"])
        if p.get("nextPageToken"):
            return self._decision_page(dk, p)
        task_list = p["taskList"]["name"]
        identity = p.get("identity")

        def take(member: str) -> tuple[Run, int] | None:
            run_id, scheduled = parse_member(member)

            def change(run: Run, pipe: Any) -> dict[str, Any] | None:
                self._unless_poller_gone(dk, "d", task_list, member)
                dt = run.s["dt"]
                pipe.multi()
                self.drop_claim(pipe, dk, "d", task_list, member)
                if not run.is_open or dt["sched"] != scheduled or dt["started"] or dt.get("m") != member:
                    return None
                started = run.start_decision_task(identity)
                timeout = _seconds(run.s["cfg"]["taskStartToCloseTimeout"])
                if timeout is not None:
                    run.effects.deadlines_add[deadline("dto", run_id, int(started))] = run.now + timeout
                self.write_run(pipe, dk, run)
                # the first page is read in the same EXEC, after the DecisionTaskStarted it ends with
                first = dt["prev"] if (p.get("startAtPreviousStartedEvent") and dt["prev"]) else 1
                query = ("DecisionPage", dk.domain, run_id, started, p.get("reverseOrder"), first)
                read, reverse, page_token = self._page_plan(dk, run_id, first, started, p, query)
                index = pipe.queue_read("LRANGE", *read) if read else None
                return {"run": run, "tx": pipe, "index": index, "reverse": reverse, "token": page_token}

            try:
                return self.transition(dk, run_id, change)
            except UnknownResourceFault:  # purged meanwhile
                with self.r.pipeline(transaction=False) as drop:
                    self.drop_claim(drop, dk, "d", task_list, member)
                    drop.execute()
                return None

        claimed = self._long_poll(dk, "d", task_list, take)
        if claimed is None:
            return self._empty_token({"previousStartedEventId": 0, "startedEventId": 0})
        index = claimed["index"]
        raw = claimed["tx"].results[index] if index is not None else []
        events = EventPage(raw, claimed["reverse"])
        return self._decision_task(dk, claimed["run"], events, claimed["token"])

    def _decision_task(
        self, dk: DomainKeys, run: Run, events: EventPage, page_token: str | None
    ) -> dict[str, Any]:
        dt = run.s["dt"]
        started = dt["started"]
        prev = dt["prev"]
        token = encode_token(dk.domain, run.run_id, "d", dt["ssched"], started)
        out: dict[str, Any] = {
            "taskToken": token,
            "startedEventId": started,
            "workflowExecution": run.execution,
            "workflowType": run.workflow_type,
            "events": events,
        }
        if page_token:
            out["nextPageToken"] = _wrap_page_token(page_token, run.run_id, started, prev, token)
        out["previousStartedEventId"] = prev
        return out

    def _decision_page(self, dk: DomainKeys, p: dict[str, Any]) -> dict[str, Any]:
        """A later page of a decision task's history: never claims a task (§2.4)."""
        inner, run_id, started, prev, token = _unwrap_page_token(p["nextPageToken"])
        run = self._load(dk, run_id)
        if run is None:
            raise ValidationException("Invalid nextPageToken")
        first = prev if (p.get("startAtPreviousStartedEvent") and prev) else 1
        query = ("DecisionPage", dk.domain, run_id, started, p.get("reverseOrder"), first)
        events, page_token = self._history_page(dk, run_id, first, started, {**p, "nextPageToken": inner}, query)
        out: dict[str, Any] = {
            "taskToken": token,
            "startedEventId": started,
            "workflowExecution": run.execution,
            "workflowType": run.workflow_type,
            "events": events,
        }
        if page_token:
            out["nextPageToken"] = _wrap_page_token(page_token, run_id, started, prev, token)
        out["previousStartedEventId"] = prev
        return out

    def respond_decision_task_completed(self, p: dict[str, Any]) -> dict[str, Any]:
        domain, run_id, scheduled, started = decode_token(p["taskToken"], "d")
        dk = DomainKeys(domain)
        batch = list(p.get("decisions") or [])
        decision_rules.check_batch(batch)
        wanted_activities = sorted(
            {
                (a["activityType"]["name"], a["activityType"]["version"])
                for d in batch
                if d["decisionType"] == "ScheduleActivityTask"
                for a in [decision_rules.attributes_of(d)]
            }
        )
        also_read: tuple[tuple[Any, ...], ...] = ()
        if wanted_activities:  # read with the run's state, in one round trip
            also_read = (("HMGET", dk.types, *(type_field("a", n, v) for n, v in wanted_activities)),)
        activity_types: dict[tuple[str, str], dict[str, Any] | None] = {}
        workflow_types: dict[tuple[str, str], dict[str, Any] | None] = {}
        open_executions = 0
        if any(d["decisionType"] in ("StartChildWorkflowExecution", "ContinueAsNewWorkflowExecution") for d in batch):
            workflow_types = self._workflow_types_of(dk, batch, run_id)
            open_executions = int(self.r.zcard(dk.open))

        def change(run: Run, pipe: Any) -> None:
            dt = run.s["dt"]
            if not run.is_open or dt["started"] != started:
                raise UnknownResourceFault(f"Unknown decision task, scheduledEventId = {scheduled}")
            if wanted_activities:
                activity_types.update(
                    (key, unpack(raw) if raw is not None else None)
                    for key, raw in zip(wanted_activities, pipe.prefetched[0], strict=True)
                )
            run.begin_completion()
            attrs: dict[str, Any] = {}
            if "executionContext" in p:
                attrs["executionContext"] = p["executionContext"]
                run.s["ctx"] = p["executionContext"]
            attrs["scheduledEventId"] = dt["ssched"]
            attrs["startedEventId"] = started
            if "taskList" in p:
                attrs["taskList"] = p["taskList"]
                dt["tl"] = p["taskList"]["name"]
                limit = p.get("taskListScheduleToStartTimeout")
                dt["tlt"] = limit if limit not in (None, "NONE") else None
            if "taskListScheduleToStartTimeout" in p:
                attrs["taskListScheduleToStartTimeout"] = p["taskListScheduleToStartTimeout"]
            completed = run.add("DecisionTaskCompleted", attrs)
            dt["prev"] = started
            run.effects.deadlines_remove.add(deadline("dto", run_id, int(started)))
            ctx = decision_rules.DecisionContext(
                activity_types,
                self.config.limits,
                completed,
                workflow_types=workflow_types,
                open_executions=open_executions,
                max_open_executions=self.config.max_open_executions,
                new_run=self.new_run,
                resolve=self.resolve_workflow_settings,
            )
            decision_rules.apply(run, batch, ctx)
            run.end_started_task()
            pipe.multi()
            self.write_run(pipe, dk, run)
            for new in ctx.new_runs:
                self.write_run(pipe, dk, new, created=True)

        self.transition(dk, run_id, change, also_read=also_read)
        return {}

    def _workflow_types_of(
        self, dk: DomainKeys, batch: list[dict[str, Any]], run_id: str
    ) -> dict[tuple[str, str], dict[str, Any] | None]:
        """The workflow type records StartChild and ContinueAsNew decisions name, read once."""
        wanted: set[tuple[str, str]] = set()
        for d in batch:
            if d["decisionType"] not in ("StartChildWorkflowExecution", "ContinueAsNewWorkflowExecution"):
                continue
            a = decision_rules.attributes_of(d)
            if "workflowType" in a:
                wanted.add((a["workflowType"]["name"], a["workflowType"]["version"]))
            else:  # ContinueAsNew: the run's own type name, maybe another version
                run = self._load(dk, run_id)
                if run is not None:
                    wanted.add((run.s["type"][0], a.get("workflowTypeVersion") or run.s["type"][1]))
        if not wanted:
            return {}
        keys = sorted(wanted)
        raws = self.r.hmget(dk.types, [type_field("w", n, v) for n, v in keys])
        return {k: (unpack(r) if r is not None else None) for k, r in zip(keys, raws, strict=True)}

    # -- activity tasks ----------------------------------------------------------------
    def poll_for_activity_task(self, p: dict[str, Any]) -> dict[str, Any]:
        self._known_domain(p["domain"])
        dk = DomainKeys(p["domain"])
        task_list = p["taskList"]["name"]
        identity = p.get("identity")

        def take(member: str) -> dict[str, Any] | None:
            run_id, scheduled = parse_member(member)

            def change(run: Run, pipe: Any) -> tuple[int, str, dict[str, Any], str] | None:
                self._unless_poller_gone(dk, "a", task_list, member)
                act = run.s["acts"].get(str(scheduled))
                scheduled_event = pipe.prefetched[0]
                pipe.multi()
                self.drop_claim(pipe, dk, "a", task_list, member)
                if not run.is_open or act is None or act["st"] or act.get("m") != member:
                    return None
                attrs: dict[str, Any] = {"scheduledEventId": scheduled}
                if identity is not None:
                    attrs["identity"] = identity
                started = run.add("ActivityTaskStarted", attrs)
                act["st"] = started
                act["m"] = None
                run.s["lat"] = run.now
                ev = load_event(scheduled_event)["activityTaskScheduledEventAttributes"]
                self._on_activity_started(run, act, scheduled, ev)
                return started, act["id"], ev, run.workflow_id

            try:
                result = self.transition(
                    dk, run_id, change, also_read=(("LINDEX", dk.history(run_id), scheduled - 1),)
                )
            except UnknownResourceFault:
                with self.r.pipeline(transaction=False) as drop:
                    self.drop_claim(drop, dk, "a", task_list, member)
                    drop.execute()
                return None
            if result is None:
                return None
            started, activity_id, ev, workflow_id = result
            task: dict[str, Any] = {
                "taskToken": encode_token(dk.domain, run_id, "a", scheduled, started),
                "activityId": activity_id,
                "startedEventId": started,
                "workflowExecution": {"workflowId": workflow_id, "runId": run_id},
                "activityType": ev["activityType"],
            }
            if "input" in ev:
                task["input"] = ev["input"]
            return task

        task = self._long_poll(dk, "a", task_list, take)
        if task is None:
            return self._empty_token({"startedEventId": 0})
        return dict(task)

    def _on_activity_started(
        self, run: Run, act: dict[str, Any], scheduled: int, scheduled_attrs: dict[str, Any]
    ) -> None:
        """Deadlines that start with the task (START_TO_CLOSE, HEARTBEAT); SCHEDULE_TO_START ends."""
        rid = run.run_id
        effects = run.effects
        effects.deadlines_remove.add(deadline("a4ss", rid, int(scheduled)))
        start_to_close = _seconds(scheduled_attrs.get("startToCloseTimeout"))
        if start_to_close is not None:
            effects.deadlines_add[deadline("a2st", rid, int(scheduled))] = run.now + start_to_close
        heartbeat = _seconds(scheduled_attrs.get("heartbeatTimeout"))
        if heartbeat is not None:
            act["hbs"] = heartbeat
            effects.deadlines_add[deadline("a3hb", rid, int(scheduled))] = run.now + heartbeat

    def _activity_transition(self, token: str, change: Callable[[Run, dict[str, Any], int, int], Any]) -> Any:
        domain, run_id, scheduled, started = decode_token(token, "a")
        dk = DomainKeys(domain)

        def body(run: Run, _pipe: Any) -> Any:
            act = run.s["acts"].get(str(scheduled))
            if not run.is_open or act is None or act["st"] != started:
                raise UnknownResourceFault(f"Unknown activity, scheduledEventId = {scheduled}")
            return change(run, act, scheduled, started)

        return self.transition(dk, run_id, body)

    def _close_activity(self, run: Run, scheduled: int, event_type: str, attrs: dict[str, Any]) -> None:
        del run.s["acts"][str(scheduled)]
        run.s["lat"] = run.now
        rid = run.run_id
        run.effects.deadlines_remove.update(
            {deadline(k, rid, int(scheduled)) for k in ("a4ss", "a1sc", "a2st", "a3hb")}
        )
        run.add(event_type, attrs)

    def respond_activity_task_completed(self, p: dict[str, Any]) -> dict[str, Any]:
        def change(run: Run, act: dict[str, Any], scheduled: int, started: int) -> None:
            attrs: dict[str, Any] = {k: p[k] for k in ("result",) if k in p}
            attrs.update(scheduledEventId=scheduled, startedEventId=started)
            self._close_activity(run, scheduled, "ActivityTaskCompleted", attrs)

        self._activity_transition(p["taskToken"], change)
        return {}

    def respond_activity_task_failed(self, p: dict[str, Any]) -> dict[str, Any]:
        def change(run: Run, act: dict[str, Any], scheduled: int, started: int) -> None:
            attrs: dict[str, Any] = {k: p[k] for k in ("reason", "details") if k in p}
            attrs.update(scheduledEventId=scheduled, startedEventId=started)
            self._close_activity(run, scheduled, "ActivityTaskFailed", attrs)

        self._activity_transition(p["taskToken"], change)
        return {}

    def respond_activity_task_canceled(self, p: dict[str, Any]) -> dict[str, Any]:
        def change(run: Run, act: dict[str, Any], scheduled: int, started: int) -> None:
            attrs: dict[str, Any] = {k: p[k] for k in ("details",) if k in p}
            attrs.update(scheduledEventId=scheduled, startedEventId=started)
            if act["cr"]:
                attrs["latestCancelRequestedEventId"] = act["cr"]
            self._close_activity(run, scheduled, "ActivityTaskCanceled", attrs)

        self._activity_transition(p["taskToken"], change)
        return {}

    def record_activity_task_heartbeat(self, p: dict[str, Any]) -> dict[str, Any]:
        def change(run: Run, act: dict[str, Any], scheduled: int, started: int) -> bool:
            if "details" in p:
                act["hb"] = p["details"]
            scheduled_timeout = act.get("hbs")
            if scheduled_timeout:
                run.effects.deadlines_add[deadline("a3hb", run.run_id, int(scheduled))] = run.now + scheduled_timeout
            return bool(act["cr"])

        return {"cancelRequested": self._activity_transition(p["taskToken"], change)}


# -- helpers ------------------------------------------------------------------------------
WORKFLOW_DEFAULTS = (
    "defaultTaskStartToCloseTimeout",
    "defaultExecutionStartToCloseTimeout",
    "defaultTaskList",
    "defaultTaskPriority",
    "defaultChildPolicy",
    "defaultLambdaRole",
)
ACTIVITY_DEFAULTS = (
    "defaultTaskStartToCloseTimeout",
    "defaultTaskHeartbeatTimeout",
    "defaultTaskList",
    "defaultTaskPriority",
    "defaultTaskScheduleToStartTimeout",
    "defaultTaskScheduleToCloseTimeout",
)

OPERATIONS = (
    "CountClosedWorkflowExecutions",
    "CountOpenWorkflowExecutions",
    "CountPendingActivityTasks",
    "CountPendingDecisionTasks",
    "DeleteActivityType",
    "DeleteWorkflowType",
    "DeprecateActivityType",
    "DeprecateDomain",
    "DeprecateWorkflowType",
    "DescribeActivityType",
    "DescribeDomain",
    "DescribeWorkflowExecution",
    "DescribeWorkflowType",
    "GetWorkflowExecutionHistory",
    "ListActivityTypes",
    "ListClosedWorkflowExecutions",
    "ListDomains",
    "ListOpenWorkflowExecutions",
    "ListTagsForResource",
    "ListWorkflowTypes",
    "PollForActivityTask",
    "PollForDecisionTask",
    "RecordActivityTaskHeartbeat",
    "RegisterActivityType",
    "RegisterDomain",
    "RegisterWorkflowType",
    "RequestCancelWorkflowExecution",
    "RespondActivityTaskCanceled",
    "RespondActivityTaskCompleted",
    "RespondActivityTaskFailed",
    "RespondDecisionTaskCompleted",
    "SignalWorkflowExecution",
    "StartWorkflowExecution",
    "TagResource",
    "TerminateWorkflowExecution",
    "UndeprecateActivityType",
    "UndeprecateDomain",
    "UndeprecateWorkflowType",
    "UntagResource",
)


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _merge_tags(current: list[dict[str, str]], new: list[dict[str, Any]]) -> list[dict[str, str]]:
    merged = {t["key"]: t for t in current}
    for t in new:
        merged[t["key"]] = {"key": t["key"], "value": t.get("value", "")}
    return list(merged.values())


def _check_year(p: dict[str, Any], member: str) -> None:
    value = p.get(member)
    if value and value != "NONE" and int(value) > ONE_YEAR:
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must be at most {ONE_YEAR} seconds (1 year)"
        )


def _run_deadlines(s: dict[str, Any]) -> set[str]:
    """Every deadline member an open run may hold; all go when it closes."""
    rid = s["rid"]
    out = {deadline("wto", rid)}
    dt = s["dt"]
    if dt["started"]:
        out.add(deadline("dto", rid, int(dt['started'])))
    for sid in s["acts"]:
        out.update(deadline(k, rid, int(sid)) for k in ("a4ss", "a1sc", "a2st", "a3hb"))
    for started in s["timers"].values():
        out.add(deadline("tmr", rid, int(started)))
    for scheduled in s.get("lambdas", {}):
        out.add(deadline("l2c", rid, int(scheduled)))
    if dt["sched"]:
        out.add(deadline("dts", rid, int(dt['sched'])))
    return out


def execution_info(s: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "execution": {"workflowId": s["wid"], "runId": s["rid"]},
        "workflowType": {"name": s["type"][0], "version": s["type"][1]},
        "startTimestamp": s["start"],
    }
    if s["close"] is not None:
        info["closeTimestamp"] = s["close"]
    info["executionStatus"] = s["status"]
    if s["cs"]:
        info["closeStatus"] = s["cs"]
    if s.get("parent"):
        info["parent"] = s["parent"]
    if s["tags"]:
        info["tagList"] = s["tags"]
    info["cancelRequested"] = bool(s["cr"])
    return info


def _wrap_page_token(inner: str, run_id: str, started: int, prev: int, task_token: str) -> str:
    raw = msgpack.packb([inner, run_id, started, prev, task_token], use_bin_type=True)
    return base64.urlsafe_b64encode(raw).decode()


def _unwrap_page_token(token: str) -> tuple[str, str, int, int, str]:
    try:
        inner, run_id, started, prev, task_token = msgpack.unpackb(base64.urlsafe_b64decode(token.encode()), raw=False)
        return str(inner), str(run_id), int(started), int(prev), str(task_token)
    except (ValueError, TypeError, binascii.Error, msgpack.UnpackException) as exc:
        raise ValidationException("Invalid nextPageToken") from exc


class _Deadlines:
    """Firing due deadlines: each one exactly once, whatever number of timekeepers run."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def earliest(self) -> float | None:
        r = self.engine.r
        domains = [d.decode() for d in r.hkeys(DOMAINS)]
        if not domains:
            return None
        with r.pipeline(transaction=False) as pipe:
            for name in domains:
                pipe.zrange(DomainKeys(name).deadlines, 0, 0, withscores=True)
            found = [rows[0][1] for rows in pipe.execute() if rows]
        return min(found) if found else None

    def fire_due(self, now: float | None = None) -> int:
        """Fire every deadline at or before ``now``, earliest first; return how many fired."""
        engine = self.engine
        now = engine.clock.now() if now is None else now
        fired = 0
        for name in sorted(d.decode() for d in engine.r.hkeys(DOMAINS)):
            dk = DomainKeys(name)
            while True:
                due = engine.r.zrangebyscore(dk.deadlines, "-inf", now, start=0, num=1024)
                if not due:
                    break
                batch: list[str] = []
                for raw_member in due:
                    member = raw_member.decode()
                    if member.split("|", 1)[0] in relations.OUTBOX_KINDS:
                        fired += self.fire_batch(dk, batch, now)
                        batch = []
                        kind, run_id, ref = timeouts.parse(member)
                        fired += relations.deliver(engine, dk, member, kind, run_id, int(ref or 0), now)
                        continue
                    batch.append(member)
                    if len(batch) == FIRE_BATCH:
                        fired += self.fire_batch(dk, batch, now)
                        batch = []
                fired += self.fire_batch(dk, batch, now)
        return fired

    def fire_batch(self, dk: DomainKeys, members: list[str], now: float) -> int:
        """Fire due single-run deadlines in one transaction over their runs: one round trip to
        read them (under WATCH), one to write; a conflicting change makes the batch run again."""
        if not members:
            return 0
        engine = self.engine
        run_ids = list(dict.fromkeys(timeouts.parse(m)[1] for m in members))

        def body(tx: Any) -> int:
            tx.watch(*(dk.run(r) for r in run_ids))
            replies = tx.read_many(
                *(("ZSCORE", dk.deadlines, m) for m in members), *(("GET", dk.run(r)) for r in run_ids)
            )
            scores, raws = replies[: len(members)], replies[len(members) :]
            runs = {r: Run(unpack(raw), now) for r, raw in zip(run_ids, raws, strict=True) if raw is not None}
            changed: dict[str, Run] = {}
            dropped: list[str] = []
            moved: dict[str, float] = {}
            purged: list[dict[str, Any]] = []
            fired = 0
            for member, score in zip(members, scores, strict=True):
                if score is None or score > now:
                    continue  # fired by another timekeeper, or moved (heartbeat) meanwhile
                kind, run_id, ref = timeouts.parse(member)
                run = runs.get(run_id)
                dropped.append(member)
                if run is None:
                    continue
                run.now = ms(score)  # the event carries its deadline
                if kind == "purge":
                    purged.append(runs.pop(run_id).s)
                    changed.pop(run_id, None)
                    fired += 1
                elif kind in ("cpt", "cpc") and run.s["cs"] == "CONTINUED_AS_NEW":
                    # the child went on as a new run: the policy follows it there
                    current = tx.get(dk.workflow_id(run.workflow_id))
                    if current is not None:
                        moved[deadline(kind, current.decode())] = score
                elif timeouts.fire(run, kind, ref):
                    changed[run_id] = run
                    fired += 1
            tx.multi()
            for state in purged:
                _purge(tx, dk, state)
            for run in changed.values():
                engine.write_run(tx, dk, run)
            if dropped:
                tx.zrem(dk.deadlines, *dropped)
            if moved:
                tx.zadd(dk.deadlines, moved)
            return fired

        return int(engine.commit([], body))


def _purge(pipe: Any, dk: DomainKeys, s: dict[str, Any]) -> None:
    """A closed run past its retention vanishes with its history and index entries."""
    rid = s["rid"]
    pipe.delete(dk.run(rid), dk.history(rid))
    pipe.zrem(dk.closed, rid)
    pipe.zrem(dk.closed_by_close, rid)
    pipe.zrem(dk.by_workflow_id(s["wid"]), rid)
    pipe.zrem(dk.by_type(s["type"][0]), rid)
    for tag_value in s["tags"]:
        pipe.zrem(dk.by_tag(tag_value), rid)
    if s["cs"]:
        pipe.zrem(dk.by_close_status(s["cs"]), rid)
