#!/usr/bin/env python3
"""Offline validation of the deployment files: docker-compose.yml and the Kubernetes manifests.

Nothing here touches the network or a Docker engine. The schemas come from packages installed
from PyPI (the ``deploy`` extra of pyproject.toml):

* ``check-jsonschema`` ships the Compose Specification JSON schema (vendored from the
  compose-spec project, Apache-2.0) as
  ``check_jsonschema/builtin_schemas/vendor/compose-spec.json``.
  docker-compose.yml is interpolated the way Compose does it (``${VAR:-default}`` with an empty
  environment, so the defaults are what gets checked; a variable the file requires,
  ``${VAR:?why}``, gets a stand-in value) and validated against it, plus a few
  consistency checks the schema cannot express (``depends_on`` targets exist and have a
  healthcheck when ``service_healthy`` is asked for, named volumes are declared).
* ``kubernetes-validate`` ships the Kubernetes OpenAPI-derived JSON schemas for each release
  (``kubernetes_validate/kubernetes-json-schema/v1.NN.0-local-strict``). Every rendered manifest
  is validated in strict mode (unknown fields are errors) against the oldest supported and the
  newest shipped Kubernetes version.
* KEDA's CRDs (ScaledObject, TriggerAuthentication) have no schema in those packages: they are
  checked against small hand-written schemas in ``tools/schemas/`` that cover the fields we use
  (their ``advanced.horizontalPodAutoscalerConfig.behavior`` is checked against the real
  autoscaling/v2 schema).

* The service contract (``ENDPOINTS``: which port each service listens on, which setting moves
  it, which liveness/readiness paths it serves) is checked in the Dockerfile (EXPOSE,
  HEALTHCHECK, ENV), in docker-compose.yml (healthchecks, published ports, bind addresses,
  K1_INGEST_URL, K1_PUBLIC_URL, MinIO's published S3 port) and in every rendered manifest
  (containerPorts, probes, scrape annotations, Service target ports, service links,
  K1_INGEST_URL, K1_PUBLIC_URL vs the Ingress host, the NetworkPolicies for gateway -> ingest and
  the metrics scrape). Every ``K1_*`` name must be a field of the settings classes in
  ``SETTINGS_SOURCES``, and secret settings may only come from a Secret / .env interpolation.

Kustomize: each of ``deploy/k8s/base`` and ``deploy/k8s/overlays/*`` is rendered with
``kubectl kustomize`` when a kubectl binary is on PATH, otherwise with the small built-in
renderer below, which implements exactly the kustomization subset this repository uses
(resources, namespace, images, replicas, secretGenerator with a fixed name, strategic-merge and
JSON 6902 patches, ``$patch: delete``) and refuses any other field. The unit test checks that
both renderers agree whenever kubectl is present.

    python tools/validate_deploy.py                 # everything, exit 1 on any invalid document
    python tools/validate_deploy.py --renderer builtin
"""

from __future__ import annotations

import argparse
import base64
import copy
import functools
import importlib.metadata
import importlib.resources
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
K8S_DIR = ROOT / "deploy" / "k8s"
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
MIN_K8S_VERSION = "1.30"
"""Oldest Kubernetes release the manifests must be valid for."""
SERVICES = ("ingest", "analyzer", "validator", "deployer", "telemetry", "gateway")


@dataclass(frozen=True)
class Endpoint:
    """What one service serves: the port (and the setting that moves it), the bind-address
    setting, and its liveness/readiness paths. /metrics is served on the same port."""

    port: int
    port_setting: str
    host_setting: str
    live: str
    ready: str
    public: bool = False
    """Reached from outside (published in compose, behind the Ingress); others are internal."""


_WORKER = Endpoint(9100, "K1_HEALTH_PORT", "K1_HEALTH_HOST", "/healthz", "/readyz")
ENDPOINTS: dict[str, Endpoint] = {
    "gateway": Endpoint(8000, "K1_GATEWAY_PORT", "K1_HTTP_HOST", "/health", "/ready", public=True),
    "ingest": Endpoint(8001, "K1_INGEST_PORT", "K1_HTTP_HOST", "/health", "/ready"),
    "analyzer": _WORKER,
    "validator": _WORKER,
    "deployer": _WORKER,
    "telemetry": _WORKER,
}
"""The contract every deployment file is checked against (see the Dockerfile header). The unit
test pins this table and checks it against the code (routes, Settings defaults)."""
METRICS_PATH = "/metrics"
LISTEN_ALL = "0.0.0.0"
"""Inside a container every endpoint must listen on all interfaces (the defaults are 127.0.0.1)."""
INGEST_CALLERS = ("gateway",)
"""The only services that call ingest's internal HTTP API (at K1_INGEST_URL)."""
MONITORING_NAMESPACE = "monitoring"
"""Where Prometheus scrapes from (deploy/k8s/README.md)."""

SETTINGS_SOURCES = (
    ("infra/settings.py", "Settings"),
    ("services/gateway/devices/config.py", "DeviceSettings"),
    ("services/telemetry/config.py", "TelemetrySettings"),
    ("services/deployer/config.py", "DeployerSettings"),
    ("infra/upload_settings.py", "UploadSettings"),
)
"""Every pydantic-settings class that reads ``K1_*`` variables (file, class). The unit test
fails when a new one appears in the code without being listed here."""


@dataclass(frozen=True)
class Setting:
    env: str
    default: Any
    secret: bool
    """A ``SecretStr``: only in a Secret (k8s) or from .env interpolation (compose)."""


@functools.lru_cache(maxsize=1)
def known_settings() -> dict[str, Setting]:
    """Every ``K1_*`` variable the services read, from the settings classes themselves (loaded by
    file path, so no service package and its dependencies are imported)."""
    import importlib.util

    from pydantic import SecretStr

    out: dict[str, Setting] = {}
    for i, (rel, cls_name) in enumerate(SETTINGS_SOURCES):
        mod_name = f"_k1_deploy_settings_{i}"
        spec = importlib.util.spec_from_file_location(mod_name, ROOT / rel)
        assert spec and spec.loader, rel
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
        cls = getattr(module, cls_name)
        prefix = cls.model_config.get("env_prefix", "")
        for field_name, field in cls.model_fields.items():
            default = field.get_default(call_default_factory=True)
            secret = isinstance(default, SecretStr) or field.annotation is SecretStr
            if isinstance(default, SecretStr):
                default = default.get_secret_value()
            env = f"{prefix}{field_name}".upper()
            out[env] = Setting(env, default, secret)
    return out


def setting_value(env: Mapping[str, Any], name: str) -> str:
    """The value a service sees: the environment's, else the setting's default, as a string."""
    if env.get(name) is not None:
        return str(env[name])
    default = known_settings()[name].default
    return json.dumps(default) if isinstance(default, list) else str(default)


