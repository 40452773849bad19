"""The gateway's controllers parse and authorize, then call a use case
(``services.gateway.usecases``): none writes a document or an object or publishes an event
itself, and none imports another controller (what they share is ``controllers.common``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CONTROLLERS = Path(__file__).resolve().parents[3] / "services" / "gateway" / "controllers"
SHARED = "services.gateway.controllers.common"
WRITES = {
    "publish",
    "put_bytes",
    "put_stream",
    "delete",
    "delete_prefix",
    "create_track",
    "delete_track",
    "transition",
    "record_progress",
    "start_reanalysis",
    "open_candidate",
    "promote_candidate",
    "drop_candidate",
    "add",
    "update",
}
"""Port methods that change the pipeline's state (reads are fine in a controller)."""


def _modules() -> list[Path]:
    return sorted(p for p in CONTROLLERS.glob("*.py") if p.name != "__init__.py")


def _through_ports(node: ast.Attribute) -> bool:
    """``ports.<...>.<method>`` (the ports a controller is given)."""
    value = node.value
    while isinstance(value, ast.Attribute):
        value = value.value
    return isinstance(value, ast.Name) and value.id == "ports"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_a_controller_imports_no_other_controller(path):
    tree = ast.parse(path.read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    others = {m for m in imported if m.startswith("services.gateway.controllers") and m != SHARED}
    assert not others, f"{path.name} imports {sorted(others)}; share through {SHARED}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_a_controller_leaves_pipeline_writes_to_a_use_case(path):
    tree = ast.parse(path.read_text())
    writes = [
        f"line {n.lineno}: ports...{n.attr}()"
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and n.attr in WRITES and _through_ports(n)
    ]
    assert not writes, f"{path.name} writes itself: {writes}"
