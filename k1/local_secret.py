"""The JWT secret of the stack ``make run`` starts: random, made on first start, kept in
``var/jwt-secret`` (mode 0600) and reused, so tokens and signed links outlive a restart.
Nothing in the code is a secret anyone else knows."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE_NAME = "jwt-secret"
SECRET_BYTES = 48


def local_jwt_secret(var_dir: Path) -> str:
    """The secret in ``var_dir/jwt-secret``, generated there first if it is missing or empty."""
    path = Path(var_dir) / FILE_NAME
    existing = read_local_jwt_secret(var_dir)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    tmp = path.with_name(f".{FILE_NAME}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    os.replace(tmp, path)
    return secret


def read_local_jwt_secret(var_dir: Path) -> str | None:
    """The secret an earlier ``make run`` made, or None; tightens the file to 0600 if needed."""
    path = Path(var_dir) / FILE_NAME
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        return None
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return secret or None
