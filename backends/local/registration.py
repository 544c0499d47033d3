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
from .keys import DOMAINS, DomainKeys, type_field_prefix
from .store import Tx

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

        def body(tx: Tx) -> None:
            if tx.domain_exists(name):
                raise DomainAlreadyExistsFault(f"Domain already exists: {name}")
            if tx.domain_count() >= self.core.config.max_domains:
                raise LimitExceededFault(f"Limit of {self.core.config.max_domains} domains reached")
            tx.multi()
            tx.put_domain(record)

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
        records = self.core.store.domain_records()
        wanted = [r for r in records if r["status"] == p["registrationStatus"]]
        wanted.sort(key=lambda r: r["name"], reverse=bool(p.get("reverseOrder")))
        page, token = self.core.page(wanted, p, ("ListDomains", p["registrationStatus"], p.get("reverseOrder")))
        out: dict[str, Any] = {"domainInfos": [self._domain_info(r) for r in page]}
        if token:
            out["nextPageToken"] = token
        return out

    def _set_domain_status(self, name: str, status: str) -> None:
        now = self.core.now()

        def body(tx: Tx) -> bool:
            record = tx.domain_record(name)
            if record is None:
                raise UnknownResourceFault(f"Unknown domain: {name}")
            already = record["status"] == status
            if already and status != "DEPRECATED":
                raise DomainAlreadyExistsFault(f"Domain already registered: {name}")
            record["status"] = status
            deprecated_types: dict[bytes, dict[str, Any]] = {}
            dk = DomainKeys(name)
            if status == "DEPRECATED":  # all its types become deprecated (§3.2)
                for field, type_record in tx.type_records(dk).items():
                    if type_record["status"] == "REGISTERED":
                        type_record["status"] = "DEPRECATED"
                        type_record["deprecationDate"] = now
                        deprecated_types[field] = type_record
            if already and not deprecated_types:
                raise DomainDeprecatedFault(f"Domain already deprecated: {name}")
            tx.multi()
            if not already:
                tx.put_domain(record)
            if deprecated_types:
                # Already deprecated, yet with registered types: a deprecation cut short between its two
                # writes on a Redis Cluster (docs/scaling.md). This call completes it, and still answers
                # DomainDeprecatedFault. (On one Redis, and in SWF, a deprecated domain has none.)
                tx.put_types(dk, deprecated_types)
            return already

        if self.core.store.transaction([DOMAINS], body):
            raise DomainDeprecatedFault(f"Domain already deprecated: {name}")

    def deprecate_domain(self, p: dict[str, Any]) -> dict[str, Any]:
        self._set_domain_status(p["name"], "DEPRECATED")
        return {}

    def undeprecate_domain(self, p: dict[str, Any]) -> dict[str, Any]:
        self._set_domain_status(p["name"], "REGISTERED")
        return {}

    def _update_tags(self, arn: str, change: Callable[[list[dict[str, str]]], list[dict[str, str]]]) -> None:
        name = self.core.domain_of_arn(arn)

        def body(tx: Tx) -> None:
            record = tx.domain_record(name)
            if record is None:
                raise UnknownResourceFault(f"Unknown resource: {arn}")
            record["tags"] = change(record.get("tags", []))
            if len(record["tags"]) > 50:
                raise TooManyTagsFault("A domain can have at most 50 tags")
            tx.multi()
            tx.put_domain(record)

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
        record = self.core.store.domain_record(self.core.domain_of_arn(arn))
        if record is None:
            raise UnknownResourceFault(f"Unknown resource: {arn}")
        return {"tags": record.get("tags", [])}

    def _type(self, dk: DomainKeys, kind: str, t: dict[str, str]) -> dict[str, Any]:
        record = self.core.store.type_record(dk, kind, t["name"], t["version"])
        if record is None:
            raise unknown_type(kind, t["name"], t["version"])
        return record

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

        def body(tx: Tx) -> None:
            if tx.type_exists(dk, kind, p["name"], p["version"]):
                raise TypeAlreadyExistsFault(f"{KIND_NAMES[kind]}=[name={p['name']}, version={p['version']}]")
            if tx.type_count(dk, kind) >= self.core.config.max_types:
                raise LimitExceededFault(f"Limit of {self.core.config.max_types} types reached")
            tx.multi()
            tx.put_type(dk, kind, record)

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
        records = self.core.store.type_records_under(dk, type_field_prefix(kind, p.get("name")))
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
        label = f"{KIND_NAMES[kind]}=[name={t['name']}, version={t['version']}]"
        now = self.core.now()

        def body(tx: Tx) -> None:
            record = tx.type_record(dk, kind, t["name"], t["version"])
            if record is None:
                raise unknown_type(kind, t["name"], t["version"])
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
            tx.multi()
            if action == "delete":
                tx.remove_type(dk, kind, t["name"], t["version"])
            else:
                tx.put_type(dk, kind, record)

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
