"""The dashboard's own pages, at the HTTP level: no browser.

In-process (``UI.handle`` over the engine's client): the domains and executions
pages (rows, statuses, counts, filters, pages), escaping, CSRF and the
confirmation step of every action, the login gate, and a 10,000-execution
domain's first page in a bounded number of list calls.

Real processes: ``flowser serve --ui`` (an action done through its forms, with a
cookie, its CSRF token and the confirmation; credentials asked for before any
action; the live events endpoint) and ``flowser ui --backend <redis>``.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from flowser import ops
from flowser.testing import wait_until
from flowser.ui import UI, Request, Response

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "ui-tests"
XSS = "<script>alert(1)</script>"


# -- helpers ---------------------------------------------------------------------------------------
def setup_domain(client: Any, domain: str = DOMAIN) -> None:
    client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    client.register_workflow_type(
        domain=domain,
        name="Order",
        version="1",
        defaultTaskList={"name": "orders"},
        defaultExecutionStartToCloseTimeout="3600",
        defaultTaskStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE",
    )


def start(client: Any, workflow_id: str, domain: str = DOMAIN, **kw: Any) -> str:
    answer = client.start_workflow_execution(
        domain=domain, workflowId=workflow_id, workflowType={"name": "Order", "version": "1"}, **kw
    )
    return str(answer["runId"])


class Browser:
    """Requests to a ``UI`` in-process, keeping its cookie as a browser would."""

    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self.cookie = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Response:
        path, _, query = path.partition("?")
        head = {"cookie": self.cookie} if self.cookie else {}
        body = b""
        if form is not None:
            body = urlencode(form).encode()
            head["content-type"] = "application/x-www-form-urlencoded"
        head.update(headers or {})
        response = self.ui.handle(Request(method, path, query, head, body))
        cookie = response.headers.get("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response

    def get(self, path: str) -> tuple[int, str]:
        response = self.request("GET", path)
        return response.status, response.body.decode()

    def post(self, path: str, form: dict[str, str]) -> Response:
        return self.request("POST", path, form)

    def csrf(self) -> str:
        _, text = self.get("/ui/login" if self.ui.check is not None else "/ui/open")
        return csrf_of(text)


def csrf_of(text: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found, text
    return found.group(1)


def rows_of(text: str) -> list[str]:
    """The workflow ids of the executions table, in order."""
    table = re.search(r'<table id="executions">.*?</table>', text, re.S)
    if table is None:
        return []
    return re.findall(r'<td class="wid"><a href="[^"]*">([^<]*)</a>', table.group(0))


def run_url(workflow_id: str, run_id: str, domain: str = DOMAIN) -> str:
    from flowser.ui.html import href

    return href("d", domain, "x", workflow_id, run_id)


@pytest.fixture
def browser(swf: Any) -> Browser:
    setup_domain(swf)
    return Browser(UI(swf, backend="test"))


# -- pages -----------------------------------------------------------------------------------------
def test_domains_page_lists_domains_and_links_them(browser: Browser) -> None:
    status, text = browser.get("/ui/")
    assert status == 200
    assert '<table id="domains">' in text
    assert f'<a href="/ui/d/{DOMAIN}">{DOMAIN}</a>' in text
    assert "status-registered" in text
    assert browser.get("/ui/d/no-such-domain")[0] == 404
    response = browser.request("GET", "/ui")
    assert response.status == 303 and response.headers["Location"] == "/ui/"


def test_executions_page_rows_statuses_counts_and_filters(browser: Browser) -> None:
    swf = browser.ui.client
    runs = {}
    for wid in ("ord-1", "ord-2", "ord-3"):
        before = time.time()
        runs[wid] = start(swf, wid, tagList=["blue"] if wid.endswith("1") else [])
        wait_until(lambda before=before: time.time() > before + 0.003)  # SWF's times are in ms: the next starts later
    swf.terminate_workflow_execution(domain=DOMAIN, workflowId="ord-2", runId=runs["ord-2"], reason="test")
    status, text = browser.get(f"/ui/d/{DOMAIN}")
    assert status == 200
    assert rows_of(text) == ["ord-3", "ord-2", "ord-1"]  # newest first
    assert 'class="status status-terminated">TERMINATED<' in text
    assert text.count('class="status status-open">OPEN<') == 2
    assert re.search(r'id="count-open"><strong>2</strong> open', text)
    assert re.search(r'id="count-closed"><strong>1</strong> closed', text)
    assert f'href="{run_url("ord-1", runs["ord-1"])}"' in text
    assert re.search(r'<time datetime="[^"]+Z" title="[^"]+Z">just now</time>', text)  # relative, absolute in title
    # the CLI's filters, as a GET form with labels
    for name in ("status", "closeStatus", "type", "tag", "workflowId", "since"):
        assert f'<label for="f-{name}">' in text and f'name="{name}"' in text
    assert rows_of(browser.get(f"/ui/d/{DOMAIN}?status=closed")[1]) == ["ord-2"]
    assert rows_of(browser.get(f"/ui/d/{DOMAIN}?status=open")[1]) == ["ord-3", "ord-1"]
    assert rows_of(browser.get(f"/ui/d/{DOMAIN}?closeStatus=TERMINATED")[1]) == ["ord-2"]
    assert rows_of(browser.get(f"/ui/d/{DOMAIN}?tag=blue")[1]) == ["ord-1"]
    assert rows_of(browser.get(f"/ui/d/{DOMAIN}?tag=blue&tag=green")[1]) == []  # every tag, as --tag
    assert rows_of(browser.get(f"/ui/d/{DOMAIN}?tag=blue&tag=blue")[1]) == ["ord-1"]
    assert 'id="f-tag-1" name="tag" type="text" value="green"' in browser.get(f"/ui/d/{DOMAIN}?tag=blue&tag=green")[1]
    assert rows_of(browser.get(f"/ui/d/{DOMAIN}?workflowId=ord-3")[1]) == ["ord-3"]
    assert rows_of(browser.get(f"/ui/d/{DOMAIN}?type=Order:1&since=1h")[1]) == ["ord-3", "ord-2", "ord-1"]
    assert rows_of(browser.get(f"/ui/d/{DOMAIN}?type=Other")[1]) == []
    assert browser.get(f"/ui/d/{DOMAIN}?since=yesterday-ish")[0] == 400
    assert browser.get(f"/ui/d/{DOMAIN}?status=open&closeStatus=FAILED")[0] == 400


def test_pages_follow_cursors_and_never_repeat_or_skip(browser: Browser) -> None:
    swf = browser.ui.client
    for n in range(11):
        start(swf, f"p-{n:02d}")
    seen: list[str] = []
    path = f"/ui/d/{DOMAIN}?size=25"
    status, text = browser.get(path)
    assert rows_of(text) == [f"p-{n:02d}" for n in range(10, -1, -1)]
    assert 'id="next-page"' not in text
    path: str | None = f"/ui/d/{DOMAIN}?size=4"  # type: ignore[no-redef]
    pages = 0
    while path:
        status, text = browser.get(path)
        assert status == 200
        rows = rows_of(text)
        assert 0 < len(rows) <= 4
        seen += rows
        pages += 1
        if pages > 1:
            assert 'id="first-page"' in text
        found = re.search(r'<a href="([^"]+)" id="next-page"', text)
        path = found.group(1).replace("&amp;", "&") if found else None
    assert pages == 3
    assert seen == [f"p-{n:02d}" for n in range(10, -1, -1)]
    # and back, one page at a time, from the last
    back = re.search(r'<a href="([^"]+)" id="previous-page"', text)
    assert back
    _, text = browser.get(back.group(1).replace("&amp;", "&"))
    assert rows_of(text) == ["p-06", "p-05", "p-04", "p-03"]
    assert 'id="previous-page"' not in text  # the page before is the newest
    back = re.search(r'<a href="([^"]+)" id="first-page"', text)
    assert back
    _, text = browser.get(back.group(1).replace("&amp;", "&"))
    assert rows_of(text) == ["p-10", "p-09", "p-08", "p-07"]
    assert 'id="previous-page"' not in text and 'id="first-page"' not in text
    assert browser.get(f"/ui/d/{DOMAIN}?cursor=bogus")[0] == 400


def test_workflow_values_are_escaped(browser: Browser) -> None:
    swf = browser.ui.client
    start(swf, "xss-1", tagList=[XSS], input=XSS)
    _, text = browser.get(f"/ui/d/{DOMAIN}?tag={XSS}")
    assert rows_of(text) == ["xss-1"]
    assert XSS not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>" not in text  # the page's own scripts are <script src=...>, never inline
    assert browser.get(f"/ui/d/{XSS}")[0] == 404
    assert XSS not in browser.get(f"/ui/d/{DOMAIN}?since={XSS}")[1]
    response = browser.request("GET", "/ui/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_session_cookie_is_httponly_strict_and_scoped(browser: Browser) -> None:
    response = browser.request("GET", "/ui/")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui/" in cookie
    again = browser.request("GET", "/ui/")
    assert "Set-Cookie" not in again.headers  # the session is kept


def test_the_session_cookie_is_per_port_and_survives_other_sites_cookies(browser: Browser) -> None:
    ui = browser.ui
    first = ui.handle(Request("GET", "/ui/", "", {"host": "127.0.0.1:8766"}))
    cookie = first.headers["Set-Cookie"].split(";", 1)[0]
    assert cookie.startswith("flowser_ui_8766=")
    # another dashboard on another port of the same host, and a malformed cookie of some other site
    head = {"host": "127.0.0.1:8766", "cookie": f'other="a b; flowser_ui_8765=zzz; {cookie}; broken'}
    again = ui.handle(Request("GET", "/ui/", "", head))
    assert "Set-Cookie" not in again.headers


# -- actions ---------------------------------------------------------------------------------------
def test_actions_need_post_csrf_and_a_confirmation(browser: Browser) -> None:
    swf = browser.ui.client
    run_id = start(swf, "act-1")
    url = run_url("act-1", run_id) + "/terminate"

    def status() -> str:
        info = swf.describe_workflow_execution(domain=DOMAIN, execution={"workflowId": "act-1", "runId": run_id})
        return str(info["executionInfo"].get("closeStatus") or info["executionInfo"]["executionStatus"])

    # GET shows the form and changes nothing, whatever it is given
    code, text = browser.get(url + "?reason=now&confirm=yes")
    assert code == 200 and 'id="action-form"' in text and 'method="post"' in text
    assert status() == "OPEN"
    # POST without the token, with a wrong one, or from a browser without the session: 403
    assert browser.post(url, {"reason": "x", "confirm": "yes"}).status == 403
    assert browser.post(url, {"reason": "x", "confirm": "yes", "csrf": "0" * 64}).status == 403
    token = csrf_of(text)
    stranger = Browser(browser.ui)
    assert stranger.post(url, {"reason": "x", "confirm": "yes", "csrf": token}).status == 403
    assert status() == "OPEN"
    # the first POST asks to confirm, showing what will be done
    asked = browser.post(url, {"reason": "done <here>", "csrf": token})
    page = asked.body.decode()
    assert asked.status == 200 and 'id="confirm-question"' in page and "done &lt;here&gt;" in page
    assert 'name="confirm" value="yes"' in page
    assert status() == "OPEN"
    # confirmed: done, and back to the execution
    done = browser.post(url, {"reason": "done <here>", "csrf": csrf_of(page), "confirm": "yes"})
    assert done.status == 303 and done.headers["Location"] == run_url("act-1", run_id)
    assert status() == "TERMINATED"
    # once closed, there is nothing to do: said on the form and on a late confirmation
    assert "This execution is closed" in browser.get(url)[1]
    late = browser.post(url, {"reason": "again", "csrf": token, "confirm": "yes"})
    assert late.status == 409 and "This execution is closed" in late.body.decode()


def test_signal_cancel_and_start_through_the_forms(browser: Browser) -> None:
    swf = browser.ui.client
    run_id = start(swf, "sig-1")
    token = browser.csrf()
    base = run_url("sig-1", run_id)
    assert browser.post(base + "/signal", {"csrf": token, "input": "{}", "confirm": "yes"}).status == 200  # no name: asked again
    assert browser.post(base + "/signal", {"csrf": token, "signalName": "approve", "input": '{"ok": true}', "confirm": "yes"}).status == 303
    assert browser.post(base + "/cancel", {"csrf": token, "confirm": "yes"}).status == 303
    events = swf.get_workflow_execution_history(domain=DOMAIN, execution={"workflowId": "sig-1", "runId": run_id})["events"]
    types = [e["eventType"] for e in events]
    assert "WorkflowExecutionSignaled" in types and "WorkflowExecutionCancelRequested" in types
    signaled = next(e for e in events if e["eventType"] == "WorkflowExecutionSignaled")
    assert signaled["workflowExecutionSignaledEventAttributes"]["signalName"] == "approve"

    _, form = browser.get(f"/ui/d/{DOMAIN}/start")
    assert '<option value="Order:1">' in form and 'id="start-form"' in form
    fields = {"workflowType": "Order:1", "workflowId": "started-here", "input": "hi", "tags": "a, b", "csrf": token}
    asked = browser.post(f"/ui/d/{DOMAIN}/start", fields)
    assert asked.status == 200 and 'id="confirm-question"' in asked.body.decode()
    assert ops.list_executions(swf, DOMAIN, workflow_id="started-here") == []
    done = browser.post(f"/ui/d/{DOMAIN}/start", {**fields, "confirm": "yes"})
    assert done.status == 303
    [info] = ops.list_executions(swf, DOMAIN, workflow_id="started-here")
    assert done.headers["Location"] == run_url("started-here", info["execution"]["runId"])
    assert info["tagList"] == ["a", "b"]


def test_credentials_gate_every_action(swf: Any) -> None:
    setup_domain(swf)
    run_id = start(swf, "gated")
    keys = {"AKIDADMIN": "s3cret", "AKIDREAD": "r3ad"}
    ui = UI(
        swf,
        check=lambda key, secret: keys.get(key) == secret,
        allows=lambda key, operation, domain: key == "AKIDADMIN" or not operation or operation.startswith("Get"),
    )
    browser = Browser(ui)
    url = run_url("gated", run_id) + "/terminate"
    # every page but the login asks for a key first: the histories are as closed as the SWF endpoint
    for path in (url, "/ui/", f"/ui/d/{DOMAIN}", f"/ui/d/{DOMAIN}/events", "/ui/open"):
        asked = browser.request("GET", path)
        assert asked.status == 303 and asked.headers["Location"].startswith("/ui/login?next="), path
    assert browser.request("GET", "/ui/static/ui.css").status == 200
    code, text = browser.get(asked.headers["Location"])
    assert code == 200 and 'id="login-form"' in text and 'type="password"' in text
    token = csrf_of(text)
    refused = browser.post(url, {"csrf": token, "confirm": "yes"})
    assert refused.status == 403 and "Log in" in refused.body.decode()
    # a wrong secret is refused; a key without the action is refused at the action
    assert "wrong secret" in browser.post("/ui/login", {"csrf": token, "accessKeyId": "AKIDADMIN", "secretAccessKey": "no"}).body.decode()
    before = browser.cookie
    assert browser.post("/ui/login", {"csrf": token, "accessKeyId": "AKIDREAD", "secretAccessKey": "r3ad"}).status == 303
    assert browser.cookie != before  # a new session at login: one known before it is worth nothing
    assert browser.post(url, {"csrf": token, "confirm": "yes"}).status == 403  # the old token neither
    code, text = browser.get(url)
    assert code == 200  # it may read
    token = csrf_of(text)
    assert browser.post(url, {"csrf": token, "confirm": "yes"}).status == 403  # not terminate
    assert browser.post("/ui/logout", {"csrf": token}).status == 303
    assert browser.post(url, {"csrf": token, "confirm": "yes"}).status == 403
    login = browser.post("/ui/login", {"csrf": token, "accessKeyId": "AKIDADMIN", "secretAccessKey": "s3cret", "next": url})
    assert login.status == 303 and login.headers["Location"] == url
    code, text = browser.get(url)
    assert "Signed in as" in text
    assert browser.post(url, {"csrf": csrf_of(text), "confirm": "yes"}).status == 303
    info = swf.describe_workflow_execution(domain=DOMAIN, execution={"workflowId": "gated", "runId": run_id})
    assert info["executionInfo"]["closeStatus"] == "TERMINATED"
    # a login's next= stays on the dashboard
    other = Browser(ui)
    token = other.csrf()
    away = other.post("/ui/login", {"csrf": token, "accessKeyId": "AKIDADMIN", "secretAccessKey": "s3cret", "next": "//evil.example/"})
    assert away.headers["Location"] == "/ui/"


def test_opening_a_history_file(browser: Browser) -> None:
    from flowser.historyfile import history_document

    swf = browser.ui.client
    run_id = start(swf, "saved-1")
    events = swf.get_workflow_execution_history(domain=DOMAIN, execution={"workflowId": "saved-1", "runId": run_id})["events"]
    document = json.dumps(history_document(events, domain=DOMAIN, execution={"workflowId": "saved-1", "runId": run_id}), default=str)
    _, form = browser.get("/ui/open")
    assert 'enctype="multipart/form-data"' in form and 'type="file"' in form
    token = csrf_of(form)
    boundary = "----flowsertest"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="h.json"\r\n'
        f"Content-Type: application/json\r\n\r\n{document}\r\n--{boundary}--\r\n"
    ).encode()
    head = {"cookie": browser.cookie, "content-type": f"multipart/form-data; boundary={boundary}"}
    without = browser.ui.handle(Request("POST", "/ui/open", "", {"cookie": browser.cookie, "content-type": head["content-type"]}, body.replace(token.encode(), b"x" * len(token))))
    assert without.status == 403
    opened = browser.ui.handle(Request("POST", "/ui/open", "", head, body))
    assert opened.status == 303 and opened.headers["Location"].startswith("/ui/open/")
    code, _ = browser.get(opened.headers["Location"])
    assert code == 200
    assert browser.get("/ui/open/unknown")[0] == 404
    bad = browser.post("/ui/open", {"csrf": token, "text": "not json"})
    assert bad.status == 200 and "Not a history file" in bad.body.decode()


# -- a large domain --------------------------------------------------------------------------------
class ManyRuns:
    """A client whose domain has ``n`` runs (half open), counting the list calls and the runs they carried."""

    def __init__(self, n: int) -> None:
        base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        self.runs = [
            {
                "execution": {"workflowId": f"wf-{i:05d}", "runId": f"run{i}"},
                "workflowType": {"name": "Order", "version": "1"},
                "startTimestamp": base + dt.timedelta(seconds=i),
                "executionStatus": "OPEN" if i % 2 else "CLOSED",
                **({} if i % 2 else {"closeStatus": "COMPLETED", "closeTimestamp": base + dt.timedelta(seconds=i + 1)}),
            }
            for i in range(n)
        ]
        self.calls = 0
        self.carried = 0

    def describe_domain(self, name: str) -> dict[str, Any]:
        return {"domainInfo": {"name": name, "status": "REGISTERED"}}

    def _list(self, status: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        window = params["startTimeFilter"]
        latest = window.get("latestDate")
        chosen = [
            r for r in reversed(self.runs)
            if r["executionStatus"] == status and (latest is None or r["startTimestamp"] <= latest)
        ]
        start = int(params.get("nextPageToken") or 0)
        size = params["maximumPageSize"]
        page = chosen[start : start + size]
        self.carried += len(page)
        answer: dict[str, Any] = {"executionInfos": page}
        if start + size < len(chosen):
            answer["nextPageToken"] = str(start + size)
        return answer

    def list_open_workflow_executions(self, **params: Any) -> dict[str, Any]:
        return self._list("OPEN", params)

    def list_closed_workflow_executions(self, **params: Any) -> dict[str, Any]:
        return self._list("CLOSED", params)

    def count_open_workflow_executions(self, **params: Any) -> dict[str, Any]:
        return {"count": sum(r["executionStatus"] == "OPEN" for r in self.runs), "truncated": False}

    def count_closed_workflow_executions(self, **params: Any) -> dict[str, Any]:
        return {"count": sum(r["executionStatus"] == "CLOSED" for r in self.runs), "truncated": False}


def test_a_domain_of_10000_executions_lists_page_by_page() -> None:
    client = ManyRuns(10_000)
    browser = Browser(UI(client))
    status, text = browser.get(f"/ui/d/{DOMAIN}")
    assert status == 200
    assert rows_of(text) == [f"wf-{i:05d}" for i in range(9999, 9949, -1)]
    assert client.calls == 2 and client.carried <= 2000  # one page of each list, never the 10,000
    assert re.search(r'id="count-open"><strong>5000</strong>', text)
    found = re.search(r'<a href="([^"]+)" id="next-page"', text)
    assert found
    client.calls = client.carried = 0
    _, second = browser.get(found.group(1).replace("&amp;", "&"))
    assert rows_of(second) == [f"wf-{i:05d}" for i in range(9949, 9899, -1)]
    assert client.calls == 2 and client.carried <= 2000


@pytest.mark.slow
def test_a_domain_of_10000_executions_on_the_engine(fresh_redis: Any) -> None:
    from backends.local import connect

    client = connect(fresh_redis(), timekeeper=False)
    try:
        setup_domain(client, "big")
        for n in range(10_000):
            start(client, f"big-{n:05d}", domain="big")
        calls: list[str] = []

        class Counting:
            def __getattr__(self, name: str) -> Any:
                if name.startswith("list_"):
                    calls.append(name)
                return getattr(client, name)

        browser = Browser(UI(Counting()))
        status, text = browser.get("/ui/d/big")  # its time: bench/ui_bench.py (docs/performance.md)
        assert status == 200
        assert calls == ["list_open_workflow_executions", "list_closed_workflow_executions"]
        assert rows_of(text) == [f"big-{n:05d}" for n in range(9999, 9949, -1)]
        assert re.search(r'id="count-open"><strong>10000</strong> open', text)
        found = re.search(r'<a href="([^"]+)" id="next-page"', text)
        assert found
        calls[:] = []
        _, second = browser.get(found.group(1).replace("&amp;", "&"))
        assert len(calls) == 2
        assert rows_of(second) == [f"big-{n:05d}" for n in range(9949, 9899, -1)]
    finally:
        client.close()


def test_executions_page_cursor_skips_runs_started_in_the_same_millisecond() -> None:
    client = ManyRuns(0)
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    client.runs = [
        {"execution": {"workflowId": f"same-{i}", "runId": f"r{i}"}, "workflowType": {"name": "Order", "version": "1"},
         "startTimestamp": at, "executionStatus": "OPEN"}
        for i in range(7)
    ]
    seen, cursor = [], None
    while True:
        page = ops.executions_page(client, DOMAIN, ops.ExecutionQuery(), size=3, cursor=cursor)
        seen += [info["execution"]["workflowId"] for info in page.executions]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == [f"same-{i}" for i in range(7)] and len(seen) == 7


# -- real processes --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """A ``flowser`` child process that serves HTTP, ready once it printed ``ready``."""

    def __init__(self, *args: str, ready: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowser.cli", *args, "--port", str(self.port)],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        seen = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line.rstrip("\n"))
                if ready in line:
                    seen.set()
            seen.set()

        threading.Thread(target=read, daemon=True).start()
        if not seen.wait(30) or self.proc.poll() is not None:
            errors = self.proc.stderr.read() if self.proc.stderr and self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError(f"{args[0]} did not start: {self.lines} {errors}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


class HttpBrowser:
    """Plain HTTP requests with a cookie jar of one cookie."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
            head = {k.lower(): v for k, v in response.getheaders()}
        finally:
            connection.close()
        if "set-cookie" in head:
            self.cookie = head["set-cookie"].split(";", 1)[0]
        return response.status, head, text


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def test_serve_ui_acts_through_its_forms(redis_client: Any, redis_url: str, processes: list[Process]) -> None:
    server = Process("serve", "--ui", "--redis", redis_url, ready="listening on")
    processes.append(server)
    assert any(line.endswith(f"/ui/ mounted at http://127.0.0.1:{server.port}/ui/") for line in server.lines)
    from tests.http.conftest import swf_client

    swf = swf_client(f"http://127.0.0.1:{server.port}")
    setup_domain(swf)
    run_id = start(swf, "served-1", input=XSS)
    web = HttpBrowser(server.port)
    status, head, text = web.request("GET", f"/ui/d/{DOMAIN}")
    assert status == 200 and rows_of(text) == ["served-1"]
    assert "HttpOnly" in head["set-cookie"] and "SameSite=Strict" in head["set-cookie"]
    assert web.request("GET", "/ui/static/ui.css")[0] == 200
    assert web.request("GET", "/ui/static/list.js")[0] == 200
    url = run_url("served-1", run_id) + "/terminate"
    status, _, form = web.request("GET", url)
    token = csrf_of(form)
    assert web.request("POST", url, {"reason": "r", "confirm": "yes"})[0] == 403
    status, _, asked = web.request("POST", url, {"reason": "r", "csrf": token})
    assert status == 200 and 'id="confirm-question"' in asked
    status, head, _ = web.request("POST", url, {"reason": "r", "csrf": token, "confirm": "yes"})
    assert status == 303 and head["location"] == run_url("served-1", run_id)
    info = swf.describe_workflow_execution(domain=DOMAIN, execution={"workflowId": "served-1", "runId": run_id})
    assert info["executionInfo"]["closeStatus"] == "TERMINATED"
    # the SWF endpoint beside it is unchanged
    assert swf.list_domains(registrationStatus="REGISTERED")["domainInfos"]


