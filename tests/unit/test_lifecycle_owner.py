"""Every event id and object key is built by ``contracts.lifecycle``, nowhere else.

Two services that format the same id or key on their own drift apart one day, and then a
re-announced event is not deduplicated or a stored object is not found. This scans the source
(AST, not text) for strings that build ids or keys and fails on any outside the lifecycle."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("services", "infra", "k1", "contracts")
OWNER = ROOT / "contracts" / "lifecycle.py"
KEY_PREFIX = re.compile(r"^(audio|incoming|analyses|maps|bundles)/")
STATIC_KEY = re.compile(r"^(incoming|analyses|maps|bundles)/")  # "audio/..." are media types
VERSIONED = re.compile(r"\.v\{\}|/v\{\}")
"""``<track>.v<n>...`` ids and ``.../v<n>/...`` keys."""
ID_KEYWORDS = {"event_id", "task_id"}
ID_HELPER = re.compile(r"_id$")
DOTTED = re.compile(r"\{\}\.\{\}")
"""An id helper joining values with dots builds an event id (keys are caught by their shape)."""


def _template(node: ast.AST) -> str | None:
    """The literal shape of a string being built (``{}`` for each value), or None."""
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
            for v in node.values
        )
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
    ):
        return re.sub(r"\{[^}]*\}", "{}", node.func.value.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        left, right = _template(node.left), _template(node.right)
        if isinstance(node.op, ast.Mod) and left is not None:
            return re.sub(r"%[sdr]", "{}", left)
        if left is not None or right is not None:
            return (left or "{}") + (right or "{}")
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _builds_string(node: ast.AST) -> bool:
    """A string put together at run time (not a literal, not a call of a builder)."""
    if isinstance(node, ast.Constant):
        return False
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "join" or _template(node) is not None
    return _template(node) is not None


def _dotted(node: ast.AST) -> bool:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        joiner = node.func.value
        if node.func.attr == "join" and isinstance(joiner, ast.Constant) and joiner.value == ".":
            return True
    shape = _template(node) if not isinstance(node, ast.Constant) else None
    return bool(shape and DOTTED.search(shape))


def findings(source: str) -> list[str]:
    """What in ``source`` builds an event id or an object key by hand."""
    tree = ast.parse(source)
    docstrings = {
        id(n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
    }
    out: list[str] = []
    for node in ast.walk(tree):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.keyword) and node.arg in ID_KEYWORDS:
            if _builds_string(node.value):
                out.append(f"{where}: {node.arg}= built by hand")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if ID_HELPER.search(node.name) and any(_dotted(n) for n in ast.walk(node)):
                out.append(f"{where}: {node.name}() builds an event id")
        elif isinstance(node, ast.Constant) and id(node) not in docstrings:
            if isinstance(node.value, str) and STATIC_KEY.match(node.value):
                out.append(f"{where}: object key {node.value!r}")
        elif isinstance(node, ast.JoinedStr | ast.BinOp | ast.Call):
            shape = _template(node)
            if shape and "{}" in shape and (KEY_PREFIX.match(shape) or VERSIONED.search(shape)):
                out.append(f"{where}: {shape!r}")
    return out


@pytest.mark.parametrize(
    "snippet",
    [
        'x = f"{track_id}.v{version}.map"',
        'key = f"maps/{track_id}/v{version}/map.json"',
        'key = "audio/{}.{}".format(sha, fmt)',
        'key = "bundles/" + track_id + "/v%d/bundle.k1b" % n',
        'Msg(event_id=f"{deployment_id}.requested")',
        'Msg(event_id=".".join(parts))',
        'Msg(task_id=track + ".v" + str(n))',
        'NO_BUNDLE = "bundles/none"',
        'def _event_id(*parts):\n    text = ".".join(str(p) for p in parts)\n    return text',
        'def _alert_id(d, s):\n    return f"alert.{d}.{s}"',
        'def upload_key(u):\n    return f"incoming/{u}"',
    ],
)
def test_the_scan_finds_ids_and_keys_built_by_hand(snippet):
    assert findings(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        'Msg(event_id=event_id(track_id, version, "map"))',
        'media = "audio/wav"',
        'url = f"{API}/tracks/{track_id}/genesis-map"',
        'def f():\n    """maps/<track>/v<n>/map.json is the key."""',
        'log.info("v%d", n)',
        'def new_gateway_id():\n    return f"gw-{uuid.uuid4().hex[:12]}"',
    ],
)
def test_the_scan_leaves_other_strings_alone(snippet):
    assert not findings(snippet), snippet


def test_no_event_id_or_object_key_is_built_outside_the_lifecycle_module():
    found = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == OWNER or ".venv" in path.parts:
                continue
            found += [f"{path.relative_to(ROOT)} {f}" for f in findings(path.read_text())]
    assert not found, "build these with contracts.lifecycle:\n" + "\n".join(found)
