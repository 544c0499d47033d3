"""The execution page (``/ui/d/{domain}/x/{workflowId}/{runId}``) as HTML, without a browser.

Runs are driven by hand through a boto3 client on the local engine (decision and
activity tasks polled and answered here); the page is asked of the dashboard's
``UI.handle`` in-process, and its HTML parsed with the standard library. One
"order" run (an activity that fails then succeeds under the same activityId, a
timer, a marker, a signal, a child, an input holding ``<script>``) is built once
for the module, on a database of its own.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import pytest
import redis

import backends
from flowser.cli import main
from flowser.historyfile import FORMAT, load_history
from flowser.testing import wait_until
from flowser.ui import UI, Request
from flowser.ui import timeline as tl
from flowser.ui.execution import PER_PAGE, Links, from_events, offline_page, render_body
from tests.engine.helpers import setup_domain

DOMAIN = "shop"
WF = {"name": "order", "version": "1"}
CHILD_WF = {"name": "shipment", "version": "2"}
ACT = {"name": "charge", "version": "1"}
EVIL = "<script>alert('pwned')</script>"


# -- the backend ---------------------------------------------------------------------------------
def _db_url(redis_url: str, db: int) -> str:
    base, _, query = redis_url.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query) if k != "db"]
    return f"{base}?{urlencode([*kept, ('db', str(db))])}"


def setup(client: Any) -> None:
    setup_domain(client, DOMAIN, workflows=(WF, CHILD_WF), activity=ACT, execution_timeout="600")


def decision(kind: str, **attributes: Any) -> dict[str, Any]:
    return {"decisionType": kind, f"{kind[0].lower()}{kind[1:]}DecisionAttributes": attributes}


def schedule(activity_id: str, input: Any) -> dict[str, Any]:
    return decision("ScheduleActivityTask", activityType=ACT, activityId=activity_id, input=json.dumps(input))


def complete(result: Any) -> dict[str, Any]:
    return decision("CompleteWorkflowExecution", result=json.dumps(result))


def poll(client: Any, task_list: str, activity: bool = False) -> dict[str, Any]:
    call = client.poll_for_activity_task if activity else client.poll_for_decision_task

    def one() -> dict[str, Any] | None:
        task = call(domain=DOMAIN, taskList={"name": task_list}, identity=f"{task_list}-1")
        return dict(task) if task.get("taskToken") else None

    return wait_until(one, timeout=20)


def decide(client: Any, *decisions: dict[str, Any], task_list: str = "deciders") -> dict[str, Any]:
    task = poll(client, task_list)
    client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=list(decisions))
    return task


def start(client: Any, workflow_id: str, input: Any, **kw: Any) -> str:
    answer = client.start_workflow_execution(
        domain=DOMAIN, workflowId=workflow_id, workflowType=kw.pop("workflowType", WF), input=json.dumps(input), **kw
    )
    return str(answer["runId"])


def order_run(client: Any, workflow_id: str) -> dict[str, str]:
    """An order: charge fails then succeeds under the same activityId; a timer; a marker; a signal; a child; done."""
    run_id = start(client, workflow_id, {"order": 42, "note": EVIL}, tagList=["vip", "eu"])
    decide(
        client,
        schedule("charge", {"amount": 5}),
        decision("StartTimer", timerId="cool-off", startToFireTimeout="1"),
        decision("RecordMarker", markerName="checkpoint", details=json.dumps({"step": "charging"})),
    )
    task = poll(client, "workers", activity=True)
    client.respond_activity_task_failed(taskToken=task["taskToken"], reason="card declined", details=json.dumps({"code": 51}))
    client.signal_workflow_execution(domain=DOMAIN, workflowId=workflow_id, signalName="address-changed", input=json.dumps({"city": "Lyon"}))
    decide(client, schedule("charge", {"amount": 5, "retry": True}))
    task = poll(client, "workers", activity=True)
    client.respond_activity_task_completed(taskToken=task["taskToken"], result=json.dumps({"charged": 5}))
    decide(
        client,
        decision(
            "StartChildWorkflowExecution",
            workflowType=CHILD_WF,
            workflowId=f"{workflow_id}-ship",
            taskList={"name": "child-deciders"},
            input=json.dumps({"ship": 42}),
        ),
    )
    decide(client, complete({"shipped": True}), task_list="child-deciders")
    while True:  # the child's close and the timer (a second after the start): complete once both are in
        task = poll(client, "deciders")
        seen = {e["eventType"] for e in task["events"]}
        done = {"TimerFired", "ChildWorkflowExecutionCompleted"} <= seen
        client.respond_decision_task_completed(
            taskToken=task["taskToken"], decisions=[complete({"ok": True, "said": EVIL})] if done else []
        )
        if done:
            return {"workflowId": workflow_id, "runId": run_id}


@pytest.fixture(scope="module")
def world(redis_url: str) -> Iterator[dict[str, Any]]:
    """A database of the module's own, with an order run (closed) and its child."""
    url = _db_url(redis_url, 6)
    with redis.Redis.from_url(url) as raw:
        raw.flushdb()
    client = backends.connect(url, poll_hold=0.3)
    try:
        setup(client)
        order = order_run(client, "order-1")
        child_run = client.list_closed_workflow_executions(
            domain=DOMAIN, startTimeFilter={"oldestDate": 0}, executionFilter={"workflowId": "order-1-ship"}
        )["executionInfos"][0]["execution"]["runId"]
        yield {"client": client, "url": url, "order": order, "child": {"workflowId": "order-1-ship", "runId": child_run}}
    finally:
        client.close()
        with redis.Redis.from_url(url) as raw:
            raw.flushdb()


