"""``k1`` finds the running stack from any directory: flags, environment, this checkout's
``var/run.json``, then the copy ``make run`` publishes in the per-user state folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from k1 import stack as stack_module
from k1.client import find_target
from k1.stack import Stack, run_json_paths, user_state_dir


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A checkout and a state folder of their own; run from an unrelated directory."""
    checkout, state, elsewhere = tmp_path / "checkout", tmp_path / "state", tmp_path / "elsewhere"
    for folder in (checkout, state, elsewhere):
        folder.mkdir()
    monkeypatch.setattr(stack_module, "ROOT", checkout)
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.delenv("K1_API_URL", raising=False)
    monkeypatch.delenv("K1_TOKEN", raising=False)
    monkeypatch.chdir(elsewhere)
    return checkout / "var" / "run.json", state / "k1" / "run.json"


def _write(path: Path, url: str, pids: dict | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {"gateway_url": url, "admin_token": f"token-of-{url}"}
    path.write_text(json.dumps({**info, "pids": pids or {"gateway": os.getpid()}}))


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def test_the_state_folder_is_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert user_state_dir() == tmp_path / "xdg" / "k1"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_state_dir() == tmp_path / "home" / ".local" / "state" / "k1"


def test_the_published_copy_is_found_from_any_directory(places):
    checkout_json, user_json = places
    assert run_json_paths() == (checkout_json, user_json)
    _write(user_json, "http://127.0.0.1:9001")
    target = find_target()
    assert target.api_url == "http://127.0.0.1:9001"
    assert target.token == "token-of-http://127.0.0.1:9001"


def test_the_checkout_comes_first_and_a_dead_stack_is_skipped(places):
    checkout_json, user_json = places
    _write(checkout_json, "http://checkout")
    _write(user_json, "http://published")
    assert find_target().api_url == "http://checkout"
    _write(checkout_json, "http://checkout", pids={"gateway": _dead_pid()})
    assert find_target().api_url == "http://published"


def test_flags_then_environment_win(places, monkeypatch):
    _, user_json = places
    _write(user_json, "http://published")
    monkeypatch.setenv("K1_API_URL", "http://env/")
    assert find_target().api_url == "http://env"
    assert find_target(url="http://flag", token="t").api_url == "http://flag"


def test_an_explicit_run_json_is_the_only_place_looked(places, tmp_path):
    _, user_json = places
    _write(user_json, "http://published")
    with pytest.raises(LookupError) as info:
        find_target(tmp_path / "missing.json")
    assert "make run" in str(info.value) and "missing.json" in str(info.value)


def test_without_a_stack_the_error_names_where_it_looked(places):
    checkout_json, user_json = places
    with pytest.raises(LookupError) as info:
        find_target()
    message = str(info.value)
    assert str(checkout_json) in message and str(user_json) in message and "make run" in message


class _FakeNx:
    url = "mongodb://127.0.0.1:1/"

    def stop(self) -> None:
        pass


def test_make_run_publishes_its_address_and_takes_it_back(places, tmp_path):
    checkout_json, user_json = places
    stack = Stack(var_dir=tmp_path / "var", log=lambda line: None, services=())
    stack.nx = _FakeNx()  # type: ignore[assignment]
    stack.write_run_json(checkout_json, publish=True)
    assert json.loads(user_json.read_text()) == json.loads(checkout_json.read_text())
    assert user_json.stat().st_mode & 0o777 == 0o600
    assert find_target().token == json.loads(user_json.read_text())["admin_token"]
    stack.stop()
    assert not user_json.exists()


def test_stopping_leaves_a_newer_stacks_address_alone(places, tmp_path):
    _, user_json = places
    stack = Stack(var_dir=tmp_path / "var", log=lambda line: None, services=())
    stack.nx = _FakeNx()  # type: ignore[assignment]
    stack.write_run_json(tmp_path / "run.json", publish=True)
    _write(user_json, "http://newer")
    stack.stop()
    assert json.loads(user_json.read_text())["gateway_url"] == "http://newer"
