"""Kustomize rendering with ``kubectl kustomize`` (kustomize is built into kubectl >= 1.14).

There is no fallback renderer: a re-implementation of kustomize would be a second thing to trust.
Without kubectl the run stops with a message that says how to get one.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from .common import K8S_DIR, MissingDependency

KUBECTL_HELP = (
    "kubectl is not on PATH; the Kubernetes manifests are rendered with `kubectl kustomize`. "
    "This machine kind ships it (/usr/bin/kubectl); elsewhere install kubectl >= 1.27 "
    "(https://kubernetes.io/docs/tasks/tools/) and rerun"
)


@functools.lru_cache(maxsize=1)
def kubectl() -> str:
    exe = shutil.which("kubectl")
    if not exe:
        raise MissingDependency(KUBECTL_HELP)
    try:
        proc = subprocess.run([exe, "kustomize", "--help"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingDependency(f"{exe} does not run: {exc}; {KUBECTL_HELP}") from exc
    if proc.returncode != 0:
        raise MissingDependency(f"{exe} has no `kustomize` subcommand; {KUBECTL_HELP}")
    return exe


def render(directory: Path) -> list[dict[str, Any]]:
    """The documents ``kubectl kustomize <directory>`` renders (RuntimeError if it refuses)."""
    proc = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} failed: {proc.stderr.strip()[:2000]}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d is not None]


def kustomizations() -> list[Path]:
    """The base and every overlay."""
    overlays = sorted(p for p in (K8S_DIR / "overlays").glob("*") if p.is_dir())
    return [K8S_DIR / "base", *overlays]