def test_serve_ui_streams_the_domains_events(redis_client: Any, redis_url: str, processes: list[Process]) -> None:
    server = Process("serve", "--ui", "--redis", redis_url, ready="listening on")
    processes.append(server)
    from tests.http.conftest import swf_client

    swf = swf_client(f"http://127.0.0.1:{server.port}")
    setup_domain(swf)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    connection.request("GET", f"/ui/d/{DOMAIN}/events?workflowId=live-2")
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type", "").startswith("text/event-stream")
    got = b""
    while b"event: mode" not in got or not got.endswith(b"\n\n"):
        got += response.read1(65536)
    assert b'"mode": "stream"' in got
    start(swf, "live-1")
    start(swf, "live-2")
    deadline = time.monotonic() + 15
    while b"event: history" not in got and time.monotonic() < deadline:
        got += response.read1(65536)
    connection.close()
    messages = [m for m in got.decode().split("\n\n") if "event: history" in m]
    assert messages
    data = json.loads(messages[0].split("data: ", 1)[1])
    assert data["workflowId"] == "live-2" and data["eventType"] == "WorkflowExecutionStarted"
    assert data["event"]["eventId"] == 1


def test_serve_ui_with_credentials_asks_for_them(tmp_path: Path, redis_client: Any, redis_url: str, processes: list[Process]) -> None:
    from tests.http.conftest import KEY_ID, SECRET, swf_client

    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [{"access_key_id": KEY_ID, "secret_access_key": SECRET}]}))
    server = Process("serve", "--ui", "--redis", redis_url, "--credentials", str(keys), ready="listening on")
    processes.append(server)
    swf = swf_client(f"http://127.0.0.1:{server.port}")
    setup_domain(swf)
    run_id = start(swf, "locked-1")
    web = HttpBrowser(server.port)
    url = run_url("locked-1", run_id) + "/cancel"
    status, head, _ = web.request("GET", url)
    assert status == 303 and head["location"].startswith("/ui/login?next=")
    _, _, form = web.request("GET", head["location"])
    token = csrf_of(form)
    assert web.request("POST", url, {"csrf": token, "confirm": "yes"})[0] == 403
    assert web.request("POST", "/ui/login", {"csrf": token, "accessKeyId": KEY_ID, "secretAccessKey": "nope"})[0] == 200
    assert web.request("POST", url, {"csrf": token, "confirm": "yes"})[0] == 403
    assert web.request("POST", "/ui/login", {"csrf": token, "accessKeyId": KEY_ID, "secretAccessKey": SECRET})[0] == 303
    _, _, form = web.request("GET", url)
    assert web.request("POST", url, {"csrf": csrf_of(form), "confirm": "yes"})[0] == 303
    info = swf.describe_workflow_execution(domain=DOMAIN, execution={"workflowId": "locked-1", "runId": run_id})
    assert info["executionInfo"]["cancelRequested"] is True


