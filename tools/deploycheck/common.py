"""What every check shares: the repository's paths, a check's result, small YAML helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
K8S_DIR = ROOT / "deploy" / "k8s"
SERVICES = ("ingest", "analyzer", "validator", "deployer", "telemetry", "gateway")


class MissingDependency(RuntimeError):
    """A validator (Python package, kubectl, node) is not installed."""


@dataclass(frozen=True)
class Result:
    target: str
    """File or kustomization the document comes from."""
    document: str
    """What was checked inside it (``apps/v1 Deployment k1/k1-gateway``, ``compose-spec``)."""
    ok: bool
    message: str

    def line(self) -> str:
        return f"{'OK  ' if self.ok else 'FAIL'} {self.target} :: {self.document} — {self.message}"


def summary(target: str, document: str, problems: list[str], ok_message: str) -> Result:
    return Result(
        target, document, not problems, ok_message if not problems else "; ".join(problems)
    )


def require(module: str, dist: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependency(
            f"{dist} is not installed; install the deploy validators with "
            f"`pip install -e '.[deploy]'` (or `make validate-deploy`)"
        ) from exc


def rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def load_yaml_docs(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def error_text(err: Any) -> str:
    where = "/".join(str(p) for p in err.absolute_path) or "<root>"
    return f"at {where}: {err.message}"


def run_check(check: Callable[..., list[str]], *args: Any) -> list[str]:
    """A check's problems; a check that trips over an unexpected shape is a problem too."""
    try:
        return check(*args)
    except MissingDependency:
        raise
    except Exception as exc:
        return [f"{check.__name__} could not read the file: {type(exc).__name__}: {exc}"]


def containers(res: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Every container (init containers too) of a workload, Pod or CronJob."""
    spec = res.get("spec") or {}
    if res.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    pod = spec if res.get("kind") == "Pod" else ((spec.get("template") or {}).get("spec") or {})
    for key in ("initContainers", "containers"):
        yield from pod.get(key) or []


def doc_id(doc: Any) -> str:
    if not isinstance(doc, dict):
        return "?"
    meta = doc.get("metadata") or {}
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{doc.get('apiVersion')} {doc.get('kind')} {ns}{meta.get('name')}"