def binding_problems(where: str, env: Mapping[str, Any], ep: Endpoint) -> list[str]:
    """A containerised service must listen on every interface at the contract's port."""
    problems = []
    if (host := setting_value(env, ep.host_setting)) != LISTEN_ALL:
        problems.append(
            f"{where} {ep.host_setting} is {host!r}, must be {LISTEN_ALL} in a container"
        )
    if (port := setting_value(env, ep.port_setting)) != str(ep.port):
        problems.append(f"{where} {ep.port_setting} is {port}, the service contract says {ep.port}")
    return problems


def unknown_k1_names(names: Iterable[str]) -> list[str]:
    known = known_settings()
    return sorted({n for n in names if n.upper().startswith("K1_") and n.upper() not in known})


_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost):(?P<port>\d+)(?P<path>/[^'\"\s,)]*)")


def _http_port(url: str) -> int | None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None


def _contract(check: Any, *args: Any) -> list[str]:
    """A contract check's problems; a check that trips over an unexpected shape is a problem too."""
    try:
        return check(*args)
    except Exception as exc:
        return [f"{check.__name__} could not read the file: {type(exc).__name__}: {exc}"]


CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda-scaledobject.schema.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda-triggerauthentication.schema.json",
}
"""Custom resources validated against hand-written schemas (fields we use, not the full CRD)."""

CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class MissingDependency(RuntimeError):
    """A validator package is not installed."""


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


def _require(module: str, dist: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependency(
            f"{dist} is not installed; install the deploy validators with "
            f"`pip install -e '.[deploy]'` (or `make validate-deploy`)"
        ) from exc


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _load_yaml_docs(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def _error_text(err: Any) -> str:
    where = "/".join(str(p) for p in err.absolute_path) or "<root>"
    return f"at {where}: {err.message}"


# ---------------------------------------------------------------------------------- compose
REQUIRED_SECRETS = frozenset({"K1_JWT_SECRET"})
"""Secrets that sign things: compose must take them from the environment, with no default."""
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)|(?P<invalid>))"
)