@pytest.fixture
def ui(world: dict[str, Any]) -> UI:
    return UI(world["client"])


def get(ui: UI, path: str, **query: Any) -> Any:
    return ui.handle(Request("GET", path, urlencode(query)))


def page_of(execution: dict[str, str], *more: str) -> str:
    return "/".join(["/ui/d", DOMAIN, "x", quote(execution["workflowId"], safe=""), quote(execution["runId"], safe=""), *more])


# -- a small HTML reader ----------------------------------------------------------------------------
class Node:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.texts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.texts) + "".join(c.text for c in self.children)

    def all(self, tag: str | None = None, **attrs: str) -> Iterator[Node]:
        for child in self.children:
            if (tag is None or child.tag == tag) and all(_has(child, k.rstrip("_").replace("_", "-"), v) for k, v in attrs.items()):
                yield child
            yield from child.all(tag, **attrs)

    def find(self, tag: str | None = None, **attrs: str) -> Node:
        found = next(self.all(tag, **attrs), None)
        assert found is not None, f"no <{tag} {attrs}>"
        return found

    def by_id(self, id: str) -> Node:
        return self.find(id=id)


def _has(node: Node, name: str, value: str) -> bool:
    if name == "class":
        return value in node.attrs.get("class", "").split()
    return node.attrs.get(name) == value


VOID = {"meta", "link", "input", "br", "hr", "img", "source", "wbr", "col", "area", "base", "embed", "track"}


class Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.at = self.root
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.at)
        self.at.children.append(node)
        if tag == "script":
            self._in_script = True
        if tag not in VOID:
            self.at = node

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False
        node: Node | None = self.at
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.at = node.parent

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)
        self.at.texts.append(data)


def bars_of(node: Node) -> list[Node]:
    return [b for b in node.all() if "tl-bar" in b.attrs.get("class", "").split()]


def parse(body: bytes | str) -> Tree:
    tree = Tree()
    tree.feed(body.decode() if isinstance(body, bytes) else body)
    return tree


def html_of(ui: UI, path: str, **query: Any) -> tuple[str, Node]:
    response = get(ui, path, **query)
    assert response.status == 200, response.body[:500]
    text = response.body.decode()
    return text, parse(text).root