def test_flowser_ui_on_its_own(redis_client: Any, redis_url: str, swf: Any, processes: list[Process]) -> None:
    setup_domain(swf)
    start(swf, "alone-1")
    ui = Process("ui", "--backend", redis_url, ready="dashboard on")
    processes.append(ui)
    assert ui.lines[-1] == f"flowser ui: dashboard on http://127.0.0.1:{ui.port}/ui/"
    web = HttpBrowser(ui.port)
    status, head, _ = web.request("GET", "/")
    assert status == 303 and head["location"] == "/ui/"
    status, _, text = web.request("GET", f"/ui/d/{DOMAIN}")
    assert status == 200 and rows_of(text) == ["alone-1"]
    assert ui.stop() == 0


def test_flowser_ui_refuses_a_public_host_without_credentials() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flowser.cli", "ui", "--host", "0.0.0.0", "--backend", "redis://127.0.0.1:1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0" in done.stderr


def test_on_moto_the_list_works_and_live_updates_fall_back_to_a_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("swf", region_name="us-east-1")
        setup_domain(client)
        for n in range(3):
            start(client, f"moto-{n}")
        browser = Browser(UI(client))
        status, text = browser.get(f"/ui/d/{DOMAIN}")
        assert status == 200 and rows_of(text) == ["moto-2", "moto-1", "moto-0"]
        assert 'data-events="/ui/d/ui-tests/events"' in text and 'src="/ui/static/list.js"' in text
        histories: list[Any] = []
        client.meta.events.register("before-call.swf.GetWorkflowExecutionHistory", lambda **kw: histories.append(kw))
        response = browser.request("GET", f"/ui/d/{DOMAIN}/events")
        assert histories == []  # no polling's first look at every open run
        assert response.status == 200 and response.stream is not None
        body = b"".join(response.stream)  # polling: the answer says so, and ends
        assert body.count(b"event: ") == 1 and b'"mode": "polling"' in body