def interpolate(value: Any, env: Mapping[str, str], where: str = "") -> Any:
    """Compose variable interpolation (``$$``, ``$VAR``, ``${VAR}``, ``:-`` ``-`` ``:?`` ``?``
    ``:+`` ``+``) over every string value; keys are left alone, as Compose does."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, f"{where}/{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, f"{where}/{i}") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        if m.group("invalid") is not None and m.group("named") is None and not m.group("braced"):
            raise ValueError(f"at {where or '<root>'}: invalid interpolation in {value!r}")
        name = m.group("braced") or m.group("named")
        op, arg = m.group("op"), m.group("arg") or ""
        current = env.get(name)
        if op is None:
            return current or ""
        unset_or_empty = not current if op.startswith(":") else current is None
        if op.endswith("-"):
            return arg if unset_or_empty else current  # type: ignore[return-value]
        if op.endswith("?"):
            if unset_or_empty:
                raise ValueError(f"at {where}: required variable {name} is missing: {arg}")
            return current  # type: ignore[return-value]
        return "" if unset_or_empty else arg  # "+": alternative value

    return _INTERPOLATION.sub(sub, value)


def required_variables(value: Any) -> set[str]:
    """Variables the file requires from the environment (``${VAR:?why}`` or ``${VAR?why}``)."""
    if isinstance(value, dict):
        return set().union(*(required_variables(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(required_variables(v) for v in value))
    if not isinstance(value, str):
        return set()
    return {
        m.group("braced")
        for m in _INTERPOLATION.finditer(value)
        if (m.group("op") or "").endswith("?")
    }


def stand_ins(raw: Any) -> dict[str, str]:
    """An environment that sets every required variable, so the file can be checked offline."""
    return {name: f"validate-deploy-stand-in-for-{name}" for name in required_variables(raw)}


def compose_schema() -> tuple[dict[str, Any], str]:
    """The Compose Specification schema shipped by check-jsonschema, and where it came from."""
    _require("check_jsonschema", "check-jsonschema")
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


def validate_compose(
    path: Path = COMPOSE_FILE, env: Mapping[str, str] | None = None
) -> list[Result]:
    jsonschema = _require("jsonschema", "jsonschema")
    target = _rel(path)
    schema, origin = compose_schema()
    try:
        docs = _load_yaml_docs(path)
        if len(docs) != 1 or not isinstance(docs[0], dict):
            raise ValueError("expected exactly one YAML mapping")
        model = interpolate(docs[0], env if env is not None else stand_ins(docs[0]))
    except (yaml.YAMLError, ValueError) as exc:
        return [Result(target, "yaml", False, str(exc))]

    from referencing import Registry

    validator = jsonschema.Draft202012Validator(schema, registry=Registry())  # no remote refs
    errors = sorted(validator.iter_errors(model), key=lambda e: list(map(str, e.absolute_path)))
    results = [
        Result(
            target,
            "compose-spec",
            not errors,
            origin if not errors else "; ".join(_error_text(e) for e in errors),
        )
    ]
    results.append(_compose_consistency(target, model))
    problems = _contract(compose_contract, model, docs[0])
    results.append(
        Result(
            target,
            "contract",
            not problems,
            "ports, healthchecks, bind addresses, URLs and K1_ settings match the service table"
            if not problems
            else "; ".join(problems),
        )
    )
    return results


def _compose_consistency(target: str, model: dict[str, Any]) -> Result:
    problems: list[str] = []
    services: dict[str, Any] = model.get("services") or {}
    volumes = set((model.get("volumes") or {}).keys())
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        deps = (
            {d: {"condition": "service_started"} for d in deps} if isinstance(deps, list) else deps
        )
        for dep, spec in deps.items():
            if dep not in services:
                problems.append(f"{name} depends on undefined service {dep}")
                continue
            cond = (spec or {}).get("condition", "service_started")
            if cond == "service_healthy" and not (services[dep].get("healthcheck") or {}).get(
                "test"
            ):
                problems.append(
                    f"{name} waits for {dep} to be healthy but {dep} has no healthcheck"
                )
        for vol in svc.get("volumes") or []:
            source = vol.get("source") if isinstance(vol, dict) else str(vol).split(":", 1)[0]
            kind = (
                vol.get("type", "volume")
                if isinstance(vol, dict)
                else ("bind" if source.startswith((".", "/", "~")) else "volume")
            )
            if kind == "volume" and source and ":" in str(vol) and source not in volumes:
                problems.append(f"{name} mounts undeclared named volume {source}")
        if "container_name" in svc and (svc.get("deploy") or {}).get("replicas") not in (
            None,
            1,
            "1",
        ):
            problems.append(f"{name} sets container_name and several replicas")
    return Result(
        target,
        "consistency",
        not problems,
        "depends_on targets, health conditions and volumes agree"
        if not problems
        else "; ".join(problems),
    )


# ------------------------------------------------------------------- the service contract
def _compose_env(svc: Mapping[str, Any]) -> dict[str, Any]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def _duration_s(value: Any, default: float) -> float:
    """A Compose duration (``1m30s``, ``90s``, ``500ms``) in seconds."""
    if value is None:
        return default
    total, units = 0.0, {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(value)):
        total += float(number) * units[unit]
    return total


def _published(svc: Mapping[str, Any]) -> list[tuple[str | None, int]]:
    """(published host port, container port) for every ``ports`` entry."""
    out: list[tuple[str | None, int]] = []
    for entry in svc.get("ports") or []:
        if isinstance(entry, dict):
            out.append(
                (
                    str(entry.get("published")) if entry.get("published") else None,
                    int(entry["target"]),
                )
            )
            continue
        parts = str(entry).split("/", 1)[0].rsplit(":", 2)
        container = int(parts[-1])
        out.append((parts[-2] if len(parts) >= 2 else None, container))
    return out


def _k1_compose_services(services: Mapping[str, Any]) -> dict[str, str]:
    """compose service name -> K1 service it runs (its build target, else its name)."""
    out = {}
    for name, svc in services.items():
        kind = (
            (svc.get("build") or {}).get("target") if isinstance(svc.get("build"), dict) else None
        )
        kind = kind or name
        if kind in ENDPOINTS:
            out[name] = kind
    return out


def compose_contract(model: Mapping[str, Any], raw: Mapping[str, Any] | None = None) -> list[str]:
    """Problems of the compose file against ENDPOINTS and the settings: every K1 service listens
    on all interfaces at its port, its healthcheck hits its liveness path there, only public
    services publish ports, the gateway knows where ingest is and its public URL, MinIO's API is
    published for presigned URLs, K1_ names are settings, secrets come from interpolation."""
    from urllib.parse import urlsplit

    problems: list[str] = []
    services: dict[str, Any] = model.get("services") or {}
    raw_services: dict[str, Any] = (raw or {}).get("services") or {}
    k1 = _k1_compose_services(services)
    known = known_settings()
    for name, kind in k1.items():
        svc, ep = services[name], ENDPOINTS[kind]
        env = _compose_env(svc)
        raw_env = _compose_env(raw_services.get(name) or {}) if raw else {}
        for bad in unknown_k1_names(env):
            problems.append(
                f"{name}: {bad} is not a setting of {', '.join(c for _, c in SETTINGS_SOURCES)}"
            )
        for setting in (s for s in known.values() if s.secret):
            if env.get(setting.env) is None:
                problems.append(
                    f"{name}: secret {setting.env} is not set (its default is a dev value)"
                )
            elif raw and "${" not in (raw_env.get(setting.env) or ""):
                problems.append(
                    f"{name}: secret {setting.env} is a literal; take it from .env "
                    f"(${{VAR:?why}} or ${{VAR:-dev default}})"
                )
            elif (
                raw
                and setting.env in REQUIRED_SECRETS
                and not re.search(r"\$\{" + setting.env + r":\?", raw_env.get(setting.env) or "")
            ):
                problems.append(
                    f"{name}: {setting.env} signs tokens and URLs; require it from "
                    f"the environment (${{{setting.env}:?…}}), never default it"
                )
        problems += binding_problems(f"{name}:", env, ep)
        test = (svc.get("healthcheck") or {}).get("test")
        test = " ".join(map(str, test)) if isinstance(test, list) else str(test or "")
        urls = [m.groupdict() for m in _URL.finditer(test)]
        if not urls:
            problems.append(
                f"{name}: healthcheck does not call http://127.0.0.1:{ep.port}{ep.live}"
            )
        for u in urls:
            if (int(u["port"]), u["path"]) != (ep.port, ep.live):
                problems.append(
                    f"{name}: healthcheck calls :{u['port']}{u['path']}, "
                    f"{kind} serves {ep.live} on {ep.port}"
                )
        published = _published(svc)
        if published and not ep.public:
            problems.append(f"{name}: publishes ports {published}, but {kind} is internal")
        for _, container in published:
            if container != ep.port:
                problems.append(
                    f"{name}: publishes container port {container}, {kind} listens on {ep.port}"
                )
        if ep.public and not published:
            problems.append(f"{name}: {kind} is public but publishes no port")
        for exposed in svc.get("expose") or []:
            if int(str(exposed).split("/")[0]) != ep.port:
                problems.append(f"{name}: exposes {exposed}, {kind} listens on {ep.port}")
        grace = setting_value(env, "K1_SHUTDOWN_GRACE_S")
        stop = _duration_s(svc.get("stop_grace_period"), 10.0)
        if float(grace) >= stop:
            problems.append(
                f"{name}: K1_SHUTDOWN_GRACE_S {grace} is not below stop_grace_period {stop:g}s"
            )
        if kind in INGEST_CALLERS:
            url = urlsplit(setting_value(env, "K1_INGEST_URL"))
            target = k1.get(url.hostname or "")
            if target != "ingest" or _http_port(url.geturl()) != ENDPOINTS["ingest"].port:
                problems.append(
                    f"{name}: K1_INGEST_URL {url.geturl()} is not the ingest service at "
                    f"http://<ingest service>:{ENDPOINTS['ingest'].port}"
                )
        if ep.public:
            if env.get("K1_PUBLIC_URL") is None:
                problems.append(f"{name}: K1_PUBLIC_URL is not set (the URL clients reach it at)")
            else:
                url = urlsplit(env["K1_PUBLIC_URL"])
                hosts = {str(h) for h, c in published if c == ep.port}
                if (
                    url.hostname in ("localhost", "127.0.0.1")
                    and str(_http_port(url.geturl())) not in hosts
                ):
                    problems.append(
                        f"{name}: K1_PUBLIC_URL {url.geturl()} is not a published port "
                        f"of it ({sorted(hosts)})"
                    )
        s3 = env.get("K1_S3_ENDPOINT")
        if s3:
            host, _, s3_port = s3.rpartition(":")
            if host in services and not any(
                c == int(s3_port or 80) and h for h, c in _published(services[host])
            ):
                problems.append(
                    f"presigned URLs point at K1_S3_ENDPOINT {s3}, but {host} "
                    f"does not publish port {s3_port} for clients and devices"
                )
    for kind in ENDPOINTS:
        if kind not in k1.values():
            problems.append(f"no compose service runs {kind}")
    return sorted(set(problems))


def _dockerfile_stages(text: str) -> dict[str, list[tuple[str, str]]]:
    """Stage name -> its instructions (keyword, arguments), line continuations joined."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    logical = re.sub(r"\\\n", " ", text)
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.IGNORECASE)
            current = [("FROM", m.group(1) if m else args)]
            stages[(m.group(2) if m and m.group(2) else f"#{len(stages)}")] = current
        else:
            current.append((keyword, args.strip()))
    return stages


