"""The dashboard's own pages: domains, a domain's executions, actions, login, opening a history file.

Routes (under ``/ui``):

* ``GET /``: the domains;
* ``GET /d/{domain}``: its executions, newest first, with the CLI's filters
  (``status``, ``closeStatus``, ``type`` NAME[:VERSION], ``tag``, ``workflowId``,
  ``since`` ISO 8601 or an age like 15m, 2h, 3d), SWF's counts and pages
  (``cursor``: ``flowser.ops.executions_page``; ``size``; ``trail``: the cursors
  of the pages before, for "Newer");
* ``GET|POST /d/{domain}/start``: start an execution; ``GET|POST
  /d/{domain}/x/{workflowId}/{runId}/{signal,cancel,terminate}``: act on one.
  Each GET is a form; its POST without ``confirm=yes`` shows what would be done
  and asks; with it, does it (CSRF and login are checked by ``app``);
* ``GET|POST /login``, ``POST /logout``; ``GET|POST /open``, ``GET /open/{id}``.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import io
import time
from typing import Any

from flowser import ops

from .app import UI, HttpError, Request, Response, Route
from .html import esc, href, link, page, redirect, relative, status_badge

LOGIN_FAILURE_DELAY = 0.5
"""Seconds a wrong login waits before its answer (guessing keys is slow)."""
PAGE_SIZES = (25, 50, 100, 200)
MAX_TRAIL = 50
"""Pages remembered for "Newer" (the link of the 51st page back is "Newest" only)."""
DEFAULT_SIZE = 50
CLOSE_STATUSES = ops.CLOSE_STATUSES
CHILD_POLICIES = ("TERMINATE", "REQUEST_CANCEL", "ABANDON")
ACTION_OPERATIONS = {
    "signal": "SignalWorkflowExecution",
    "cancel": "RequestCancelWorkflowExecution",
    "terminate": "TerminateWorkflowExecution",
    "start": "StartWorkflowExecution",
}
ACTION_TITLES = {"signal": "Signal", "cancel": "Request cancel", "terminate": "Terminate", "start": "Start"}


def _page(ui: UI, request: Request, title: str, body: str, **kwargs: Any) -> Response:
    return page(title, body, request=request, backend=ui.backend, **kwargs)


def _crumbs(domain: str | None = None, *more: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    crumbs: list[tuple[str, str | None]] = [("Domains", href())]
    if domain is not None:
        crumbs.append((domain, href("d", domain)))
    crumbs.extend(more)
    return crumbs


def _may_see(ui: UI, request: Request, domain: str) -> bool:
    if ui.check is None or ui.allows is None:
        return True
    user = request.session.user if request.session is not None else None
    return user is not None and ui.allows(user, "", domain)


# -- domains ---------------------------------------------------------------------------------------
def domains(ui: UI, request: Request) -> Response:
    rows = []
    for status in ("REGISTERED", "DEPRECATED"):
        token: str | None = None
        while True:
            answer = ui.client.list_domains(
                registrationStatus=status, maximumPageSize=1000, **({"nextPageToken": token} if token else {})
            )
            for info in answer.get("domainInfos", []):
                if not _may_see(ui, request, info["name"]):
                    continue
                rows.append(
                    f'<tr><td>{link(info["name"], href("d", info["name"]))}</td>'
                    f"<td>{status_badge(info.get('status', status))}</td>"
                    f"<td>{esc(info.get('description', ''))}</td></tr>"
                )
            token = answer.get("nextPageToken")
            if not token:
                break
    if rows:
        table = (
            '<div class="scroll"><table id="domains"><caption>Domains</caption><thead><tr><th scope="col">Name</th>'
            '<th scope="col">Status</th><th scope="col">Description</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )
    else:
        table = '<p class="empty">No domains yet: register one (<code>flowser domains register NAME</code>).</p>'
    return _page(ui, request, "Domains", table, crumbs=[("Domains", None)])


# -- executions ------------------------------------------------------------------------------------
def parse_since(text: str) -> dt.datetime:
    """ISO 8601 (UTC unless it says), or an age: 90s, 15m, 2h, 3d, 1w."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    raw = text.strip()
    if raw and raw[-1] in units and raw[:-1].replace(".", "", 1).isdigit():
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=float(raw[:-1]) * units[raw[-1]])
    try:
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise HttpError(400, f"since={text!r} is neither an ISO 8601 time nor an age like 15m, 2h or 3d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _filters(request: Request) -> dict[str, Any]:
    """The list's filters as given (``tag`` a list: repeat it, as ``--tag``, for runs with every one)."""
    names = ("status", "closeStatus", "type", "workflowId", "since")
    found: dict[str, Any] = {name: request.param(name).strip() for name in names if request.param(name).strip()}
    tags = [tag.strip() for tag in request.params("tag") if tag.strip()][:5]  # SWF's most tags a run has
    if tags:
        found["tag"] = tags
    return found


def _query(filters: dict[str, Any]) -> ops.ExecutionQuery:
    status = filters.get("status") or None
    if status == "all":
        status = None
    close_status = filters.get("closeStatus") or None
    type_name, type_version = None, None
    if filters.get("type"):
        type_name, _, version = filters["type"].partition(":")
        type_version = version or None
    try:
        return ops.ExecutionQuery(
            status=status,
            close_status=close_status,
            type_name=type_name or None,
            type_version=type_version,
            tags=tuple(filters.get("tag", ())),
            workflow_id=filters.get("workflowId") or None,
            since=parse_since(filters["since"]) if filters.get("since") else None,
        )
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None


def _select(name: str, label: str, options: list[tuple[str, str]], chosen: str) -> str:
    items = "".join(
        f'<option value="{esc(value)}"{" selected" if value == chosen else ""}>{esc(text)}</option>'
        for value, text in options
    )
    return f'<div class="field"><label for="f-{name}">{esc(label)}</label><select id="f-{name}" name="{name}">{items}</select></div>'


def _input(
    name: str,
    label: str,
    value: str,
    *,
    placeholder: str = "",
    kind: str = "text",
    required: bool = False,
    ident: str | None = None,
) -> str:
    extra = f' placeholder="{esc(placeholder)}"' if placeholder else ""
    extra += " required" if required else ""
    ident = ident or name
    return (
        f'<div class="field"><label for="f-{ident}">{esc(label)}</label>'
        f'<input id="f-{ident}" name="{name}" type="{kind}" value="{esc(value)}"{extra}></div>'
    )


def _count_text(counts: dict[str, dict[str, Any] | None], query: ops.ExecutionQuery) -> str:
    parts = []
    for name in ("open", "closed"):
        count = counts.get(name)
        if count is None:
            continue
        more = "+" if count["truncated"] else ""
        parts.append(f'<span class="count count-{name}" id="count-{name}"><strong>{count["count"]}{more}</strong> {name}</span>')
    note = ""
    if parts and _filters_beyond_server(query):
        note = ' <span class="note">(SWF counts under one of the filters; the list applies them all)</span>'
    return '<p class="counts" id="counts">' + (" · ".join(parts) or "counts unavailable on this backend") + note + "</p>"


def _filters_beyond_server(query: ops.ExecutionQuery) -> bool:
    """Whether the query filters more than SWF's one server-side filter (and the status) count."""
    given = [
        query.workflow_id is not None,
        bool(query.tags),
        query.type_name is not None,
        query.close_status is not None,
    ]
    return sum(given) > 1 or len(query.tags) > 1 or (query.type_name is not None and query.type_version is None)


def executions(ui: UI, request: Request, domain: str) -> Response:
    ui.client.describe_domain(name=domain)  # the backend's own 404 for an unknown domain
    filters = _filters(request)
    query = _query(filters)
    try:
        size = int(request.param("size") or DEFAULT_SIZE)
    except ValueError:
        size = DEFAULT_SIZE
    size = min(max(size, 1), max(PAGE_SIZES))
    cursor = request.param("cursor") or None
    try:
        found = ops.executions_page(ui.client, domain, query, size=size, cursor=cursor)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    try:
        counts = ops.count_executions(ui.client, domain, query)
    except Exception as exc:  # a key that may list but not count: the list still shows
        if ops.fault_code(exc) is None:
            raise
        counts = {"open": None, "closed": None}

    form = (
        f'<form method="get" action="{esc(href("d", domain))}" class="filters" id="filters" role="search">'
        + _select(
            "status",
            "Status",
            [("", "open and closed"), ("open", "open"), ("closed", "closed")],
            filters.get("status", ""),
        )
        + _select("closeStatus", "Close status", [("", "any"), *[(s, s) for s in CLOSE_STATUSES]], filters.get("closeStatus", ""))
        + _input("type", "Type", filters.get("type", ""), placeholder="NAME or NAME:VERSION")
        + "".join(
            _input("tag", "Tag" if n == 0 else f"Tag {n + 1}", tag, ident=f"tag-{n}" if n else "tag")
            for n, tag in enumerate(filters.get("tag") or [""])
        )
        + _input("workflowId", "Workflow id", filters.get("workflowId", ""))
        + _input("since", "Started since", filters.get("since", ""), placeholder="15m, 2h, 3d or ISO 8601")
        + _select("size", "Per page", [(str(n), str(n)) for n in PAGE_SIZES], str(size))
        + '<div class="field buttons"><button type="submit" id="filter">Filter</button>'
        + (f" {link('Clear', href('d', domain), class_='button-link', id='clear')}" if filters else "")
        + "</div>"
        + "</form>"
    )
    now = dt.datetime.now(dt.UTC)
    rows = []
    for info in found.executions:
        execution = info["execution"]
        status = info.get("closeStatus") or info.get("executionStatus", "")
        kind = info.get("workflowType", {})
        tags = "".join(f'<span class="tag">{esc(tag)}</span>' for tag in info.get("tagList") or ())
        url = href("d", domain, "x", execution["workflowId"], execution["runId"])
        cancel = ' <span class="note">cancel requested</span>' if info.get("cancelRequested") else ""
        rows.append(
            f'<tr class="{"run-open" if info.get("executionStatus") == "OPEN" else "run-closed"}">'
            f'<td class="wid">{link(execution["workflowId"], url)}<div class="rid">{esc(execution["runId"])}</div></td>'
            f'<td data-label="Type">{esc(kind.get("name", ""))} <span class="version">{esc(kind.get("version", ""))}</span></td>'
            f'<td data-label="Status">{status_badge(status)}{cancel}</td>'
            f'<td data-label="Started">{relative(info.get("startTimestamp"), now)}</td>'
            f'<td data-label="Closed">{relative(info.get("closeTimestamp"), now)}</td>'
            f'<td data-label="Tags">{tags}</td></tr>'
        )
    if rows:
        table = (
            '<div class="scroll"><table id="executions"><caption>Executions, newest first</caption><thead><tr>'
            '<th scope="col">Workflow id</th><th scope="col">Type</th><th scope="col">Status</th>'
            '<th scope="col">Started</th><th scope="col">Closed</th><th scope="col">Tags</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )
    else:
        table = '<p class="empty" id="executions-empty">No executions match.</p>'
    # the cursors of the pages before this one (oldest last), so that "Newer" goes one back
    trail = [c for c in request.param("trail").split(",") if c][:MAX_TRAIL] if cursor else []
    paging = []
    same = {**filters, "size": _size_param(size)}
    if cursor:
        paging.append(link("Newest", href("d", domain, **same), id="first-page", rel="first"))
        if trail:
            back = href("d", domain, **same, cursor=trail[-1] or None, trail=",".join(trail[:-1]) or None)
            paging.append(link("« Newer", back, id="previous-page", rel="prev"))
    if found.next_cursor:
        more = ",".join([*trail, cursor][-MAX_TRAIL:]) if cursor else None
        paging.append(
            link("Older »", href("d", domain, **same, cursor=found.next_cursor, trail=more), id="next-page", rel="next")
        )
    nav = f'<nav class="paging" aria-label="Pages">{" ".join(paging)}</nav>' if paging else ""
    actions = f'<p class="actions">{link("Start an execution", href("d", domain, "start"), class_="button-link", id="start-link")}</p>'
    live = '<p class="live" id="live" aria-live="polite"></p>'
    results = f'<div id="results">{_count_text(counts, query)}{table}{nav}</div>'
    main_attrs = {"data-events": href("d", domain, "events"), "data-first-page": "" if cursor else "yes"}
    return _page(
        ui,
        request,
        f"Executions of {domain}",
        actions + form + live + results,
        crumbs=_crumbs(domain),
        scripts=("list.js",),
        main_attrs=main_attrs,
    )


def _size_param(size: int) -> int | None:
    return None if size == DEFAULT_SIZE else size


# -- actions ---------------------------------------------------------------------------------------
def _hidden(fields: dict[str, str]) -> str:
    return "".join(f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">' for name, value in fields.items())


def _textarea(name: str, label: str, value: str, rows: int = 4) -> str:
    return (
        f'<div class="field"><label for="f-{name}">{esc(label)}</label>'
        f'<textarea id="f-{name}" name="{name}" rows="{rows}">{esc(value)}</textarea></div>'
    )


def _login_note(ui: UI, request: Request, operation: str, domain: str) -> str:
    if ui.check is None:
        return ""
    if request.session is None or request.session.user is None:
        return (
            f'<p class="warning" role="alert">This server has credentials: '
            f"{link('log in', href('login', next=request.path))} before you act.</p>"
        )
    if not ui.may(request, operation, domain):
        return f'<p class="warning" role="alert">Your key may not {esc(operation)} in {esc(domain)}.</p>'
    return ""


def _run_info(ui: UI, domain: str, workflow_id: str, run_id: str) -> dict[str, Any]:
    answer = ui.client.describe_workflow_execution(domain=domain, execution={"workflowId": workflow_id, "runId": run_id})
    return dict(answer.get("executionInfo", {}))


ACTION_FIELDS = {
    "signal": (("signalName", "Signal name", True), ("input", "Input", False)),
    "cancel": (),
    "terminate": (("reason", "Reason", False), ("details", "Details", False), ("childPolicy", "Child policy", False)),
}


def action(ui: UI, request: Request, domain: str, workflow_id: str, run_id: str, name: str) -> Response:
    """GET: the form; POST: the confirmation, then (``confirm=yes``) the action itself."""
    title = f"{ACTION_TITLES[name]} {workflow_id}"
    url = href("d", domain, "x", workflow_id, run_id, name)
    run_url = href("d", domain, "x", workflow_id, run_id)
    crumbs = _crumbs(domain, (workflow_id, run_url), (ACTION_TITLES[name], None))
    info = _run_info(ui, domain, workflow_id, run_id)
    fields = {key: (request.field(key) if request.method == "POST" else request.param(key)) for key, _, _ in ACTION_FIELDS[name]}
    summary = (
        f'<dl class="summary"><dt>Workflow id</dt><dd>{esc(workflow_id)}</dd><dt>Run id</dt><dd>{esc(run_id)}</dd>'
        f"<dt>Status</dt><dd>{status_badge(info.get('closeStatus') or info.get('executionStatus'))}</dd></dl>"
    )
    operation = ACTION_OPERATIONS[name]
    if info.get("executionStatus") != "OPEN":
        body = f'{summary}<p class="warning" role="alert">This execution is closed: nothing to {esc(name)}.</p>'
        return _page(ui, request, title, body, crumbs=crumbs, status=409 if request.method == "POST" else 200)
    if request.method == "POST":
        missing = [label for key, label, required in ACTION_FIELDS[name] if required and not fields[key]]
        if name == "terminate" and fields.get("childPolicy") and fields["childPolicy"] not in CHILD_POLICIES:
            raise HttpError(400, f"childPolicy is one of {', '.join(CHILD_POLICIES)}")
        if not ui.may(request, operation, domain):
            raise HttpError(403, f"Your key may not {operation} in {domain}.")
        if not missing and request.field("confirm") == "yes":
            ops.act(
                ui.client,
                domain,
                name,
                {"workflowId": workflow_id, "runId": run_id},
                **{key: (value or None) for key, value in fields.items()},
            )
            return redirect(run_url)
        if not missing:
            shown = "".join(
                f"<dt>{esc(label)}</dt><dd><pre>{esc(fields[key]) or '<em>(none)</em>'}</pre></dd>"
                for key, label, _ in ACTION_FIELDS[name]
            )
            body = (
                f'<p class="confirm-question" id="confirm-question">{esc(ACTION_TITLES[name])} this execution? '
                f"This cannot be undone.</p>{summary}"
                f'<dl class="summary">{shown}</dl>'
                f'<form method="post" action="{esc(url)}" id="confirm-form">{ui.csrf_field(request)}'
                f"{_hidden(fields)}"
                '<input type="hidden" name="confirm" value="yes">'
                f'<button type="submit" class="danger" id="confirm">Yes, {esc(ACTION_TITLES[name].lower())}</button> '
                f"{link('No, go back', run_url, class_='button-link', id='back')}</form>"
            )
            return _page(ui, request, f"Confirm: {title}", body, crumbs=crumbs)
        note = f'<p class="error" role="alert">Required: {esc(", ".join(missing))}</p>'
    else:
        note = ""
    controls = []
    for key, label, required in ACTION_FIELDS[name]:
        if key == "input" or key == "details":
            controls.append(_textarea(key, label, fields[key]))
        elif key == "childPolicy":
            controls.append(
                _select(key, label, [("", "the run's default"), *[(p, p) for p in CHILD_POLICIES]], fields[key])
            )
        else:
            controls.append(_input(key, label, fields[key], required=required))
    body = (
        f"{_login_note(ui, request, operation, domain)}{summary}{note}"
        f'<form method="post" action="{esc(url)}" class="action-form" id="action-form">{ui.csrf_field(request)}'
        f"{''.join(controls)}"
        f'<button type="submit" id="review">{esc(ACTION_TITLES[name])}…</button></form>'
    )
    return _page(ui, request, title, body, crumbs=crumbs)


def _action_route(name: str) -> Any:
    def handler(ui: UI, request: Request, domain: str, workflow_id: str, run_id: str) -> Response:
        return action(ui, request, domain, workflow_id, run_id, name)

    handler.__name__ = f"{name}_action"
    return handler


def action_links(domain: str, workflow_id: str, run_id: str, is_open: bool) -> str:
    """The execution page's buttons to signal, request cancel and terminate an open run (for execution.py)."""
    if not is_open:
        return ""
    links = [
        link(ACTION_TITLES[name], href("d", domain, "x", workflow_id, run_id, name), class_="button-link", id=f"{name}-link")
        for name in ("signal", "cancel", "terminate")
    ]
    return f'<nav class="actions" aria-label="Actions">{" ".join(links)}</nav>'


START_FIELDS = (
    ("workflowType", "Workflow type", True),
    ("workflowId", "Workflow id", True),
    ("input", "Input", False),
    ("taskList", "Task list", False),
    ("tags", "Tags (comma-separated)", False),
    ("executionTimeout", "Execution timeout (s)", False),
    ("taskTimeout", "Decision task timeout (s)", False),
    ("childPolicy", "Child policy", False),
)


def start(ui: UI, request: Request, domain: str) -> Response:
    url = href("d", domain, "start")
    crumbs = _crumbs(domain, ("Start", None))
    getter = request.field if request.method == "POST" else request.param
    fields = {key: getter(key).strip() if key != "input" else getter(key) for key, _, _ in START_FIELDS}
    types = ops.list_types(ui.client, domain, "workflow")
    type_options = [(f"{t['workflowType']['name']}:{t['workflowType']['version']}",) * 2 for t in types]
    note = ""
    if request.method == "POST":
        missing = [label for key, label, required in START_FIELDS if required and not fields[key]]
        name, colon, version = fields["workflowType"].partition(":")
        if fields["workflowType"] and not colon:
            missing.append("a type as NAME:VERSION")
        if fields["childPolicy"] and fields["childPolicy"] not in CHILD_POLICIES:
            raise HttpError(400, f"childPolicy is one of {', '.join(CHILD_POLICIES)}")
        if not ui.may(request, "StartWorkflowExecution", domain):
            raise HttpError(403, f"Your key may not StartWorkflowExecution in {domain}.")
        if not missing and request.field("confirm") == "yes":
            started = ops.start_execution(
                ui.client,
                domain,
                name,
                version,
                fields["workflowId"],
                input=fields["input"] or None,
                task_list=fields["taskList"] or None,
                execution_timeout=fields["executionTimeout"] or None,
                task_timeout=fields["taskTimeout"] or None,
                tags=[t.strip() for t in fields["tags"].split(",") if t.strip()],
                child_policy=fields["childPolicy"] or None,
            )
            return redirect(href("d", domain, "x", started["workflowId"], started["runId"]))
        if not missing:
            shown = "".join(
                f"<dt>{esc(label)}</dt><dd><pre>{esc(fields[key]) or '<em>(default)</em>'}</pre></dd>"
                for key, label, _ in START_FIELDS
            )
            body = (
                f'<p class="confirm-question" id="confirm-question">Start this execution in {esc(domain)}?</p>'
                f'<dl class="summary">{shown}</dl>'
                f'<form method="post" action="{esc(url)}" id="confirm-form">{ui.csrf_field(request)}{_hidden(fields)}'
                '<input type="hidden" name="confirm" value="yes">'
                '<button type="submit" id="confirm">Yes, start</button> '
                f"{link('No, go back', href('d', domain, 'start', **fields), class_='button-link', id='back')}</form>"
            )
            return _page(ui, request, f"Confirm: start in {domain}", body, crumbs=crumbs)
        note = f'<p class="error" role="alert">Required: {esc(", ".join(missing))}</p>'
    controls = []
    for key, label, required in START_FIELDS:
        if key == "workflowType":
            controls.append(_select(key, label, [("", "choose a type"), *type_options], fields[key]))
        elif key == "input":
            controls.append(_textarea(key, label, fields[key]))
        elif key == "childPolicy":
            controls.append(_select(key, label, [("", "the type's default"), *[(p, p) for p in CHILD_POLICIES]], fields[key]))
        else:
            controls.append(_input(key, label, fields[key], required=required))
    if not types:
        note += '<p class="warning">No workflow types are registered in this domain.</p>'
    body = (
        f"{_login_note(ui, request, 'StartWorkflowExecution', domain)}{note}"
        f'<form method="post" action="{esc(url)}" class="action-form" id="start-form">{ui.csrf_field(request)}'
        f"{''.join(controls)}"
        '<button type="submit" id="review">Start…</button></form>'
    )
    return _page(ui, request, f"Start an execution in {domain}", body, crumbs=crumbs)


# -- login -----------------------------------------------------------------------------------------
def _safe_next(value: str) -> str:
    return value if value.startswith("/ui/") and not value.startswith("//") and "\\" not in value else href()


def login(ui: UI, request: Request) -> Response:
    target = _safe_next(request.field("next") if request.method == "POST" else request.param("next"))
    note = ""
    if ui.check is None:
        body = "<p>This dashboard has no credentials: actions need no login.</p>"
        return _page(ui, request, "Log in", body, crumbs=_crumbs(None, ("Log in", None)))
    if request.method == "POST":
        key_id, secret = request.field("accessKeyId").strip(), request.field("secretAccessKey")
        if key_id and secret and ui.check(key_id, secret):
            ui.login(request, key_id)
            return redirect(target)
        time.sleep(LOGIN_FAILURE_DELAY)
        note = '<p class="error" role="alert">Unknown access key id, or wrong secret.</p>'
    body = (
        f"{note}<p>This server has credentials: give an access key to act on executions.</p>"
        f'<form method="post" action="{esc(href("login"))}" class="action-form" id="login-form">{ui.csrf_field(request)}'
        f'<input type="hidden" name="next" value="{esc(target)}">'
        f"{_input('accessKeyId', 'Access key id', '', required=True)}"
        f"{_input('secretAccessKey', 'Secret access key', '', kind='password', required=True)}"
        '<button type="submit" id="login">Log in</button></form>'
    )
    return _page(ui, request, "Log in", body, crumbs=_crumbs(None, ("Log in", None)))


def logout(ui: UI, request: Request) -> Response:
    ui.logout(request)
    return redirect(href())


# -- opening a history file ------------------------------------------------------------------------
def multipart(request: Request) -> dict[str, list[tuple[str | None, bytes]]]:
    """A ``multipart/form-data`` body: field name -> [(filename, content), ...]."""
    content_type = request.headers.get("content-type", "")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    fields: dict[str, list[tuple[str | None, bytes]]] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        fields.setdefault(name, []).append((part.get_filename(), payload if isinstance(payload, bytes) else b""))
    return fields


def open_history(ui: UI, request: Request) -> Response:
    note = ""
    if request.method == "POST":
        from flowser.historyfile import load_history

        content = b""
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            fields = multipart(request)
            content = next((data for _, data in fields.get("file", []) if data.strip()), b"")
            if not content:
                content = next((data for _, data in fields.get("text", []) if data.strip()), b"")
        else:
            content = request.field("text").encode()
        if not content.strip():
            note = '<p class="error" role="alert">Choose a file, or paste a history.</p>'
        else:
            try:
                history = load_history(io.BytesIO(content))  # a str would be a path
            except Exception as exc:
                note = f'<p class="error" role="alert">Not a history file: {esc(exc)}</p>'
            else:
                return redirect(href("open", ui.keep_upload(history)))
    body = (
        f"{note}<p>View a history saved with <code>flowser executions history WORKFLOW_ID -o json</code> (or "
        "GetWorkflowExecutionHistory's pages, a list of events, JSON Lines) without a backend. "
        "It stays in this server's memory only, for a while.</p>"
        f'<form method="post" action="{esc(href("open"))}" enctype="multipart/form-data" class="action-form" id="open-form">'
        f"{ui.csrf_field(request)}"
        '<div class="field"><label for="f-file">History file</label>'
        '<input id="f-file" name="file" type="file" accept=".json,.jsonl,application/json"></div>'
        '<div class="field"><label for="f-text">Or paste it</label><textarea id="f-text" name="text" rows="6"></textarea></div>'
        '<button type="submit" id="open">Open</button></form>'
    )
    return _page(ui, request, "Open a history file", body, crumbs=_crumbs(None, ("Open a history file", None)))


def opened(ui: UI, request: Request, upload_id: str) -> Response:
    from . import execution

    history = ui.uploads.get(upload_id)
    if history is None:
        raise HttpError(404, "This history is no longer kept here: open the file again.")
    return execution.offline_page(ui, request, history, upload_id)


ROUTES: list[Route] = [
    Route("GET", "/", domains),
    Route("GET", "/login", login),
    Route("POST", "/login", login),
    Route("POST", "/logout", logout),
    Route("GET", "/open", open_history),
    Route("POST", "/open", open_history),
    Route("GET", "/open/{upload_id}", opened),
    Route("GET", "/d/{domain}", executions),
    Route("GET", "/d/{domain}/start", start),
    Route("POST", "/d/{domain}/start", start),
    *[
        Route(method, f"/d/{{domain}}/x/{{workflow_id}}/{{run_id}}/{name}", _action_route(name))
        for name in ("signal", "cancel", "terminate")
        for method in ("GET", "POST")
    ],
]