# -- the header -----------------------------------------------------------------------------------
def test_header_shows_type_ids_status_times_and_decoded_payloads(ui: UI, world: dict[str, Any]) -> None:
    order = world["order"]
    _, root = html_of(ui, page_of(order))
    summary = root.by_id("summary")
    assert summary.by_id("type").text.endswith("order:1")
    assert order["workflowId"] in summary.by_id("workflow-id").text
    assert order["runId"] in summary.by_id("run-id").text
    status = root.by_id("status")
    assert status.attrs["data-status"] == "COMPLETED" and status.text == "COMPLETED"
    assert summary.by_id("started").find("time").attrs["datetime"].endswith("Z")
    assert summary.by_id("closed").find("time").attrs["datetime"].endswith("Z")
    assert "vip" in summary.by_id("tags").text
    assert json.loads(root.by_id("input").text) == {"order": 42, "note": EVIL}  # decoded and laid out
    assert json.loads(root.by_id("result").text) == {"ok": True, "said": EVIL}
    assert root.find("main").attrs["data-status"] == "COMPLETED"


def test_workflow_values_are_escaped(ui: UI, world: dict[str, Any]) -> None:
    text, _ = html_of(ui, page_of(world["order"]), view="json")
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in text
    tree = parse(text)
    assert all("pwned" not in script for script in tree.scripts)  # no script element holds workflow text
    for view in ("timeline", "grouped"):
        assert "<script>alert" not in get(ui, page_of(world["order"]), view=view).body.decode()


def test_child_page_links_to_its_parent(ui: UI, world: dict[str, Any]) -> None:
    _, root = html_of(ui, page_of(world["child"]))
    link = root.by_id("parent").find("a")
    assert link.attrs["href"] == page_of(world["order"])
    assert root.by_id("type").text.endswith("shipment:2")
    assert json.loads(root.by_id("input").text) == {"ship": 42}


# -- the views -----------------------------------------------------------------------------------
def test_three_views_with_tabs_and_the_chosen_one_shown(ui: UI, world: dict[str, Any]) -> None:
    for view, panel in (("timeline", "timeline"), ("grouped", "grouped"), ("json", "history-json")):
        _, root = html_of(ui, page_of(world["order"]), view=view)
        tabs = list(root.find(role="tablist").all("a", role="tab"))
        assert [t.text for t in tabs] == ["Timeline", "Grouped", "Full JSON"]
        assert [t.attrs["aria-controls"] for t in tabs] == ["timeline", "grouped", "history-json"]
        assert [t.attrs["aria-selected"] for t in tabs] == [str(t.attrs["data-view"] == view).lower() for t in tabs]
        assert all(t.attrs["href"].endswith(f"?view={t.attrs['data-view']}") for t in tabs)  # links: they work without a script
        for other in ("timeline", "grouped", "history-json"):
            assert ("hidden" in root.by_id(other).attrs) == (other != panel)


def test_timeline_bars_for_activities_attempts_timer_child(ui: UI, world: dict[str, Any]) -> None:
    _, root = html_of(ui, page_of(world["order"]))
    timeline = root.by_id("timeline")
    lanes = {(lane.attrs["data-kind"], lane.attrs["data-name"]): lane for lane in timeline.all("li", class_="tl-lane")}
    charge = lanes["activity", "charge"]
    bars = [b for b in charge.all() if "tl-bar" in b.attrs.get("class", "").split()]
    assert [(b.attrs["data-status"], b.attrs["data-attempt"], b.attrs["data-attempts"]) for b in bars] == [
        ("FAILED", "1", "2"),
        ("COMPLETED", "2", "2"),
    ]
    assert [b.find(class_="tl-badge").text for b in bars] == ["#1", "#2"]
    assert "tl-failed" in bars[0].attrs["class"] and "tl-ok" in bars[1].attrs["class"]
    assert "2 attempts" in charge.text
    assert "tl-rows2" in charge.attrs["class"]  # each attempt on a row of the lane
    assert ["tl-row0" in bars[0].attrs["class"], "tl-row1" in bars[1].attrs["class"]] == [True, True]
    assert "attempt 2 of 2" in bars[1].attrs["aria-label"]
    timer = [b for b in lanes["timer", "cool-off"].all() if b.attrs.get("data-kind") == "timer"]
    assert [b.attrs["data-status"] for b in timer] == ["FIRED"]
    child = [b for b in lanes["child", "order-1-ship"].all() if b.attrs.get("data-kind") == "child"]
    assert child[0].attrs["data-status"] == "COMPLETED"
    assert child[0].attrs["href"] == page_of(world["child"])  # the child's bar is a link to its page
    assert lanes["signal", "address-changed"] and lanes["marker", "checkpoint"]
    decisions = [b for b in bars_of(timeline) if b.attrs["data-kind"] == "decision"]
    assert len(decisions) >= 4 and all(b.attrs["data-status"] == "COMPLETED" for b in decisions)
    run = timeline.find(class_="tl-lane", data_kind="workflow")
    assert next(b for b in run.all() if b.attrs.get("data-kind") == "workflow").attrs["data-status"] == "COMPLETED"
    for bar in timeline.all():
        classes = bar.attrs.get("class", "").split()
        if "tl-bar" in classes:  # placed by class: the page's CSP forbids style attributes
            assert any(re.fullmatch(r"tl-l\d+", c) for c in classes) and "style" not in bar.attrs