def _dockerfile_env(stages: Mapping[str, list[tuple[str, str]]], stage: str) -> dict[str, str]:
    instructions = stages.get(stage) or []
    env: dict[str, str] = {}
    if instructions and instructions[0][1] in stages:
        env.update(_dockerfile_env(stages, instructions[0][1]))
    for keyword, args in instructions:
        if keyword == "ENV":
            for key, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\S+)", args):
                env[key] = value.strip('"')
    return env


def dockerfile_contract(path: Path = DOCKERFILE) -> list[str]:
    """Problems of the Dockerfile against ENDPOINTS: one target per service with its EXPOSE,
    a HEALTHCHECK on its liveness path and port, and ENV that binds every endpoint to 0.0.0.0."""
    problems: list[str] = []
    stages = _dockerfile_stages(path.read_text(encoding="utf-8"))
    for kind, ep in ENDPOINTS.items():
        if kind not in stages:
            problems.append(f"no target {kind}")
            continue
        instructions = stages[kind]
        env = _dockerfile_env(stages, kind)
        for bad in unknown_k1_names(env):
            problems.append(f"{kind}: ENV {bad} is not a setting")
        exposed = {
            int(p.split("/")[0]) for k, a in instructions if k == "EXPOSE" for p in a.split()
        }
        if exposed != {ep.port}:
            problems.append(f"{kind}: EXPOSE {sorted(exposed)}, {kind} listens on {ep.port}")
        checks = [a for k, a in instructions if k == "HEALTHCHECK"]
        urls = [m.groupdict() for a in checks for m in _URL.finditer(a)]
        if not urls:
            problems.append(f"{kind}: no HEALTHCHECK calling http://127.0.0.1:{ep.port}{ep.live}")
        for u in urls:
            if (int(u["port"]), u["path"]) != (ep.port, ep.live):
                problems.append(
                    f"{kind}: HEALTHCHECK calls :{u['port']}{u['path']}, "
                    f"{kind} serves {ep.live} on {ep.port}"
                )
        problems += binding_problems(f"{kind}: ENV", env, ep)
        if not any(k == "CMD" and f'"services.{kind}"' in a for k, a in instructions):
            problems.append(f"{kind}: CMD does not run services.{kind}")
    return problems


def validate_dockerfile(path: Path = DOCKERFILE) -> list[Result]:
    problems = _contract(dockerfile_contract, path)
    return [
        Result(
            _rel(path),
            "contract",
            not problems,
            "targets, EXPOSE, HEALTHCHECK and bind addresses match the service table"
            if not problems
            else "; ".join(problems),
        )
    ]


# ------------------------------------------------------------------------------- kustomize
def _kustomization_file(directory: Path) -> Path:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"no kustomization file in {directory}")


@functools.lru_cache(maxsize=1)
def kubectl_available() -> bool:
    exe = shutil.which("kubectl")
    if not exe:
        return False
    try:
        return (
            subprocess.run([exe, "kustomize", "--help"], capture_output=True, timeout=30).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def render_kubectl(directory: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} failed: {proc.stderr.strip()[:2000]}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d is not None]


SUPPORTED_KUSTOMIZATION_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "images",
    "replicas",
    "secretGenerator",
    "patches",
}


def render_builtin(directory: Path) -> list[dict[str, Any]]:
    """Render a kustomization with the subset of kustomize this repository uses."""
    directory = directory.resolve()
    kfile = _kustomization_file(directory)
    kust = yaml.safe_load(kfile.read_text(encoding="utf-8")) or {}
    unknown = set(kust) - SUPPORTED_KUSTOMIZATION_FIELDS
    if unknown:
        raise ValueError(
            f"{_rel(kfile)}: the built-in renderer does not support "
            f"{sorted(unknown)}; install kubectl or extend tools/validate_deploy.py"
        )

    resources: list[dict[str, Any]] = []
    for entry in kust.get("resources") or []:
        path = (directory / entry).resolve()
        if path.is_dir():
            resources.extend(render_builtin(path))
        else:
            resources.extend(copy.deepcopy(d) for d in _load_yaml_docs(path))

    for gen in kust.get("secretGenerator") or []:
        _secret_generator(directory, gen, resources, kust.get("namespace"))
    for patch in kust.get("patches") or []:
        resources = _apply_patch(directory, patch, resources)
    if kust.get("namespace"):
        for res in resources:
            if res.get("kind") == "Namespace":
                res["metadata"]["name"] = kust["namespace"]
            elif res.get("kind") not in CLUSTER_SCOPED:
                res.setdefault("metadata", {})["namespace"] = kust["namespace"]
    for rep in kust.get("replicas") or []:
        for res in resources:
            if res.get("kind") in WORKLOADS and res["metadata"]["name"] == rep["name"]:
                res.setdefault("spec", {})["replicas"] = int(rep["count"])
    for image in kust.get("images") or []:
        for res in resources:
            for container in _containers(res):
                container["image"] = _retag(container.get("image", ""), image)
    return resources


def _containers(res: dict[str, Any]) -> Iterable[dict[str, Any]]:
    spec = res.get("spec") or {}
    if res.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    pod = spec if res.get("kind") == "Pod" else ((spec.get("template") or {}).get("spec") or {})
    for key in ("initContainers", "containers"):
        yield from pod.get(key) or []


def _split_image(image: str) -> tuple[str, str, str]:
    name, digest = (image.split("@", 1) + [""])[:2]
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest


def _retag(image: str, rule: Mapping[str, Any]) -> str:
    name, tag, digest = _split_image(image)
    if name != rule["name"]:
        return image
    name = rule.get("newName", name)
    if "digest" in rule:
        return f"{name}@{rule['digest']}"
    tag = str(rule.get("newTag", tag))
    out = f"{name}:{tag}" if tag else name
    return f"{out}@{digest}" if digest and "newTag" not in rule else out


def _parse_env_file(path: Path) -> dict[str, str]:
    data: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{_rel(path)}: line without '=': {raw!r}")
        data[key.strip()] = value
    return data


