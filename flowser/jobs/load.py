"""Reading a job file: YAML with line numbers, ``include``, ``vars``, ``${VAR}`` / ``${ENV:NAME}``, then the
schema (:mod:`.spec`) and the graph checks (:mod:`.graph`).

Every mistake is reported as ``FILE:LINE: field.path: message`` (:class:`JobFileError` holds them all).

* ``include: [base.yaml, ...]`` (paths relative to the including file) are read first, in order, and the
  including file is laid over them: mappings merge key by key (recursively), anything else -- lists
  included -- is replaced by the later file's value.
* ``vars: {NAME: value}`` gives defaults; ``--var NAME=value`` overrides them. ``${NAME}`` in any string
  is replaced by the variable, ``${ENV:NAME}`` by the environment variable; ``$${`` is a literal ``${``.
  An unknown variable is an error (at its line).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..exceptions import Error
from .spec import WHOLE, JobSpec

__all__ = ["JobFileError", "Loaded", "load", "load_text", "parse_vars"]

Where = tuple[str, int]
PathKey = tuple[Any, ...]

_VAR = re.compile(r"\$\$\{|\$\{(ENV:)?([A-Za-z_][A-Za-z0-9_]*)\}")


class JobFileError(Error):
    """One or more mistakes in a job file, each ``FILE:LINE: field.path: message``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(problems[0] if len(problems) == 1 else f"{problems[0]} (and {len(problems) - 1} more)")


@dataclass
class Loaded:
    spec: JobSpec
    file: str
    positions: dict[PathKey, Where] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    """The file and every file it included."""

    def where(self, path: PathKey) -> str:
        return where(self.positions, path, self.file)


def where(positions: Mapping[PathKey, Where], path: PathKey, default_file: str) -> str:
    """``FILE:LINE`` of the deepest part of ``path`` the files say something about."""
    for cut in range(len(path), -1, -1):
        found = positions.get(tuple(path[:cut]))
        if found is not None:
            return f"{found[0]}:{found[1]}"
    return default_file


def dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _positions(node: yaml.Node, file: str, path: PathKey, out: dict[PathKey, Where]) -> None:
    out[path] = (file, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            _positions(value_node, file, (*path, key), out)
            out[(*path, key)] = (file, key_node.start_mark.line + 1)  # the key's line, not its value's
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _positions(item, file, (*path, index), out)


def _read(path: Path, shown: str) -> tuple[Any, dict[PathKey, Where]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JobFileError([f"{shown}: cannot read: {exc.strerror or exc}"]) from None
    return _parse(text, shown)


def _parse(text: str, shown: str) -> tuple[Any, dict[PathKey, Where]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise JobFileError([f"{shown}{line}: not YAML: {problem}"]) from None
    positions: dict[PathKey, Where] = {}
    if node is not None:
        _positions(node, shown, (), positions)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise JobFileError([f"{shown}:1: a job file is a mapping (name, version, tasks...)"])
    return data, positions


def merge(base: Any, over: Any) -> Any:
    """Mappings merge key by key; anything else (lists too) is replaced by ``over``."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = merge(base[key], value) if key in base else value
        return out
    return over


def _expand(path: Path, shown: str, stack: tuple[Path, ...], files: list[str]) -> tuple[dict[str, Any], dict[PathKey, Where]]:
    resolved = path.resolve()
    if resolved in stack:
        chain = " -> ".join(p.name for p in (*stack, resolved))
        raise JobFileError([f"{shown}: include cycle: {chain}"])
    data, positions = _read(path, shown)
    files.append(shown)
    includes = data.pop("include", None) or []
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(item, str) for item in includes):
        raise JobFileError([f"{where(positions, ('include',), shown)}: include: a list of file paths"])
    merged: dict[str, Any] = {}
    merged_positions: dict[PathKey, Where] = {}
    for index, item in enumerate(includes):
        target = path.parent / item
        if not target.is_file():
            raise JobFileError([f"{where(positions, ('include', index), shown)}: include: no such file {item}"])
        sub, sub_positions = _expand(target, item if Path(item).is_absolute() else os.path.normpath(os.path.join(os.path.dirname(shown), item)), (*stack, resolved), files)
        merged = merge(merged, sub)
        merged_positions.update(sub_positions)
    merged = merge(merged, data)
    merged_positions.update({k: v for k, v in positions.items() if k[:1] != ("include",)})
    return merged, merged_positions


def _substitute(value: Any, variables: Mapping[str, str], environ: Mapping[str, str], path: PathKey, problems: list[tuple[PathKey, str]]) -> Any:
    if isinstance(value, str):

        def one(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            name = match.group(2)
            if match.group(1):
                if name not in environ:
                    problems.append((path, f"${{ENV:{name}}}: the environment variable {name} is not set"))
                    return ""
                return environ[name]
            if name not in variables:
                problems.append((path, f"${{{name}}}: no such variable (give --var {name}=... or vars: {{{name}: ...}})"))
                return ""
            return variables[name]

        return _VAR.sub(one, value)
    if isinstance(value, dict):
        return {k: _substitute(v, variables, environ, (*path, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, variables, environ, (*path, i), problems) for i, v in enumerate(value)]
    return value


def parse_vars(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``NAME=value`` pairs (``--var``); a ValueError names a malformed one."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"--var {item!r}: expected NAME=value")
        out[name] = value
    return out


def load(
    file: str | os.PathLike[str],
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Loaded:
    """Read, merge, substitute and check a job file; raises :class:`JobFileError`."""
    path = Path(file)
    shown = str(file)
    files: list[str] = []
    data, positions = _expand(path, shown, (), files)
    return _finish(data, positions, shown, files, variables, environ)


def load_text(text: str, name: str = "<job>", variables: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None) -> Loaded:
    """As :func:`load`, for a job given as text (no ``include``)."""
    data, positions = _parse(text, name)
    if "include" in data:
        raise JobFileError([f"{where(positions, ('include',), name)}: include: only a job file can include others"])
    return _finish(data, positions, name, [name], variables, environ)


def _finish(
    data: dict[str, Any],
    positions: dict[PathKey, Where],
    shown: str,
    files: list[str],
    variables: Mapping[str, str] | None,
    environ: Mapping[str, str] | None,
) -> Loaded:
    from .graph import check

    defaults = data.pop("vars", None) or {}
    if not isinstance(defaults, dict):
        raise JobFileError([f"{where(positions, ('vars',), shown)}: vars: a mapping of NAME: value"])
    names = {str(k): ("" if v is None else (v if isinstance(v, str) else json.dumps(v))) for k, v in defaults.items()}
    names.update(variables or {})
    problems: list[tuple[PathKey, str]] = []
    data = _substitute(data, names, os.environ if environ is None else environ, (), problems)
    if problems:
        raise JobFileError([f"{where(positions, p, shown)}: {dotted(p)}: {message}" for p, message in problems])
    tasks = data.get("tasks")
    named = []
    for name in tasks if isinstance(tasks, dict) else ():
        try:
            JobSpec.check_task_name(str(name))
        except ValueError as exc:
            named.append(f"{where(positions, ('tasks', name), shown)}: tasks.{name}: {exc}")
    if named:
        raise JobFileError(named)
    try:
        spec = JobSpec.model_validate(data)
    except ValidationError as exc:
        out = []
        for error in exc.errors(include_url=False):
            loc = tuple(part for part in error["loc"] if part != WHOLE)  # a single-source input has no key
            message = str(error["msg"]).removeprefix("Value error, ")
            out.append(f"{where(positions, loc, shown)}: {dotted(loc)}: {message}")
        raise JobFileError(out) from None
    loaded = Loaded(spec, shown, positions, files)
    check(loaded)
    return loaded
