"""The project's own contract, checked in every deployment file.

``ENDPOINTS`` says which port each service listens on, which setting moves it and which
liveness/readiness paths it serves; ``known_settings()`` reads every ``K1_*`` variable the services
accept from the pydantic-settings classes themselves. The Dockerfile and compose checks
(:mod:`.dockerfile`, :mod:`.compose`) hold those files to this table; this module holds the
rendered Kubernetes manifests to it (:func:`check_contract`) and checks the cross-object
references no per-object schema can see (:func:`check_consistency`).
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .common import ROOT, containers


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


LOCAL_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost):(?P<port>\d+)(?P<path>/[^'\"\s,)]*)")


def http_port(url: str) -> int | None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        return parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None


# ------------------------------------------------------------ kubernetes: cross references
def _pod_labels(doc: Mapping[str, Any]) -> dict[str, str]:
    return (((doc.get("spec") or {}).get("template") or {}).get("metadata") or {}).get(
        "labels"
    ) or {}


def _selects(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())


def check_consistency(docs: list[dict[str, Any]]) -> list[str]:
    """Cross-object references that no per-object schema can see."""
    problems: list[str] = []
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc.get("kind", ""), {})[doc.get("metadata", {}).get("name")] = doc
    # a StatefulSet (telemetry: partitions owned by pod ordinal) is checked as a Deployment
    deployments = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}
    secrets = by_kind.get("Secret", {})
    for name, dep in deployments.items():
        sel = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels")
        if not _selects(sel, _pod_labels(dep)):
            problems.append(f"Deployment {name}: selector does not match its pod labels")
        for c in containers(dep):
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
            target: dict[str, Any] = (doc.get("spec") or {}).get("scaleTargetRef") or {}
            if target.get("name") not in deployments:
                problems.append(
                    f"{kind} {name}: target Deployment {target.get('name')} not rendered"
                )
            for trig in (doc.get("spec") or {}).get("triggers") or []:
                if trig.get("type") == "rabbitmq" and not (trig.get("metadata") or {}).get(
                    "queueName"
                ):
                    problems.append(
                        f"{kind} {name}: rabbitmq trigger {trig.get('name')} names no queueName"
                    )
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
                svc = by_kind.get("Service", {}).get(str(backend.get("name")))
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
        for n, d in {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}.items()
        if n.startswith("k1-") and n[3:] in ENDPOINTS
    }
    envs: dict[str, dict[str, tuple[str, str | None]]] = {}
    for kind, dep in deployments.items():
        name, ep = f"k1-{kind}", ENDPOINTS[kind]
        template = (dep.get("spec") or {}).get("template") or {}
        pod = template.get("spec") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        namespace = (dep.get("metadata") or {}).get("namespace") or "default"
        container: dict[str, Any] = next(iter(pod.get("containers") or []), {})
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
        for svc_name, target_svc in services.items():
            if not _selects((target_svc.get("spec") or {}).get("selector"), labels):
                continue
            for p in (target_svc.get("spec") or {}).get("ports") or []:
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
        port = http_port(url.geturl())
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
                        services.get(
                            str(((p.get("backend") or {}).get("service") or {}).get("name"))
                        )
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