def test_grouped_view_lists_each_attempt(ui: UI, world: dict[str, Any]) -> None:
    _, root = html_of(ui, page_of(world["order"]), view="grouped")
    rows = [r for r in root.by_id("grouped").all("tr") if r.attrs.get("data-kind") == "activity"]
    assert [(r.attrs["data-status"], r.attrs["data-attempt"]) for r in rows] == [("FAILED", "1"), ("COMPLETED", "2")]
    assert "card declined" in rows[0].text
    child = next(r for r in root.by_id("grouped").all("tr") if r.attrs.get("data-kind") == "child")
    assert child.find("a").attrs["href"] == page_of(world["child"])


def test_json_view_holds_every_event_as_json(ui: UI, world: dict[str, Any]) -> None:
    client, order = world["client"], world["order"]
    events = client.get_workflow_execution_history(domain=DOMAIN, execution=order)["events"]
    _, root = html_of(ui, page_of(order), view="json")
    items = list(root.by_id("history-json").all("li"))
    assert [int(i.attrs["data-event-id"]) for i in items] == [e["eventId"] for e in events]
    first = json.loads(items[0].find("pre").text)
    assert first["eventType"] == "WorkflowExecutionStarted"
    assert json.loads(first["workflowExecutionStartedEventAttributes"]["input"])["note"] == EVIL
    assert root.by_id("download").attrs["href"] == page_of(order, "history.json")


# -- pending work and children ---------------------------------------------------------------------
def test_child_tree_links_to_children(ui: UI, world: dict[str, Any]) -> None:
    _, root = html_of(ui, page_of(world["order"]))
    item = root.by_id("children").find("li", data_workflow_id="order-1-ship")
    assert item.attrs["data-status"] == "COMPLETED"
    assert item.find("a").attrs["href"] == page_of(world["child"])
    assert "shipment:2" in item.text
    _, child_root = html_of(ui, page_of(world["child"]))
    assert "No child workflows" in child_root.by_id("children").text


def test_pending_activities_and_decision_task_of_an_open_run(ui: UI, world: dict[str, Any]) -> None:
    client = world["client"]
    run_id = start(client, "open-1", {"n": 1})
    decide(client, schedule("first", {}), schedule("second", {}))
    task = poll(client, "workers", activity=True)  # "first" is taken, "second" waits
    client.signal_workflow_execution(domain=DOMAIN, workflowId="open-1", signalName="poke")  # a decision task waits too
    try:
        _, root = html_of(ui, page_of({"workflowId": "open-1", "runId": run_id}))
        assert root.by_id("status").attrs["data-status"] == "OPEN"
        rows = {r.attrs["data-activity-id"]: r for r in root.by_id("pending-activities").all("tr") if "data-activity-id" in r.attrs}
        assert rows["first"].attrs["data-state"] == "STARTED" and "workers-1" in rows["first"].text
        assert rows["second"].attrs["data-state"] == "SCHEDULED"
        decision_row = root.by_id("pending-decision").find("tr", data_state="SCHEDULED")
        assert "deciders" in decision_row.text
        bars = [b for b in bars_of(root.by_id("timeline")) if b.attrs["data-kind"] == "activity"]
        assert sorted(b.attrs["data-status"] for b in bars) == ["SCHEDULED", "STARTED"]
        assert all("tl-running" in b.attrs["class"] for b in bars)
        assert root.find("main").attrs["data-events"].startswith(f"/ui/d/{DOMAIN}/events?")
    finally:
        client.respond_activity_task_completed(taskToken=task["taskToken"])
        client.terminate_workflow_execution(domain=DOMAIN, workflowId="open-1")


