"""Domains, workflow and activity types, and domain tags: SWF's registration operations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .core import KIND_NAMES, Core, check_year, unknown_type
from .faults import (
    DomainAlreadyExistsFault,
    DomainDeprecatedFault,
    LimitExceededFault,
    TooManyTagsFault,
    TypeAlreadyExistsFault,
    TypeDeprecatedFault,
    TypeNotDeprecatedFault,
    UnknownResourceFault,
    ValidationException,
)
from .keys import DOMAINS, DomainKeys, type_field
from .store import pack, unpack

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


class Registration:
    """Register, describe, list, deprecate and delete domains and types; tag domains."""

    def __init__(self, core: Core) -> None:
        self.core = core

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
            "created": self.core.now(),
        }
        if "description" in p:
            record["description"] = p["description"]

        def body(pipe: Any) -> None:
            if pipe.hexists(DOMAINS, name):
                raise DomainAlreadyExistsFault(f"Domain already exists: {name}")
            if pipe.hlen(DOMAINS) >= self.core.config.max_domains:
                raise LimitExceededFault(f"Limit of {self.core.config.max_domains} domains reached")
            pipe.multi()
            pipe.hset(DOMAINS, name, pack(record))

        self.core.store.transaction([DOMAINS], body)
        return {}

    def _domain_info(self, record: dict[str, Any]) -> dict[str, Any]:
        info = {"name": record["name"], "status": record["status"]}
        if "description" in record:
            info["description"] = record["description"]
        info["arn"] = self.core.arn(record["name"])
        return info

    def describe_domain(self, p: dict[str, Any]) -> dict[str, Any]:
        record = self.core.domain(p["name"])
        return {
            "domainInfo": self._domain_info(record),
            "configuration": {"workflowExecutionRetentionPeriodInDays": record["retention"]},
        }

    def list_domains(self, p: dict[str, Any]) -> dict[str, Any]:
        records = [unpack(v) for v in self.core.r.hvals(DOMAINS)]
        wanted = [r for r in records if r["status"] == p["registrationStatus"]]
        wanted.sort(key=lambda r: r["name"], reverse=bool(p.get("reverseOrder")))
        page, token = self.core.page(wanted, p, ("ListDomains", p["registrationStatus"], p.get("reverseOrder")))
        out: dict[str, Any] = {"domainInfos": [self._domain_info(r) for r in page]}
        if token:
            out["nextPageToken"] = token
        return out

    def _set_domain_status(self, name: str, status: str) -> None:
        now = self.core.now()

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

        self.core.store.transaction([DOMAINS], body)

    def deprecate_domain(self, p: dict[str, Any]) -> dict[str, Any]:
        self._set_domain_status(p["name"], "DEPRECATED")
        return {}

    def undeprecate_domain(self, p: dict[str, Any]) -> dict[str, Any]:
        self._set_domain_status(p["name"], "REGISTERED")
        return {}

    def _update_tags(self, arn: str, change: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> None:
        name = self.core.domain_of_arn(arn)

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

        self.core.store.transaction([DOMAINS], body)

    def tag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        self._update_tags(p["resourceArn"], lambda tags: _merge_tags(tags, p["tags"]))
        return {}

    def untag_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        drop = set(p["tagKeys"])
        self._update_tags(p["resourceArn"], lambda tags: [t for t in tags if t["key"] not in drop])
        return {}

    def list_tags_for_resource(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = p["resourceArn"]
        raw = self.core.r.hget(DOMAINS, self.core.domain_of_arn(arn))
        if raw is None:
            raise UnknownResourceFault(f"Unknown resource: {arn}")
        return {"tags": unpack(raw).get("tags", [])}

    def _type(self, dk: DomainKeys, kind: str, t: dict[str, str]) -> dict[str, Any]:
        raw = self.core.r.hget(dk.types, type_field(kind, t["name"], t["version"]))
        if raw is None:
            raise unknown_type(kind, t["name"], t["version"])
        return dict(unpack(raw))

    def _register_type(self, p: dict[str, Any], kind: str, defaults: tuple[str, ...]) -> dict[str, Any]:
        domain = self.core.domain(p["domain"])
        if domain["status"] != "REGISTERED":
            raise UnknownResourceFault(f"Unknown domain: {p['domain']} (deprecated)")
        if kind == "w" and p.get("defaultExecutionStartToCloseTimeout") == "NONE":
            raise ValidationException("defaultExecutionStartToCloseTimeout cannot be NONE")
        check_year(p, "defaultExecutionStartToCloseTimeout")
        dk = DomainKeys(p["domain"])
        configuration = {k: p[k] for k in defaults if k in p}
        record: dict[str, Any] = {
            "name": p["name"],
            "version": p["version"],
            "status": "REGISTERED",
            "creationDate": self.core.now(),
            "configuration": configuration,
        }
        if "description" in p:
            record["description"] = p["description"]
        key = type_field(kind, p["name"], p["version"])

        def body(pipe: Any) -> None:
            if pipe.hexists(dk.types, key):
                raise TypeAlreadyExistsFault(f"{KIND_NAMES[kind]}=[name={p['name']}, version={p['version']}]")
            count = sum(1 for k in pipe.hkeys(dk.types) if k.startswith(kind.encode() + b"|"))
            if count >= self.core.config.max_types:
                raise LimitExceededFault(f"Limit of {self.core.config.max_types} types reached")
            pipe.multi()
            pipe.hset(dk.types, key, pack(record))

        self.core.store.transaction([dk.types], body)
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
        self.core.domain(p["domain"])
        record = self._type(DomainKeys(p["domain"]), kind, p[member])
        return {"typeInfo": self._type_info(kind, record), "configuration": record["configuration"]}

    def describe_workflow_type(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._describe_type(p, "w", "workflowType")

    def describe_activity_type(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._describe_type(p, "a", "activityType")

    def _list_types(self, p: dict[str, Any], kind: str) -> dict[str, Any]:
        self.core.domain(p["domain"])
        dk = DomainKeys(p["domain"])
        prefix = f"{kind}|{p['name']}|" if "name" in p else f"{kind}|"
        records = [
            unpack(v) for k, v in self.core.r.hgetall(dk.types).items() if k.decode().startswith(prefix)
        ]
        records = [r for r in records if r["status"] == p["registrationStatus"]]
        records.sort(key=lambda r: (r["name"], r["version"]), reverse=bool(p.get("reverseOrder")))
        query = ("ListTypes", kind, p["domain"], p.get("name"), p["registrationStatus"], p.get("reverseOrder"))
        page, token = self.core.page(records, p, query)
        out: dict[str, Any] = {"typeInfos": [self._type_info(kind, r) for r in page]}
        if token:
            out["nextPageToken"] = token
        return out

    def list_workflow_types(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._list_types(p, "w")

    def list_activity_types(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._list_types(p, "a")

    def _change_type(self, p: dict[str, Any], kind: str, member: str, action: str) -> dict[str, Any]:
        self.core.domain(p["domain"])
        dk = DomainKeys(p["domain"])
        t = p[member]
        key = type_field(kind, t["name"], t["version"])
        label = f"{KIND_NAMES[kind]}=[name={t['name']}, version={t['version']}]"
        now = self.core.now()

        def body(pipe: Any) -> None:
            raw = pipe.hget(dk.types, key)
            if raw is None:
                raise unknown_type(kind, t["name"], t["version"])
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

        self.core.store.transaction([dk.types], body)
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


def _merge_tags(current: list[dict[str, str]], new: list[dict[str, Any]]) -> list[dict[str, str]]:
    merged = {t["key"]: t for t in current}
    for t in new:
        merged[t["key"]] = {"key": t["key"], "value": t.get("value", "")}
    return list(merged.values())
