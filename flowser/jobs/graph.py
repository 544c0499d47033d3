"""The job's graph: checks made before anything starts, the order of tasks, and a printable tree.

Rejected, each at its line: a dependency (``depends_on`` or a merge's ``wait``) on a task that does not
exist or on the task itself, a cycle (the tasks on it, in order), and an input ``from`` a task that is
not upstream (not reachable backwards through dependencies): its result would not exist yet.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .spec import JOB_SOURCE, JobSpec

if TYPE_CHECKING:
    from .load import Loaded

__all__ = ["ancestors", "check", "order", "render_tree", "upstream"]


def upstream(spec: JobSpec) -> dict[str, list[str]]:
    """Each task's direct dependencies (depends_on and a merge's wait)."""
    return {name: task.upstream_names() for name, task in spec.tasks.items()}


def ancestors(spec: JobSpec, name: str) -> set[str]:
    deps = upstream(spec)
    seen: set[str] = set()
    stack = list(deps.get(name, []))
    while stack:
        current = stack.pop()
        if current in seen or current not in deps:
            continue
        seen.add(current)
        stack.extend(deps[current])
    return seen


def descendants(spec: JobSpec, names: Iterable[str]) -> set[str]:
    """The tasks downstream of any of ``names`` (not those themselves unless downstream of another)."""
    below: dict[str, list[str]] = {name: [] for name in spec.tasks}
    for name, deps in upstream(spec).items():
        for dep in deps:
            below.setdefault(dep, []).append(name)
    seen: set[str] = set()
    stack = [child for name in names for child in below.get(name, [])]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(below.get(current, []))
    return seen


def order(spec: JobSpec) -> list[str]:
    """The tasks in a topological order (ties in file order)."""
    sorter = graphlib.TopologicalSorter({name: spec.tasks[name].upstream_names() for name in spec.tasks})
    sorter.prepare()
    out: list[str] = []
    position = {name: i for i, name in enumerate(spec.tasks)}
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=lambda n: position.get(n, 0))
        out.extend(ready)
        sorter.done(*ready)
    return out


def check(loaded: Loaded) -> None:
    """Raise JobFileError listing every unknown dependency, cycle and input from a task not upstream."""
    from .load import JobFileError, dotted

    spec = loaded.spec
    problems: list[str] = []
    for name, task in spec.tasks.items():
        for field, names in (("depends_on", task.depends_on), ("merge.wait", task.merge.wait if task.merge else [])):
            for index, dep in enumerate(names):
                path = ("tasks", name, *field.split("."), index)
                if dep == name:
                    problems.append(f"{loaded.where(path)}: {dotted(path)}: a task cannot depend on itself")
                elif dep not in spec.tasks:
                    problems.append(f"{loaded.where(path)}: {dotted(path)}: unknown task {dep!r}")
    if problems:
        from .load import JobFileError

        raise JobFileError(problems)
    try:
        order(spec)
    except graphlib.CycleError as exc:
        cycle = list(reversed(exc.args[1]))  # graphlib: each is a predecessor of the next; reversed: depends on it
        position = {name: i for i, name in enumerate(spec.tasks)}
        start = min(cycle[:-1], key=lambda n: position[n])  # begin with the task written first
        at = cycle.index(start)
        cycle = [*cycle[at:-1], *cycle[:at], start]
        shown = " -> ".join(cycle)
        field = "depends_on" if spec.tasks[start].depends_on else "merge"
        raise JobFileError(
            [f"{loaded.where(('tasks', start, field))}: tasks.{start}: dependency cycle: {shown} (each depends on the next)"]
        ) from None
    for name, task in spec.tasks.items():
        above = None
        for key, source in task.sources().items():
            if source.from_ is None or source.from_ == JOB_SOURCE:
                continue
            above = ancestors(spec, name) if above is None else above
            if source.from_ not in above:
                path = ("tasks", name, "input") if key == "$" else ("tasks", name, "input", key)
                what = "unknown task" if source.from_ not in spec.tasks else "a task that is not upstream of it"
                problems.append(
                    f"{loaded.where((*path, 'from'))}: tasks.{name}.input{'' if key == '$' else '.' + key}.from: "
                    f"{source.from_!r} is {what} (add it to depends_on)"
                )
    if problems:
        raise JobFileError(problems)


def describe(spec: JobSpec, name: str) -> str:
    task = spec.tasks[name]
    if task.activity is not None:
        ref = task.activity
        return f"activity {ref.name} {ref.version}" + (f" on {ref.task_list}" if ref.task_list else "")
    if task.shell is not None:
        return "shell " + " ".join([task.shell.command, *task.shell.args])
    if task.fetch is not None:
        return f"fetch {task.fetch.url}"
    if task.sleep is not None:
        return f"sleep {task.sleep.seconds}s"
    assert task.merge is not None
    return f"merge {task.merge.mode} of {', '.join(task.merge.wait)}"


def render_tree(spec: JobSpec) -> list[str]:
    """One line per task in topological order: name, what it runs, what it waits for."""
    lines = []
    for name in order(spec):
        task = spec.tasks[name]
        deps = task.upstream_names()
        after = f"  <- {', '.join(deps)}" if deps else ""
        extras = []
        if task.retry is not None:
            extras.append(f"retry x{task.retry.maximum_attempts or 'inf'}")
        lines.append(f"{name}: {describe(spec, name)}{after}" + (f"  [{'; '.join(extras)}]" if extras else ""))
    return lines