# -- history.json -----------------------------------------------------------------------------------
def test_history_json_is_the_cli_history_file(ui: UI, world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    order = world["order"]
    response = get(ui, page_of(order, "history.json"))
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    assert main(["executions", "history", order["workflowId"], "--run-id", order["runId"], "-o", "json", "--backend", world["url"], "--domain", DOMAIN]) == 0
    assert response.body.decode() == capsys.readouterr().out
    loaded = load_history(json.loads(response.body))
    assert loaded.domain == DOMAIN and loaded.execution == order
    assert json.loads(response.body)["format"] == FORMAT
    assert loaded.events[0]["eventType"] == "WorkflowExecutionStarted"


def test_a_loaded_history_renders_without_a_client(ui: UI, world: dict[str, Any]) -> None:
    body = get(ui, page_of(world["order"], "history.json")).body
    history = load_history(json.loads(body))
    upload_id = ui.keep_upload(history)
    response = offline_page(ui, Request("GET", f"/ui/open/{upload_id}", "view=grouped"), history, upload_id)
    text = response.body.decode()
    root = parse(text).root
    assert root.by_id("status").attrs["data-status"] == "COMPLETED"
    assert "hidden" not in root.by_id("grouped").attrs
    assert "data-events" not in root.find("main").attrs  # nothing live
    assert root.by_id("download").attrs["href"] == f"/ui/open/{upload_id}/history.json"
    assert get(ui, f"/ui/open/{upload_id}/history.json").body == body
    assert "<script>alert" not in text


# -- a long history ---------------------------------------------------------------------------------
def synthetic_history(n: int) -> list[dict[str, Any]]:
    """A run of ``n`` events: decision tasks each scheduling activities and recording markers, activities
    that run (every 7th failing and scheduled again under its id), signals waking the decider."""
    import datetime as dt

    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    events: list[dict[str, Any]] = []

    def add(kind: str, **attrs: Any) -> int:
        eid = len(events) + 1
        events.append(
            {
                "eventId": eid,
                "eventType": kind,
                "eventTimestamp": t0 + dt.timedelta(milliseconds=10 * eid),
                f"{kind[0].lower()}{kind[1:]}EventAttributes": attrs,
            }
        )
        return eid

    add("WorkflowExecutionStarted", workflowType=WF, taskList={"name": "deciders"}, input=json.dumps({"big": True}), childPolicy="TERMINATE")
    activity = 0
    while len(events) < n - 10:
        scheduled = add("DecisionTaskScheduled", taskList={"name": "deciders"})
        started = add("DecisionTaskStarted", scheduledEventId=scheduled, identity="d")
        done = add("DecisionTaskCompleted", scheduledEventId=scheduled, startedEventId=started)
        for _ in range(10):
            activity += 1
            name = f"a{activity}"
            for attempt in (1, 2) if activity % 7 == 0 else (1,):
                s = add("ActivityTaskScheduled", activityId=name, activityType=ACT, taskList={"name": "workers"}, decisionTaskCompletedEventId=done, input=json.dumps({"i": activity}))
                st = add("ActivityTaskStarted", scheduledEventId=s, identity="w")
                if activity % 7 == 0 and attempt == 1:
                    add("ActivityTaskFailed", scheduledEventId=s, startedEventId=st, reason="flaky")
                else:
                    add("ActivityTaskCompleted", scheduledEventId=s, startedEventId=st, result=json.dumps({"ok": activity}))
        add("MarkerRecorded", markerName="progress", details=json.dumps(activity), decisionTaskCompletedEventId=done)
        add("WorkflowExecutionSignaled", signalName="tick", input="1")
    scheduled = add("DecisionTaskScheduled", taskList={"name": "deciders"})
    started = add("DecisionTaskStarted", scheduledEventId=scheduled)
    done = add("DecisionTaskCompleted", scheduledEventId=scheduled, startedEventId=started)
    add("WorkflowExecutionCompleted", result=json.dumps("done"), decisionTaskCompletedEventId=done)
    return events


def test_ten_thousand_events_render_their_first_page_only() -> None:
    """What keeps a 10,000-event page quick: each view is paged and the page stays small (the time it takes
    is measured by bench/ui_bench.py, docs/performance.md, not here)."""
    events = synthetic_history(10_000)
    assert len(events) >= 10_000
    data = from_events(events, domain=DOMAIN, execution={"workflowId": "big", "runId": "r1"})
    links = Links(("d", DOMAIN, "x", "big", "r1"), DOMAIN)
    for view in ("timeline", "grouped", "json"):
        body = render_body(data, links, view)
        root = parse(body).root
        panel = root.by_id({"json": "history-json"}.get(view, view))
        assert "hidden" not in panel.attrs
        assert panel.find("nav", class_="pager")  # paged
        assert len(body) < 2_000_000, f"{view}: {len(body):,} bytes"
    root = parse(render_body(data, links, "json")).root
    assert len(list(root.by_id("history-json").all("li"))) == PER_PAGE
    root = parse(render_body(data, links, "timeline")).root
    lanes = list(root.by_id("timeline").all("li", class_="tl-lane"))
    assert len(lanes) <= PER_PAGE + 2
    decision_bars = [b for b in bars_of(root.by_id("timeline")) if b.attrs["data-kind"] == "decision"]
    assert 0 < len(decision_bars) <= tl.DECISION_LIMIT  # past the limit, one summary bar (below)
    retried = [b for b in bars_of(root.by_id("timeline")) if b.attrs["data-attempt"] == "2" and b.attrs["data-kind"] == "activity"]
    assert retried
    last = parse(render_body(data, links, "json", 50)).root
    assert last.by_id("history-json").find("li").attrs["data-event-id"] == str(49 * PER_PAGE + 1)


def test_timeline_offsets_and_attempts_are_pure() -> None:
    events = synthetic_history(200)
    timeline = tl.build(events)
    assert timeline.run.status == "COMPLETED" and timeline.run.end == pytest.approx(timeline.span)
    a7 = next(lane for lane in timeline.lanes if lane.name == "a7")
    assert [(b.status, b.attempt, b.attempts) for b in a7.bars] == [("FAILED", 1, 2), ("COMPLETED", 2, 2)]
    first, second = a7.bars
    assert first.start < first.started < first.end <= second.start < second.started < second.end  # type: ignore[operator]
    assert timeline.decisions is not None and not timeline.decisions_summarised
    assert all(b.kind == "decision" and b.status == "COMPLETED" for b in timeline.decisions.bars)
    summarised = tl.build(events, decision_limit=2)
    assert summarised.decisions is not None and summarised.decisions_summarised
    [bar] = summarised.decisions.bars
    assert bar.count == summarised.decision_count == len(timeline.decisions.bars) and bar.status == "COMPLETED"


def test_position_classes_are_in_the_stylesheet() -> None:
    from importlib.resources import files

    assert files("flowser.ui").joinpath("static", "timeline.css").read_text() == tl.position_css()


# -- more of the page -------------------------------------------------------------------------------
def test_fragment_holds_the_live_regions_for_the_view_asked(ui: UI, world: dict[str, Any]) -> None:
    response = get(ui, page_of(world["order"], "fragment"), view="grouped")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/html")
    root = parse(response.body).root
    regions = [n.attrs["data-region"] for n in root.all() if "data-region" in n.attrs]
    assert regions == ["summary", "view-timeline", "view-grouped", "view-json", "pending", "children"]
    assert "hidden" not in root.by_id("grouped").attrs and "hidden" in root.by_id("timeline").attrs
    assert root.by_id("summary").attrs["data-last-event"] == str(len(list(root.by_id("history-json").all("li"))))
    _, page_root = html_of(ui, page_of(world["order"]))
    main = page_root.find("main")
    assert main.attrs["data-fragment"] == page_of(world["order"], "fragment")
    assert main.attrs["data-view"] == "timeline"
    assert any(s.attrs.get("src") == "/ui/static/live.js" for s in page_root.all("script"))
    assert {link.attrs["href"] for link in page_root.all("link")} >= {"/ui/static/execution.css", "/ui/static/timeline.css"}


def test_static_files_of_the_page_are_served(ui: UI) -> None:
    for name, kind in (("live.js", "text/javascript"), ("execution.css", "text/css"), ("timeline.css", "text/css")):
        response = get(ui, f"/ui/static/{name}")
        assert response.status == 200 and response.headers["Content-Type"].startswith(kind), name


def test_actions_only_while_open(ui: UI, world: dict[str, Any]) -> None:
    client = world["client"]
    run_id = start(client, "act-1", {})
    try:
        _, root = html_of(ui, page_of({"workflowId": "act-1", "runId": run_id}))
        assert root.by_id("terminate-link").attrs["href"] == page_of({"workflowId": "act-1", "runId": run_id}, "terminate")
    finally:
        client.terminate_workflow_execution(domain=DOMAIN, workflowId="act-1", reason="done <b>here</b>")
    text, root = html_of(ui, page_of({"workflowId": "act-1", "runId": run_id}))
    assert not list(root.all(id="terminate-link"))
    assert root.by_id("status").attrs["data-status"] == "TERMINATED"
    assert root.by_id("reason").text == "done <b>here</b>" and "<b>here" not in text


def test_a_runid_prefix_redirects_and_an_unknown_run_is_404(ui: UI, world: dict[str, Any]) -> None:
    order = world["order"]
    response = get(ui, page_of({"workflowId": order["workflowId"], "runId": order["runId"][:10]}))
    assert response.status == 303 and response.headers["Location"] == page_of(order)
    assert get(ui, page_of({"workflowId": "nope", "runId": "nope"})).status == 404


def test_continued_as_new_links_both_ways(ui: UI, world: dict[str, Any]) -> None:
    client = world["client"]
    first = start(client, "loop-1", {"round": 1})
    decide(client, decision("ContinueAsNewWorkflowExecution", input=json.dumps({"round": 2})))
    infos = client.list_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0}, executionFilter={"workflowId": "loop-1"})
    second = infos["executionInfos"][0]["execution"]["runId"]
    try:
        _, root = html_of(ui, page_of({"workflowId": "loop-1", "runId": first}))
        assert root.by_id("status").attrs["data-status"] == "CONTINUED_AS_NEW"
        assert root.by_id("continued-as").find("a").attrs["href"] == page_of({"workflowId": "loop-1", "runId": second})
        _, root = html_of(ui, page_of({"workflowId": "loop-1", "runId": second}))
        assert root.by_id("continued-from").find("a").attrs["href"] == page_of({"workflowId": "loop-1", "runId": first})
    finally:
        client.terminate_workflow_execution(domain=DOMAIN, workflowId="loop-1")


