"""A minimal in-memory SWF endpoint: the yardstick for the clients' CPU in ``server_bench.py``.

    .venv/bin/python bench/reference_server.py --port 8790

It answers only the calls the bench makes (register, start, signal, both
polls with long polling, the two responds with ScheduleActivityTask and
CompleteWorkflowExecution, history), over Python's ``http.server`` with
keep-alive, with SWF's JSON shapes and nothing more: no validation, no
timeouts, no persistence. Whatever boto3 spends talking to it is what a
client must spend on these calls; what it spends beyond that against
``flowser serve`` is ours to remove. Not a test and not an emulator.

``--redis URL`` adds the least a server that keeps executions in Redis must
do: every call that changes a run writes it there in one round trip (one
MULTI/EXEC: the run's state, its new events, its task list entry), the
answer going out only after it. Nothing is read back (the in-memory store
still decides), so this is a floor for a Redis-backed server, not a design.
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Mirror:
    """Write-through of each changed run to Redis: one MULTI/EXEC round trip per change."""

    def __init__(self, url: str) -> None:
        import redis  # only with --redis

        self.client = redis.Redis.from_url(url)
        self.local = threading.local()

    def commands(
        self, run: dict[str, Any], queue: str | None = None, member: str | None = None, taken: bool = False
    ) -> list[tuple[Any, ...]]:
        """The transaction writing ``run`` as it is now (taken under the store's lock)."""
        rid = run["rid"]
        state = {k: v for k, v in run.items() if k not in ("events", "acts")}
        events = run["events"][run.get("saved", 0) :]
        run["saved"] = len(run["events"])
        commands: list[tuple[Any, ...]] = [("MULTI",), ("SET", f"ref:run:{rid}", json.dumps(state, separators=(",", ":")))]
        if events:
            commands.append(("RPUSH", f"ref:run:{rid}:h", *(json.dumps(e, separators=(",", ":")) for e in events)))
        if queue is not None and member is not None:
            commands.append(("ZREM" if taken else "ZADD", f"ref:tl:{queue}", *((member,) if taken else (0, member))))
        commands.append(("EXEC",))
        return commands

    def send(self, commands: list[tuple[Any, ...]]) -> None:
        """One round trip (outside the store's lock, as a server's threads would each have their own)."""
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = self.client.connection_pool.get_connection()
        conn.send_packed_command(conn.pack_commands(commands), check_health=False)
        for _ in commands:
            conn.read_response()


class Store:
    def __init__(self, hold: float, mirror: Mirror | None = None) -> None:
        self.mirror = mirror
        self.hold = hold
        self.lock = threading.Condition()
        self.runs: dict[str, dict[str, Any]] = {}
        self.decisions: deque[str] = deque()  # runIds with a scheduled decision task
        self.activities: deque[tuple[str, int]] = deque()  # (runId, scheduledEventId)
        self.tokens = itertools.count(1)

    # -- events -----------------------------------------------------------------------------
    def add(self, run: dict[str, Any], kind: str, attrs: dict[str, Any]) -> int:
        event_id = len(run["events"]) + 1
        key = kind[0].lower() + kind[1:] + "EventAttributes"
        run["events"].append({"eventId": event_id, "eventType": kind, "eventTimestamp": time.time(), key: attrs})
        return event_id

    def schedule_decision(self, run: dict[str, Any]) -> None:
        if run["dstarted"]:
            run["again"] = True  # scheduled when the started one completes, as SWF does
        elif run["open"] and not run["dsched"]:
            run["dsched"] = self.add(run, "DecisionTaskScheduled", {"taskList": {"name": run["tl"]}, "startToCloseTimeout": "60"})
            self.decisions.append(run["rid"])
            self.lock.notify_all()

    # -- calls ------------------------------------------------------------------------------
    def start(self, p: dict[str, Any]) -> dict[str, Any]:
        rid = uuid.uuid4().hex
        run = {"rid": rid, "wid": p["workflowId"], "type": p["workflowType"], "events": [], "open": True,
               "dsched": 0, "dstarted": 0, "prev": 0, "tl": p.get("taskList", {}).get("name", "bench"), "acts": {}}
        with self.lock:
            self.runs[rid] = run
            attrs = {"workflowType": p["workflowType"], "taskList": {"name": run["tl"]}, "childPolicy": "TERMINATE",
                     "executionStartToCloseTimeout": "3600", "taskStartToCloseTimeout": "60", "parentInitiatedEventId": 0}
            if "input" in p:
                attrs["input"] = p["input"]
            self.add(run, "WorkflowExecutionStarted", attrs)
            self.schedule_decision(run)
        self.persist(run, "d", rid)
        return {"runId": rid}

    def persist(self, run: dict[str, Any], queue: str | None = None, member: str | None = None, taken: bool = False) -> None:
        if self.mirror is not None:
            with self.lock:
                commands = self.mirror.commands(run, queue, member, taken)
            self.mirror.send(commands)

    def signal(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            run = self.runs[p["runId"]]
            attrs = {"signalName": p["signalName"], "externalInitiatedEventId": 0}
            if "input" in p:
                attrs["input"] = p["input"]
            self.add(run, "WorkflowExecutionSignaled", attrs)
            self.schedule_decision(run)
        return {}

    def _wait(self, queue: deque[Any]) -> Any:
        deadline = time.monotonic() + self.hold
        with self.lock:
            while not queue:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.lock.wait(remaining)
            return queue.popleft()

    def poll_decision(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("nextPageToken"):
            rid, started, offset = json.loads(p["nextPageToken"])
            with self.lock:
                return self._decision_page(self.runs[rid], started, offset, p)
        rid = self._wait(self.decisions)
        if rid is None:
            return {"taskToken": "", "startedEventId": 0, "previousStartedEventId": 0}
        with self.lock:
            run = self.runs[rid]
            run["dstarted"] = self.add(run, "DecisionTaskStarted", {"scheduledEventId": run["dsched"], "identity": p.get("identity", "")})
            run["dsched"] = 0
            page = self._decision_page(run, run["dstarted"], 0, p)
        self.persist(run, "d", rid, taken=True)
        return page

    def _decision_page(self, run: dict[str, Any], started: int, offset: int, p: dict[str, Any]) -> dict[str, Any]:
        events = run["events"][:started]
        if p.get("reverseOrder"):
            events = events[::-1]
        size = p.get("maximumPageSize") or 1000
        page = events[offset : offset + size]
        out: dict[str, Any] = {"taskToken": f"d|{run['rid']}|{started}", "startedEventId": started,
                               "workflowExecution": {"workflowId": run["wid"], "runId": run["rid"]},
                               "workflowType": run["type"], "events": page, "previousStartedEventId": run["prev"]}
        if offset + size < len(events):
            out["nextPageToken"] = json.dumps([run["rid"], started, offset + size])
        return out

    def respond_decision(self, p: dict[str, Any]) -> dict[str, Any]:
        _, rid, started = p["taskToken"].split("|")
        with self.lock:
            run = self.runs[rid]
            attrs: dict[str, Any] = {"scheduledEventId": int(started) - 1, "startedEventId": int(started)}
            if "executionContext" in p:
                attrs["executionContext"] = p["executionContext"]
            completed = self.add(run, "DecisionTaskCompleted", attrs)
            run["prev"], run["dstarted"] = int(started), 0
            again, run["again"] = run.get("again", False), False
            for d in p.get("decisions", []):
                if d["decisionType"] == "ScheduleActivityTask":
                    a = d["scheduleActivityTaskDecisionAttributes"]
                    scheduled = self.add(run, "ActivityTaskScheduled", {
                        "activityType": a["activityType"], "activityId": a["activityId"], "taskList": {"name": run["tl"]},
                        "scheduleToStartTimeout": "3600", "scheduleToCloseTimeout": "3600", "startToCloseTimeout": "3600",
                        "heartbeatTimeout": "NONE", "decisionTaskCompletedEventId": completed})
                    run["acts"][scheduled] = a
                    self.activities.append((rid, scheduled))
                elif d["decisionType"] == "CompleteWorkflowExecution":
                    self.add(run, "WorkflowExecutionCompleted", {"decisionTaskCompletedEventId": completed})
                    run["open"] = False
            if again:
                self.schedule_decision(run)
            self.lock.notify_all()
        self.persist(run, "a", f"{rid}|{len(run['events'])}")
        return {}

    def poll_activity(self, p: dict[str, Any]) -> dict[str, Any]:
        claimed = self._wait(self.activities)
        if claimed is None:
            return {"taskToken": "", "startedEventId": 0}
        rid, scheduled = claimed
        with self.lock:
            run = self.runs[rid]
            started = self.add(run, "ActivityTaskStarted", {"scheduledEventId": scheduled, "identity": p.get("identity", "")})
            a = run["acts"][scheduled]
        self.persist(run, "a", f"{rid}|{scheduled}", taken=True)
        return {"taskToken": f"a|{rid}|{scheduled}|{started}", "activityId": a["activityId"], "startedEventId": started,
                "workflowExecution": {"workflowId": run["wid"], "runId": rid}, "activityType": a["activityType"]}

    def respond_activity(self, p: dict[str, Any]) -> dict[str, Any]:
        _, rid, scheduled, started = p["taskToken"].split("|")
        with self.lock:
            run = self.runs[rid]
            attrs = {"scheduledEventId": int(scheduled), "startedEventId": int(started)}
            if "result" in p:
                attrs["result"] = p["result"]
            self.add(run, "ActivityTaskCompleted", attrs)
            self.schedule_decision(run)
        self.persist(run, "d", rid)
        return {}

    def history(self, p: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            events = list(self.runs[p["execution"]["runId"]]["events"])
        return {"events": events[::-1] if p.get("reverseOrder") else events}


def serve(host: str, port: int, hold: float, redis_url: str | None = None) -> ThreadingHTTPServer:
    store = Store(hold, Mirror(redis_url) if redis_url else None)
    calls = {
        "RegisterDomain": lambda p: {}, "RegisterWorkflowType": lambda p: {}, "RegisterActivityType": lambda p: {},
        "StartWorkflowExecution": store.start, "SignalWorkflowExecution": store.signal,
        "PollForDecisionTask": store.poll_decision, "RespondDecisionTaskCompleted": store.respond_decision,
        "PollForActivityTask": store.poll_activity, "RespondActivityTaskCompleted": store.respond_activity,
        "GetWorkflowExecutionHistory": store.history,
    }
    no_output = {"RegisterDomain", "RegisterWorkflowType", "RegisterActivityType", "SignalWorkflowExecution",
                 "RespondDecisionTaskCompleted", "RespondActivityTaskCompleted"}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # readiness
            self._answer(200, b'{"status":"ok"}')

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
            call = calls.get(operation)
            if call is None:
                self._answer(400, json.dumps({"__type": "com.amazon.coral.service#UnknownOperationException"}).encode())
                return
            result = call(json.loads(body or b"{}"))
            self._answer(200, b"" if operation in no_output else json.dumps(result, separators=(",", ":")).encode())

        def _answer(self, status: int, payload: bytes) -> None:
            head = (
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Bad Request'}\r\n"
                "Content-Type: application/x-amz-json-1.0\r\n"
                f"x-amzn-RequestId: {uuid.uuid4()}\r\nContent-Length: {len(payload)}\r\n\r\n"
            )
            self.wfile.write(head.encode() + payload)  # one write: no Nagle wait between head and body

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8790)
    p.add_argument("--poll-hold", type=float, default=50.0)
    p.add_argument("--redis", help="also write each changed run to this Redis, one round trip per change")
    args = p.parse_args()
    server = serve(args.host, args.port, args.poll_hold, args.redis)
    print(f"reference SWF endpoint listening on http://{args.host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
