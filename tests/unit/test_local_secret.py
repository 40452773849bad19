"""`make run`'s JWT secret: random on first start, private, reused; never a constant."""

from __future__ import annotations

import stat
from pathlib import Path

from infra.auth import check_secret
from k1.local_secret import local_jwt_secret, read_local_jwt_secret
from k1.stack import Stack


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generated_on_first_start_kept_0600_and_reused(tmp_path):
    assert read_local_jwt_secret(tmp_path) is None
    first = local_jwt_secret(tmp_path)
    path = tmp_path / "jwt-secret"
    assert _mode(path) == 0o600
    check_secret(first, dev_mode=False)  # strong enough for production, not only for dev
    assert local_jwt_secret(tmp_path) == first == read_local_jwt_secret(tmp_path)
    assert local_jwt_secret(tmp_path / "elsewhere") != first


def test_a_loosened_file_is_tightened_and_an_empty_one_replaced(tmp_path):
    secret = local_jwt_secret(tmp_path)
    path = tmp_path / "jwt-secret"
    path.chmod(0o644)
    assert read_local_jwt_secret(tmp_path) == secret and _mode(path) == 0o600
    path.write_text("")
    fresh = local_jwt_secret(tmp_path)
    assert fresh and fresh != secret and _mode(path) == 0o600


def test_stacks_get_their_own_random_secret_and_run_in_explicit_dev_mode(tmp_path):
    a, b = Stack(var_dir=tmp_path / "a"), Stack(var_dir=tmp_path / "b")
    assert a.jwt_secret != b.jwt_secret
    check_secret(a.jwt_secret, dev_mode=False)
    a.nx = type("Nx", (), {"url": "mongodb://127.0.0.1:1/"})()
    env = a.env("gateway")
    assert env["K1_DEV_MODE"] == "true" and env["K1_JWT_SECRET"] == a.jwt_secret