def test_a_history_saved_by_the_aws_cli_opens_offline(ui: UI, world: dict[str, Any]) -> None:
    """GetWorkflowExecutionHistory's page as the AWS CLI prints it: epoch timestamps, no execution info."""
    events = world["client"].get_workflow_execution_history(domain=DOMAIN, execution=world["order"])["events"]
    page = {"events": [{**e, "eventTimestamp": e["eventTimestamp"].timestamp()} for e in events]}
    history = load_history(page)
    upload_id = ui.keep_upload(history)
    response = offline_page(ui, Request("GET", f"/ui/open/{upload_id}", ""), history, upload_id)
    root = parse(response.body).root
    assert root.by_id("status").attrs["data-status"] == "COMPLETED"
    assert [b.attrs["data-status"] for b in bars_of(root.by_id("timeline")) if b.attrs["data-kind"] == "activity"] == ["FAILED", "COMPLETED"]
    assert json.loads(root.by_id("input").text)["note"] == EVIL


@pytest.mark.slow
def test_a_ten_thousand_event_run_on_the_engine_is_paged_and_clustered(ui: UI, world: dict[str, Any]) -> None:
    """Driven through the engine: decision tasks each scheduling 30 activities and recording 60 markers, a
    signal waking the decider, past 10,000 events. The whole page (history read, rendered, three views
    paged) stays small; the timeline's crowded lanes are drawn in clusters. (Its time: bench/ui_bench.py.)"""
    client = world["client"]
    run_id = start(client, "big-1", {"big": True})
    while True:
        task = poll(client, "deciders")
        last = task["startedEventId"]
        if last > 10_000:
            client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[complete("done")])
            break
        client.respond_decision_task_completed(
            taskToken=task["taskToken"],
            decisions=[schedule(f"a{last}-{i}", {"i": i}) for i in range(30)]
            + [decision("RecordMarker", markerName=f"m{i % 3}") for i in range(60)],
        )
        client.signal_workflow_execution(domain=DOMAIN, workflowId="big-1", signalName="go")
    path = page_of({"workflowId": "big-1", "runId": run_id})
    for view in ("timeline", "grouped", "json"):
        response = get(ui, path, view=view)
        assert response.status == 200
        assert len(response.body) < 1_500_000, f"{view}: {len(response.body):,} bytes"
    root = parse(response.body).root
    assert int(root.by_id("events-count").find("dd").text.replace(",", "")) > 10_000
    for lane in root.by_id("timeline").all("li", class_="tl-lane"):
        assert len([b for b in bars_of(lane) if b.attrs["data-kind"] != "decision"]) <= tl.LANE_BARS
    markers = root.by_id("timeline").find("li", data_kind="marker", data_name="m0")
    assert any("tl-cluster" in b.attrs["class"] for b in bars_of(markers))
    assert "and 100" not in root.by_id("pending").text  # closed: nothing pending
    never_taken = root.by_id("timeline").find("li", data_kind="activity")
    [bar] = bars_of(never_taken)
    assert bar.attrs["data-status"] == "SCHEDULED" and "tl-unfinished" in bar.attrs["class"] and "tl-running" not in bar.attrs["class"]