def test_credential_check_applies_a_keys_secret_actions_and_domains() -> None:
    from backends.http.auth import Credentials
    from flowser.cli.ui import credential_check

    credentials = Credentials.parse(
        {"keys": [
            {"access_key_id": "ADMIN", "secret_access_key": "a"},
            {"access_key_id": "OPS", "secret_access_key": "o", "domains": ["orders-*"], "actions": ["swf:Signal*", "swf:Get*"]},
        ]}
    )
    check, allows = credential_check(credentials)
    assert check("ADMIN", "a") and not check("ADMIN", "o") and not check("NOBODY", "a")
    assert allows("ADMIN", "TerminateWorkflowExecution", "anything")
    assert allows("OPS", "SignalWorkflowExecution", "orders-eu")
    assert not allows("OPS", "TerminateWorkflowExecution", "orders-eu")
    assert allows("OPS", "", "orders-eu") and not allows("OPS", "", "billing")
    assert credential_check(None) == (None, None)


def test_an_unreachable_backend_is_a_503_page_not_a_traceback() -> None:
    import backends

    client = backends.connect("http://127.0.0.1:1")  # nothing listens there
    status, text = Browser(UI(client)).get("/ui/")
    assert status == 503 and "Cannot reach the backend" in text and "Traceback" not in text