def _secret_generator(
    directory: Path, gen: Mapping[str, Any], resources: list[dict[str, Any]], namespace: str | None
) -> None:
    unknown = set(gen) - {"name", "namespace", "behavior", "type", "envs", "literals", "options"}
    if unknown or not (gen.get("options") or {}).get("disableNameSuffixHash"):
        raise ValueError(
            f"secretGenerator {gen.get('name')}: the built-in renderer supports only "
            "envs/literals with options.disableNameSuffixHash: true"
        )
    values: dict[str, str] = {}
    for env_file in gen.get("envs") or []:
        values.update(_parse_env_file(directory / env_file))
    for literal in gen.get("literals") or []:
        key, _, value = literal.partition("=")
        values[key] = value
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    behavior = gen.get("behavior", "create")
    existing = [
        r for r in resources if r.get("kind") == "Secret" and r["metadata"]["name"] == gen["name"]
    ]
    if behavior == "create":
        if existing:
            raise ValueError(f"secretGenerator {gen['name']}: a Secret of that name exists")
        meta: dict[str, Any] = {"name": gen["name"]}
        if gen.get("namespace") or namespace:
            meta["namespace"] = gen.get("namespace") or namespace
        resources.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": meta,
                "type": gen.get("type", "Opaque"),
                "data": data,
            }
        )
        return
    if len(existing) != 1:
        raise ValueError(
            f"secretGenerator {gen['name']}: behavior {behavior} needs one existing Secret"
        )
    secret = existing[0]
    if behavior == "replace":
        secret.pop("stringData", None)
        secret["data"] = data
    elif behavior == "merge":
        merged = {
            k: base64.b64encode(v.encode()).decode()
            for k, v in (secret.pop("stringData", None) or {}).items()
        }
        merged.update(secret.get("data") or {})
        merged.update(data)
        secret["data"] = merged
    else:
        raise ValueError(f"secretGenerator {gen['name']}: unknown behavior {behavior}")
    if gen.get("type"):
        secret["type"] = gen["type"]