def test_on_moto_the_page_renders_and_its_stream_says_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto (as AWS): no event stream; the page is the same, and its script is told to refresh on a timer."""
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr("moto.swf.models.sleep", lambda seconds: time.sleep(min(seconds, 0.05)))
    with mock_aws():
        client = boto3.client("swf", region_name="us-east-1")
        setup(client)
        run_id = start(client, "moto-1", {"note": EVIL})
        decide(client, schedule("charge", {"amount": 1}))
        task = poll(client, "workers", activity=True)
        client.respond_activity_task_failed(taskToken=task["taskToken"], reason="nope")
        ui = UI(client)
        execution = {"workflowId": "moto-1", "runId": run_id}
        for view in ("timeline", "grouped", "json"):
            text, root = html_of(ui, page_of(execution), view=view)
            assert "<script>alert" not in text
        assert root.by_id("status").attrs["data-status"] == "OPEN"
        assert [b.attrs["data-status"] for b in bars_of(root.by_id("timeline")) if b.attrs["data-kind"] == "activity"] == ["FAILED"]
        assert root.by_id("pending-decision").find("tr", data_state="SCHEDULED")
        events_url = root.find("main").attrs["data-events"]
        path, _, query = events_url.partition("?")
        response = ui.handle(Request("GET", path, query))
        assert b'"mode": "polling"' in b"".join(response.stream or [])
        assert get(ui, page_of(execution, "fragment"), view="json").status == 200
        assert load_history(json.loads(get(ui, page_of(execution, "history.json")).body)).run_id == run_id
