"""Schema checks: every document against a published schema, never a hand-written one.

* docker-compose.yml: the Compose Specification JSON schema that ``check-jsonschema`` (PyPI)
  vendors from the compose-spec project (Apache-2.0).
* Kubernetes objects: the OpenAPI-derived JSON schemas ``kubernetes-validate`` (PyPI) ships per
  release, in strict mode (unknown fields are errors), for the oldest supported and the newest
  shipped Kubernetes version.
* KEDA objects (``keda.sh/v1alpha1``): the KEDA CRD schemas of ``@kubernetes-models/keda`` (npm),
  generated from the CustomResourceDefinitions in KEDA's own release manifest; run with node
  from ``keda/`` (``npm ci`` there on first use, from its package-lock.json). Those generated
  validators check types, enums and required fields but not unknown fields (the CRDs do not
  forbid them; the API server prunes or, with strict field validation, rejects them), and the
  newest KEDA release packaged that way is 2.10.1, so fields added later are not checked. The
  ScaledObject's ``advanced.horizontalPodAutoscalerConfig.behavior`` is checked once more
  against the real autoscaling/v2 schema.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.resources
import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .common import MissingDependency, error_text, require

MIN_K8S_VERSION = "1.30"
"""Oldest Kubernetes release the manifests must be valid for."""
KEDA_DIR = Path(__file__).resolve().parent / "keda"
KEDA_GROUP = "keda.sh/v1alpha1"


# ---------------------------------------------------------------------------------- compose
@functools.lru_cache(maxsize=1)
def compose_schema() -> tuple[dict[str, Any], str]:
    """The Compose Specification schema shipped by check-jsonschema, and where it came from."""
    require("check_jsonschema", "check-jsonschema")
    res = (
        importlib.resources.files("check_jsonschema")
        / "builtin_schemas"
        / "vendor"
        / "compose-spec.json"
    )
    version = importlib.metadata.version("check-jsonschema")
    return json.loads(
        res.read_text(encoding="utf-8")
    ), f"compose-spec schema from check-jsonschema {version}"


def compose_validator() -> Any:
    jsonschema = require("jsonschema", "jsonschema")
    from referencing import Registry

    return jsonschema.Draft202012Validator(compose_schema()[0], registry=Registry())  # no remote


# ------------------------------------------------------------------------------- kubernetes
def _kubernetes_validate() -> Any:
    """kubernetes_validate, with its schema-file reader memoised: it re-reads the multi-megabyte
    _definitions.json for every document otherwise (the files never change during a run)."""
    kv = require("kubernetes_validate", "kubernetes-validate")
    reader = getattr(kv.utils, "schema_contents", None)
    if reader is not None and not hasattr(reader, "cache_info"):
        kv.utils.schema_contents = functools.lru_cache(maxsize=512)(reader)
    return kv


def k8s_versions() -> list[str]:
    kv = _kubernetes_validate()
    latest = ".".join(kv.utils.latest_version().split(".")[:2])
    return [MIN_K8S_VERSION] if latest == MIN_K8S_VERSION else [MIN_K8S_VERSION, latest]


def validate_k8s_document(doc: Any, versions: list[str] | None = None) -> tuple[bool, str]:
    """Validate one manifest: (ok, message)."""
    return validate_k8s_documents([doc], versions)[0]


def validate_k8s_documents(
    docs: list[Any], versions: list[str] | None = None
) -> list[tuple[bool, str]]:
    """Validate manifests (KEDA ones in one node call): (ok, message) for each, in order."""
    versions = versions or k8s_versions()
    out: list[tuple[bool, str] | None] = [None] * len(docs)
    keda = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            out[i] = (False, "not a Kubernetes object (apiVersion and kind are required)")
        elif doc["apiVersion"] == KEDA_GROUP:
            keda.append(i)
        else:
            out[i] = _validate_builtin(doc, versions)
    if keda:
        for i, (ok, message) in zip(keda, validate_keda([docs[i] for i in keda]), strict=True):
            extra = _keda_extra(docs[i], versions)
            out[i] = (ok and not extra, "; ".join([message, *extra]) if extra else message)
    return [r if r is not None else (False, "not checked") for r in out]


def _validate_builtin(doc: Mapping[str, Any], versions: list[str]) -> tuple[bool, str]:
    kv = _kubernetes_validate()
    checked = []
    for version in versions:
        try:
            kv.validate(doc, version, strict=True)
        except kv.utils.SchemaNotFoundError as exc:
            return False, exc.message
        except kv.ValidationError as exc:
            return False, f"kubernetes {version} (strict): {error_text(exc)}"
        checked.append(version)
    return (
        True,
        f"kubernetes {', '.join(checked)} (strict) from kubernetes-validate "
        f"{importlib.metadata.version('kubernetes-validate')}",
    )


# --------------------------------------------------------------------------------------- KEDA
def _node() -> str:
    node = shutil.which("node")
    if not node:
        raise MissingDependency(
            "node is not installed: the KEDA CRD schemas run on Node.js (>= 18); install it "
            "(Debian: apt-get install nodejs npm) and rerun"
        )
    return node


@functools.lru_cache(maxsize=1)
def _keda_ready() -> str:
    """node, after installing keda/node_modules from its lock file if it is missing."""
    node = _node()
    if not (KEDA_DIR / "node_modules" / "@kubernetes-models" / "keda").is_dir():
        npm = shutil.which("npm")
        if not npm:
            raise MissingDependency("npm is not installed; it installs the KEDA CRD schemas")
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=KEDA_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0:
            raise MissingDependency(
                f"`npm ci` in {KEDA_DIR} failed (the KEDA CRD schemas come from the npm "
                f"registry): {proc.stderr.strip()[-1000:]}"
            )
    return node


def validate_keda(docs: list[Any]) -> list[tuple[bool, str]]:
    proc = subprocess.run(
        [_keda_ready(), str(KEDA_DIR / "validate.cjs")],
        input=json.dumps(docs),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"KEDA schema check failed: {proc.stderr.strip()[-2000:]}")
    return [(bool(ok), str(message)) for ok, message in json.loads(proc.stdout)]


def _keda_extra(doc: Mapping[str, Any], versions: list[str]) -> list[str]:
    """What the CRD schema leaves to the operator: replica bounds in order, and the HPA
    behavior against the real autoscaling/v2 schema."""
    problems: list[str] = []
    spec = doc.get("spec") or {}
    if doc.get("kind") != "ScaledObject":
        return problems
    lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        problems.append(f"minReplicaCount {lo} > maxReplicaCount {hi}")
    behavior = ((spec.get("advanced") or {}).get("horizontalPodAutoscalerConfig") or {}).get(
        "behavior"
    )
    if behavior is not None:
        hpa = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "keda-behavior-check"},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "x"},
                "maxReplicas": 1,
                "behavior": behavior,
            },
        }
        ok, message = _validate_builtin(hpa, versions)
        if not ok:
            problems.append(f"advanced.horizontalPodAutoscalerConfig.behavior: {message}")
    return problems
