"""The hash-pinned locks in requirements/ match pyproject.toml, and each role gets only its own
dependencies. A lock that drifts from pyproject.toml fails here with the command that fixes it
(`make lock`); nothing here needs the network."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools import lock

ROOT = Path(__file__).resolve().parents[2]
TOOLS_ONLY = {"librosa", "numba", "llvmlite", "scikit-learn", "pretty-midi", "pyfluidsynth"}
ANALYSIS = {"scipy", "soxr", "mir-eval", "matplotlib"}
TEST_TOOLS = {"pytest", "moto", "schemathesis", "hypothesis", "ruff", "mypy", "nx-27017"}


def _names(role: str) -> set[str]:
    return {pin.name for pin in lock.parse_lock(lock.lock_path(role))}


def test_locks_match_pyproject() -> None:
    problems = lock.check()
    assert not problems, "\n".join(problems)


def test_every_pin_is_exact_and_hashed() -> None:
    for role in lock.ROLES:
        pins = lock.parse_lock(lock.lock_path(role))
        assert pins and all(pin.hashes >= 1 for pin in pins), role


def test_each_role_gets_only_what_it_runs() -> None:
    service, analysis, dev = _names("service"), _names("analysis"), _names("dev")
    assert not service & (TOOLS_ONLY | ANALYSIS | TEST_TOOLS), service & (TOOLS_ONLY | ANALYSIS)
    assert analysis >= ANALYSIS and not analysis & (TOOLS_ONLY | TEST_TOOLS)
    assert service <= analysis <= dev
    assert TOOLS_ONLY | ANALYSIS | {"pytest", "kubernetes-validate"} <= dev


def test_images_and_venv_install_from_the_locks() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for role in ("service", "analysis"):
        assert f"--require-hashes --wheel-dir /wheels/{role} -r requirements/{role}.lock" in (
            dockerfile
        )
    assert "FROM runtime-analysis AS analyzer" in dockerfile
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install --require-hashes --no-deps -r requirements/dev.lock" in makefile
    assert "pip install --no-deps -e ." in makefile


@pytest.mark.parametrize(
    "edit, expected",
    [
        (
            lambda t: t.replace('"pyjwt>=2.8,<3",', '"pyjwt>=2.8,<3",\n    "left-pad-k1>=1",'),
            "does not pin left-pad-k1",
        ),
        (lambda t: t.replace('"pyjwt>=2.8,<3"', '"pyjwt>=99"'), "pyproject wants pyjwt>=99"),
    ],
    ids=["new-dependency", "narrowed-range"],
)
def test_drift_fails_with_the_fix(tmp_path: Path, monkeypatch, edit, expected) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(edit((ROOT / "pyproject.toml").read_text()))
    monkeypatch.setattr(lock, "PYPROJECT", pyproject)
    problems = lock.check()
    assert any("input digest" in p and "make lock" in p for p in problems), problems
    assert any(expected in p for p in problems), problems


def test_a_hand_edited_lock_fails(tmp_path: Path, monkeypatch) -> None:
    shutil.copytree(lock.LOCK_DIR, tmp_path / "requirements")
    monkeypatch.setattr(lock, "LOCK_DIR", tmp_path / "requirements")
    monkeypatch.setattr(lock, "ROOT", tmp_path)
    service = tmp_path / "requirements" / "service.lock"
    pins = {p.name: p.version for p in lock.parse_lock(service)}
    text = service.read_text().replace(f"pymongo=={pins['pymongo']}", "pymongo==4.10.0")
    service.write_text(text)
    problems = lock.check()
    assert any("service.lock pins pymongo==4.10.0 but dev.lock has" in p for p in problems)