def _matches(res: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
    group, _, version = res.get("apiVersion", "").rpartition("/")
    checks = {
        "group": group,
        "version": version,
        "kind": res.get("kind"),
        "name": res.get("metadata", {}).get("name"),
        "namespace": res.get("metadata", {}).get("namespace"),
    }
    unknown = set(target) - set(checks)
    if unknown:
        raise ValueError(f"patch target fields {sorted(unknown)} are not supported")
    return all(checks[k] == v for k, v in target.items())


def _apply_patch(
    directory: Path, entry: Mapping[str, Any], resources: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    if "path" in entry:
        text = (directory / entry["path"]).read_text(encoding="utf-8")
    else:
        text = entry["patch"]
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    target = entry.get("target")
    if len(docs) == 1 and isinstance(docs[0], list):  # JSON 6902
        if not target:
            raise ValueError("a JSON 6902 patch needs a target")
        hits = [r for r in resources if _matches(r, target)]
        if not hits:
            raise ValueError(f"patch target {target} matches no resource")
        for res in hits:
            for op in docs[0]:
                _json6902(res, op)
        return resources
    out = resources
    for patch in docs:
        sel = target or {"kind": patch.get("kind"), "name": patch.get("metadata", {}).get("name")}
        hits = [r for r in out if _matches(r, sel)]
        if not hits:
            raise ValueError(f"patch for {sel} matches no resource")
        if patch.get("$patch") == "delete":
            out = [r for r in out if not any(r is h for h in hits)]
            continue
        body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}
        if "metadata" in body:
            body["metadata"] = {
                k: v for k, v in body["metadata"].items() if k not in ("name", "namespace")
            }
        for res in hits:
            _strategic_merge(res, body)
    return out


def _strategic_merge(base: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            _strategic_merge(base[key], value)
        elif (
            isinstance(value, list)
            and isinstance(base.get(key), list)
            and all(isinstance(v, dict) and "name" in v for v in value + base[key])
        ):
            by_name = {item["name"]: item for item in base[key]}
            for item in value:
                if item["name"] in by_name:
                    _strategic_merge(by_name[item["name"]], item)
                else:
                    base[key].append(copy.deepcopy(item))
        else:
            base[key] = copy.deepcopy(value)


def _json6902(doc: dict[str, Any], op: Mapping[str, Any]) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
    parent: Any = doc
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    kind = op["op"]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if kind == "add":
            parent.insert(index, copy.deepcopy(op["value"]))
        elif kind == "replace":
            parent[index] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del parent[index]
        else:
            raise ValueError(f"JSON 6902 op {kind} is not supported")
    else:
        if kind in ("add", "replace"):
            if kind == "replace" and last not in parent:
                raise ValueError(f"JSON 6902 replace: {op['path']} does not exist")
            parent[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del parent[last]
        else:
            raise ValueError(f"JSON 6902 op {kind} is not supported")


def render(directory: Path, renderer: str = "auto") -> tuple[list[dict[str, Any]], str]:
    """Rendered documents of a kustomization and the renderer that produced them."""
    if renderer == "kubectl" or (renderer == "auto" and kubectl_available()):
        return render_kubectl(directory), "kubectl kustomize"
    return render_builtin(directory), "built-in renderer"


def kustomizations() -> list[Path]:
    overlays = sorted(p for p in (K8S_DIR / "overlays").glob("*") if p.is_dir())
    return [K8S_DIR / "base", *overlays]


def normalized(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Documents sorted by identity, Secret data decoded, so two renderings compare equal."""
    out = []
    for doc in docs:
        doc = copy.deepcopy(doc)
        if doc.get("kind") == "Secret" and doc.get("data"):
            doc["data"] = {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}
        out.append(doc)
    return sorted(
        out,
        key=lambda d: (
            d.get("apiVersion", ""),
            d.get("kind", ""),
            d.get("metadata", {}).get("namespace", ""),
            d.get("metadata", {}).get("name", ""),
        ),
    )


# ---------------------------------------------------------------------------- kubernetes
def doc_id(doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{doc.get('apiVersion')} {doc.get('kind')} {ns}{meta.get('name')}"


def _kubernetes_validate() -> Any:
    """kubernetes_validate, with its schema-file reader memoised: it re-reads the multi-megabyte
    _definitions.json for every document otherwise (the files never change during a run)."""
    kv = _require("kubernetes_validate", "kubernetes-validate")
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
    kv = _kubernetes_validate()
    jsonschema = _require("jsonschema", "jsonschema")
    if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
        return False, "not a Kubernetes object (apiVersion and kind are required)"
    key = (doc["apiVersion"], doc["kind"])
    if key in CRD_SCHEMAS:
        schema, registry = _crd_schema(CRD_SCHEMAS[key])
        errors = list(jsonschema.Draft202012Validator(schema, registry=registry).iter_errors(doc))
        errors += _keda_extra(doc, versions or k8s_versions())
        if errors:
            return False, "; ".join(e if isinstance(e, str) else _error_text(e) for e in errors)
        return True, f"hand-written schema tools/schemas/{CRD_SCHEMAS[key]} (fields we use)"
    checked = []
    for version in versions or k8s_versions():
        try:
            kv.validate(doc, version, strict=True)
        except kv.utils.SchemaNotFoundError as exc:
            return False, exc.message
        except kv.ValidationError as exc:
            return False, f"kubernetes {version} (strict): {_error_text(exc)}"
        checked.append(version)
    return (
        True,
        f"kubernetes {', '.join(checked)} (strict) from kubernetes-validate "
        f"{importlib.metadata.version('kubernetes-validate')}",
    )


def _crd_schema(filename: str) -> tuple[dict[str, Any], Any]:
    """One hand-written schema plus a registry of all of them (never retrieves remote refs)."""
    from referencing import Registry, Resource

    schemas = {
        p.name: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(SCHEMA_DIR.glob("*.schema.json"))
    }
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values()
    )
    return schemas[filename], registry


def _keda_extra(doc: Mapping[str, Any], versions: list[str]) -> list[str]:
    problems: list[str] = []
    spec = doc.get("spec") or {}
    if doc.get("kind") == "ScaledObject":
        lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
            problems.append(f"minReplicaCount {lo} > maxReplicaCount {hi}")
        behavior = ((spec.get("advanced") or {}).get("horizontalPodAutoscalerConfig") or {}).get(
            "behavior"
        )
        if behavior is not None:  # the real autoscaling/v2 schema checks this part
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
            ok, message = validate_k8s_document(hpa, versions)
            if not ok:
                problems.append(f"advanced.horizontalPodAutoscalerConfig.behavior: {message}")
    return problems


def _pod_labels(doc: Mapping[str, Any]) -> dict[str, str]:
    return (((doc.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
        "labels"
    ) or {}


def _selects(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_consistency(docs: list[dict[str, Any]]) -> list[str]:
    """Cross-object references that no per-object schema can see."""
    problems: list[str] = []
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc.get("kind", ""), {})[doc.get("metadata", {}).get("name")] = doc
    deployments = by_kind.get("Deployment", {})
    secrets = by_kind.get("Secret", {})
    for name, dep in deployments.items():
        sel = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels")
        if not _selects(sel, _pod_labels(dep)):
            problems.append(f"Deployment {name}: selector does not match its pod labels")
        for c in _containers(dep):
            for src in c.get("envFrom") or []:
                for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    ref_name = (src.get(ref) or {}).get("name")
                    if ref_name and ref_name not in by_kind.get(kind, {}):
                        problems.append(f"Deployment {name}: {kind} {ref_name} is not rendered")
    for kind in ("Service", "PodDisruptionBudget"):
        for name, doc in by_kind.get(kind, {}).items():
            spec = doc.get("spec") or {}
            sel = (
                spec.get("selector")
                if kind == "Service"
                else (spec.get("selector") or {}).get("matchLabels")
            )
            if not any(_selects(sel, _pod_labels(d)) for d in deployments.values()):
                problems.append(f"{kind} {name}: selects no Deployment's pods")
    for kind in ("ScaledObject", "HorizontalPodAutoscaler"):
        for name, doc in by_kind.get(kind, {}).items():
            ref = (doc.get("spec") or {}).get("scaleTargetRef") or {}
            if ref.get("name") not in deployments:
                problems.append(f"{kind} {name}: target Deployment {ref.get('name')} not rendered")
            for trig in (doc.get("spec") or {}).get("triggers") or []:
                auth = (trig.get("authenticationRef") or {}).get("name")
                if auth and auth not in by_kind.get("TriggerAuthentication", {}):
                    problems.append(
                        f"ScaledObject {name}: TriggerAuthentication {auth} not rendered"
                    )
    for name, doc in by_kind.get("TriggerAuthentication", {}).items():
        for ref in (doc.get("spec") or {}).get("secretTargetRef") or []:
            secret = secrets.get(ref.get("name"))
            keys = set((secret or {}).get("data") or {}) | set(
                (secret or {}).get("stringData") or {}
            )
            if ref.get("key") not in keys:
                problems.append(
                    f"TriggerAuthentication {name}: Secret {ref.get('name')} "
                    f"has no key {ref.get('key')}"
                )
    if "ScaledObject" in by_kind and "HorizontalPodAutoscaler" in by_kind:
        scaled = {d["spec"]["scaleTargetRef"]["name"] for d in by_kind["ScaledObject"].values()}
        hpas = {
            d["spec"]["scaleTargetRef"]["name"] for d in by_kind["HorizontalPodAutoscaler"].values()
        }
        for both in sorted(scaled & hpas):
            problems.append(f"Deployment {both} has both a KEDA ScaledObject and an HPA")
    for name, ing in by_kind.get("Ingress", {}).items():
        for rule in (ing.get("spec") or {}).get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = (path.get("backend") or {}).get("service") or {}
                svc = by_kind.get("Service", {}).get(backend.get("name"))
                if svc is None:
                    problems.append(f"Ingress {name}: Service {backend.get('name')} not rendered")
                    continue
                port = backend.get("port") or {}
                ports = svc["spec"].get("ports") or []
                if not any(
                    p.get("name") == port.get("name")
                    if "name" in port
                    else p.get("port") == port.get("number")
                    for p in ports
                ):
                    problems.append(
                        f"Ingress {name}: Service {svc['metadata']['name']} has no port {port}"
                    )
    return problems


# --------------------------------------------------------------- kubernetes service contract
def _selector_matches(sel: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions); an empty selector matches everything."""
    sel = sel or {}
    if any(labels.get(k) != v for k, v in (sel.get("matchLabels") or {}).items()):
        return False
    for expr in sel.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _ns_labels(namespace: str) -> dict[str, str]:
    return {"kubernetes.io/metadata.name": namespace}


def policy_allows(
    policies: Iterable[Mapping[str, Any]],
    direction: str,
    namespace: str,
    pod: Mapping[str, str],
    peer_ns: str,
    peer_pod: Mapping[str, str] | None,
    port: int,
) -> bool:
    """Whether the NetworkPolicies let ``peer`` reach ``pod`` (direction "Ingress") or ``pod``
    reach ``peer`` (direction "Egress") on TCP ``port``. ``peer_pod`` None: an unknown pod of
    ``peer_ns`` (only namespace-wide peers match it). Pods no policy isolates are open."""
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    isolating = []
    for pol in policies:
        spec = pol.get("spec") or {}
        types = spec.get("policyTypes") or (
            ["Ingress", "Egress"] if "egress" in spec else ["Ingress"]
        )
        pol_ns = (pol.get("metadata") or {}).get("namespace") or namespace
        if (
            direction in types
            and pol_ns == namespace
            and _selector_matches(spec.get("podSelector"), pod)
        ):
            isolating.append(spec)
    if not isolating:
        return True
    for spec in isolating:
        for rule in spec.get(key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(
                ("ipBlock" not in p)
                and (
                    _selector_matches(p["namespaceSelector"], _ns_labels(peer_ns))
                    if "namespaceSelector" in p
                    else peer_ns == namespace
                )
                and (
                    "podSelector" not in p
                    or (
                        _selector_matches(p["podSelector"], peer_pod)
                        if peer_pod is not None
                        else not (p["podSelector"] or {})
                    )
                )
                for p in peers
            )
            ports = rule.get("ports")
            port_ok = not ports or any(
                (p.get("protocol") or "TCP") == "TCP"
                and (
                    "port" not in p
                    or p["port"] == port
                    or (
                        isinstance(p["port"], int)
                        and p.get("endPort")
                        and p["port"] <= port <= p["endPort"]
                    )
                )
                for p in ports
            )
            if peer_ok and port_ok:
                return True
    return False


def _config_data(doc: Mapping[str, Any]) -> dict[str, str]:
    data = dict(doc.get("stringData") or {})
    for k, v in (doc.get("data") or {}).items():
        data[k] = base64.b64decode(v).decode() if doc.get("kind") == "Secret" else v
    return data


def service_link_vars(svc: Mapping[str, Any]) -> set[str]:
    """The variables kubelet injects for a Service when enableServiceLinks is on (default)."""
    spec = svc.get("spec") or {}
    if spec.get("clusterIP") == "None" or spec.get("type") == "ExternalName":
        return set()
    name = svc["metadata"]["name"].upper().replace("-", "_")
    out = {f"{name}_SERVICE_HOST", f"{name}_SERVICE_PORT", f"{name}_PORT"}
    for p in spec.get("ports") or []:
        if p.get("name"):
            out.add(f"{name}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}")
        base = f"{name}_PORT_{p.get('port')}_{p.get('protocol') or 'TCP'}"
        out |= {base, f"{base}_PROTO", f"{base}_PORT", f"{base}_ADDR"}
    return out


def _container_env(
    container: Mapping[str, Any], by_kind: Mapping[str, Mapping[str, Any]]
) -> dict[str, tuple[str, str | None]]:
    """name -> (where it comes from: ConfigMap/<n>, Secret/<n>, env, valueFrom; value)."""
    env: dict[str, tuple[str, str | None]] = {}
    for src in container.get("envFrom") or []:
        for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            name = (src.get(ref) or {}).get("name")
            if name and name in by_kind.get(kind, {}):
                for k, v in _config_data(by_kind[kind][name]).items():
                    env[(src.get("prefix") or "") + k] = (f"{kind}/{name}", v)
    for e in container.get("env") or []:
        env[e["name"]] = ("env", e["value"]) if "value" in e else ("valueFrom", None)
    return env


def _container_port(container: Mapping[str, Any], port: Any) -> int | None:
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return None


def _nginx_size(value: str) -> int | None:
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", str(value).strip())
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]


def check_contract(docs: list[dict[str, Any]]) -> list[str]:
    """Rendered manifests against ENDPOINTS and the settings: each Deployment k1-<service> listens
    on all interfaces at its port, declares it, probes and scrapes the paths it serves there, its
    Service targets it; K1_ names are settings and secrets come from Secrets; no Service link
    variables land in the K1_ namespace; the gateway reaches ingest at K1_INGEST_URL through a
    Service and the NetworkPolicies; K1_PUBLIC_URL is the Ingress host; shutdown fits the grace."""
    from urllib.parse import urlsplit

    problems: list[str] = []
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc.get("kind", ""), {})[doc.get("metadata", {}).get("name")] = doc
    known = known_settings()
    for kind in ("ConfigMap", "Secret"):
        for name, doc in by_kind.get(kind, {}).items():
            data = _config_data(doc)
            for bad in unknown_k1_names(data):
                problems.append(f"{kind} {name}: {bad} is not a setting")
            if kind == "ConfigMap":
                for key in sorted(k for k in data if k in known and known[k].secret):
                    problems.append(f"ConfigMap {name}: {key} is a secret; put it in the Secret")
    services = by_kind.get("Service", {})
    links = {name: service_link_vars(svc) for name, svc in services.items()}
    policies = list(by_kind.get("NetworkPolicy", {}).values())
    deployments = {
        n[3:]: d
        for n, d in by_kind.get("Deployment", {}).items()
        if n.startswith("k1-") and n[3:] in ENDPOINTS
    }
    envs: dict[str, dict[str, tuple[str, str | None]]] = {}
    for kind, dep in deployments.items():
        name, ep = f"k1-{kind}", ENDPOINTS[kind]
        template = (dep.get("spec") or {}).get("template") or {}
        pod = template.get("spec") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        namespace = (dep.get("metadata") or {}).get("namespace") or "default"
        container = next(iter(pod.get("containers") or []), {})
        env = _container_env(container, by_kind)
        envs[kind] = env
        values = {k: v for k, (_, v) in env.items()}
        for bad in unknown_k1_names(e["name"] for e in container.get("env") or []):
            problems.append(f"Deployment {name}: env {bad} is not a setting")
        for key in sorted(k for k in known if known[k].secret):
            source = env.get(key, ("", None))[0]
            if not source.startswith("Secret/") and source != "valueFrom":
                problems.append(
                    f"Deployment {name}: secret {key} "
                    f"{'comes from ' + source if source else 'is not set'}; "
                    "it must come from a Secret"
                )
        if pod.get("enableServiceLinks", True) is not False:
            leaked = sorted(v for vs in links.values() for v in vs if v.startswith("K1_"))
            if leaked:
                clash = [v for v in leaked if v in known]
                including = f" including the settings {', '.join(clash)}" if clash else ""
                problems.append(
                    f"Deployment {name}: enableServiceLinks is on, so Services inject "
                    f"{len(leaked)} K1_ variables{including} "
                    "(tcp://… values that fail to parse); set enableServiceLinks: false"
                )
        problems += binding_problems(f"Deployment {name}:", values, ep)
        declared = [p.get("containerPort") for p in container.get("ports") or []]
        if declared != [ep.port]:
            problems.append(
                f"Deployment {name}: containerPorts {declared}, {kind} listens on {ep.port} only"
            )
        for probe, path in (
            ("startupProbe", ep.live),
            ("livenessProbe", ep.live),
            ("readinessProbe", ep.ready),
        ):
            get = (container.get(probe) or {}).get("httpGet")
            if probe != "startupProbe" and get is None:
                problems.append(f"Deployment {name}: no {probe} httpGet")
            if get is None:
                continue
            got = (_container_port(container, get.get("port")), get.get("path"))
            if got != (ep.port, path):
                problems.append(
                    f"Deployment {name}: {probe} hits :{got[0]}{got[1]}, "
                    f"{kind} serves {path} on {ep.port}"
                )
        notes = (template.get("metadata") or {}).get("annotations") or {}
        scrape = (notes.get("prometheus.io/port"), notes.get("prometheus.io/path"))
        if scrape != (str(ep.port), METRICS_PATH):
            problems.append(
                f"Deployment {name}: Prometheus scrapes :{scrape[0]}{scrape[1]}, "
                f"{kind} serves {METRICS_PATH} on {ep.port}"
            )
        for svc_name, svc in services.items():
            if not _selects((svc.get("spec") or {}).get("selector"), labels):
                continue
            for p in (svc.get("spec") or {}).get("ports") or []:
                target = _container_port(container, p.get("targetPort", p.get("port")))
                if target != ep.port:
                    problems.append(
                        f"Service {svc_name}: port {p.get('port')} targets {target}, "
                        f"{kind} listens on {ep.port}"
                    )
        if policies and not policy_allows(
            policies, "Ingress", namespace, labels, MONITORING_NAMESPACE, None, ep.port
        ):
            problems.append(
                f"NetworkPolicy: namespace {MONITORING_NAMESPACE} may not scrape "
                f"{name} on {ep.port}"
            )
        grace = setting_value(values, "K1_SHUTDOWN_GRACE_S")
        period = pod.get("terminationGracePeriodSeconds", 30)
        if float(grace) >= period:
            problems.append(
                f"Deployment {name}: K1_SHUTDOWN_GRACE_S {grace} is not below "
                f"terminationGracePeriodSeconds {period}"
            )
    ingest = deployments.get("ingest")
    for caller in INGEST_CALLERS:
        if caller not in deployments:
            continue
        name = f"k1-{caller}"
        dep = deployments[caller]
        namespace = dep["metadata"].get("namespace") or "default"
        url = urlsplit(setting_value({k: v for k, (_, v) in envs[caller].items()}, "K1_INGEST_URL"))
        host = url.hostname or ""
        svc_name, _, rest = host.partition(".")
        svc = services.get(svc_name)
        port = _http_port(url.geturl())
        ingest_port = ENDPOINTS["ingest"].port
        if (
            rest not in ("", namespace, f"{namespace}.svc", f"{namespace}.svc.cluster.local")
            or svc is None
            or ingest is None
            or not _selects(svc["spec"].get("selector"), _pod_labels(ingest))
        ):
            problems.append(
                f"Deployment {name}: K1_INGEST_URL {url.geturl()} is not a Service of "
                f"the ingest pods in namespace {namespace}"
            )
        elif not any(p.get("port") == port for p in svc["spec"].get("ports") or []):
            problems.append(
                f"Deployment {name}: K1_INGEST_URL {url.geturl()}: Service {svc_name} "
                f"has no port {port}"
            )
        if ingest is not None and policies:
            src, dst = _pod_labels(dep), _pod_labels(ingest)
            if not policy_allows(policies, "Egress", namespace, src, namespace, dst, ingest_port):
                problems.append(f"NetworkPolicy: {name} may not connect to k1-ingest:{ingest_port}")
            if not policy_allows(policies, "Ingress", namespace, dst, namespace, src, ingest_port):
                problems.append(f"NetworkPolicy: k1-ingest does not accept {name} on {ingest_port}")
    if "gateway" in deployments:
        gw = deployments["gateway"]
        values = {k: v for k, (_, v) in envs["gateway"].items()}
        url = urlsplit(setting_value(values, "K1_PUBLIC_URL"))
        for ing_name, ing in by_kind.get("Ingress", {}).items():
            spec = ing.get("spec") or {}
            routes_gateway = any(
                _selects(
                    (
                        services.get(((p.get("backend") or {}).get("service") or {}).get("name"))
                        or {}
                    )
                    .get("spec", {})
                    .get("selector"),
                    _pod_labels(gw),
                )
                for r in spec.get("rules") or []
                for p in ((r.get("http") or {}).get("paths") or [])
            )
            if not routes_gateway:
                continue
            hosts = {r.get("host") for r in spec.get("rules") or []}
            tls = {h for t in spec.get("tls") or [] for h in t.get("hosts") or []}
            if url.hostname not in hosts:
                problems.append(
                    f"K1_PUBLIC_URL {url.geturl()} is not the host of Ingress {ing_name} "
                    f"({', '.join(sorted(map(str, hosts)))})"
                )
            elif url.hostname in tls and url.scheme != "https":
                problems.append(
                    f"K1_PUBLIC_URL {url.geturl()}: Ingress {ing_name} serves it over TLS"
                )
            body = (ing.get("metadata", {}).get("annotations") or {}).get(
                "nginx.ingress.kubernetes.io/proxy-body-size"
            )
            limit = setting_value(values, "K1_MAX_UPLOAD_BYTES")
            if body is not None and (_nginx_size(body) or 0) < int(limit):
                problems.append(
                    f"Ingress {ing_name}: proxy-body-size {body} is below "
                    f"K1_MAX_UPLOAD_BYTES {limit}"
                )
    return sorted(set(problems))


def validate_k8s(
    directory: Path, renderer: str = "auto", versions: list[str] | None = None
) -> list[Result]:
    target = _rel(directory)
    try:
        docs, how = render(directory, renderer)
    except Exception as exc:  # a kustomization that does not render is invalid
        return [Result(target, "render", False, str(exc))]
    versions = versions or k8s_versions()
    results = [Result(target, "render", True, f"{len(docs)} documents ({how})")]
    for doc in docs:
        ok, message = validate_k8s_document(doc, versions)
        results.append(Result(target, doc_id(doc) if isinstance(doc, dict) else "?", ok, message))
    problems = check_consistency(docs)
    results.append(
        Result(
            target,
            "consistency",
            not problems,
            "selectors, references, autoscalers and backends agree"
            if not problems
            else "; ".join(problems),
        )
    )
    problems = _contract(check_contract, docs)
    results.append(
        Result(
            target,
            "contract",
            not problems,
            "ports, probes, scrape targets, settings, ingest URL, public URL and "
            "network policies match the service table"
            if not problems
            else "; ".join(problems),
        )
    )
    return results


# ---------------------------------------------------------------------------------- main
def run(
    renderer: str = "auto", compose: Path = COMPOSE_FILE, dirs: list[Path] | None = None
) -> list[Result]:
    results = validate_compose(compose)
    results.extend(validate_dockerfile())
    versions = k8s_versions()
    for directory in dirs or kustomizations():
        results.extend(validate_k8s(directory, renderer, versions))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--renderer",
        choices=("auto", "builtin", "kubectl"),
        default="auto",
        help="how to render kustomizations (auto: kubectl if on PATH)",
    )
    parser.add_argument("--compose", type=Path, default=COMPOSE_FILE)
    parser.add_argument(
        "kustomizations",
        nargs="*",
        type=Path,
        help="kustomization directories (default: base and every overlay)",
    )
    args = parser.parse_args(argv)
    try:
        results = run(args.renderer, args.compose, args.kustomizations or None)
    except MissingDependency as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 2
    for result in results:
        print(result.line())
    failed = [r for r in results if not r.ok]
    print(f"validate-deploy: {len(results) - len(failed)} checks valid, {len(failed)} invalid")
    return 1 if failed else 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
