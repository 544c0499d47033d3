"""Redis behind the store, checked on the source with ``ast``.

* no module of ``backends`` but ``backends/local/store.py`` imports redis (claim.lua is loaded by it);
* no module of ``backends`` but ``backends/local/keys.py`` builds a key: no string literal
  (docstrings aside) starts with the key prefix ``swf:``, and no other module uses ``PREFIX``
  (``backends/http/auth.py`` aside: IAM's action names, ``swf:<Operation>``, share the prefix).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STORE = "backends/local/store.py"
KEYS = "backends/local/keys.py"
IAM = "backends/http/auth.py"
KEY_PREFIX = "swf:"


def imports_redis(source: str) -> list[str]:
    """The redis modules a source imports, wherever in it (under TYPE_CHECKING too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "redis"]
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "redis":
            found.append(node.module or "")
    return found


def key_literals(source: str) -> list[str]:
    """String literals and f-strings that start like a key, and every use of ``PREFIX``."""
    tree = ast.parse(source)
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docstrings:
            value = node.value
            if isinstance(value, str) and value.startswith(KEY_PREFIX):
                found.append(value)
            elif isinstance(value, bytes) and value.startswith(KEY_PREFIX.encode()):
                found.append(repr(value))
        elif isinstance(node, ast.JoinedStr) and node.values:
            head = node.values[0]
            if isinstance(head, ast.Constant) and isinstance(head.value, str) and head.value.startswith(KEY_PREFIX):
                found.append(ast.unparse(node))
        elif isinstance(node, ast.Name) and node.id == "PREFIX":
            found.append("PREFIX")
        elif isinstance(node, ast.Attribute) and node.attr == "PREFIX":
            found.append(ast.unparse(node))
        elif isinstance(node, ast.ImportFrom) and any(alias.name == "PREFIX" for alias in node.names):
            found.append(f"import of PREFIX from {'.' * node.level}{node.module}")
    return found


def sources(folder: str) -> list[tuple[str, str]]:
    return [(p.relative_to(ROOT).as_posix(), p.read_text()) for p in sorted((ROOT / folder).rglob("*.py"))]


def test_only_the_store_imports_redis() -> None:
    offenders = {rel: found for rel, text in sources("backends") if rel != STORE and (found := imports_redis(text))}
    assert offenders == {}
    assert imports_redis((ROOT / STORE).read_text()) == ["redis"]


def test_only_keys_builds_keys() -> None:
    offenders = {
        rel: found for rel, text in sources("backends") if rel not in (KEYS, IAM) and (found := key_literals(text))
    }
    assert offenders == {}


def test_the_checks_see_what_they_look_for() -> None:
    assert imports_redis("import redis\nimport redis.client as c\nfrom redis.exceptions import WatchError\nfrom . import redis") == [
        "redis",
        "redis.client",
        "redis.exceptions",
    ]
    source = '''
"""A docstring may say swf:{T}:run:<runId>."""
from .keys import PREFIX
A = "swf:x"
B = f"swf:{A}:y"
C = f"{PREFIX}:z"
D = b"swf:w"
def f() -> str:
    """swf: here too is prose."""
    return "arn:aws:swf:us-east-1"
'''
    found = key_literals(source)
    assert {"import of PREFIX from .keys", "swf:x", "f'swf:{A}:y'", "PREFIX", "b'swf:w'"} <= set(found)
    assert not [f for f in found if "prose" in f or "docstring" in f or "arn:" in f]
