"""The deployment files are valid offline: docker-compose.yml against the Compose Specification
schema, every rendered Kubernetes manifest against the Kubernetes schemas
(tools/validate_deploy.py), and the things every service must have (probes, limits, a
PodDisruptionBudget, a healthcheck).

The service contract (CONTRACT below: which port each service listens on and which liveness /
readiness paths it serves) is checked against the code itself (the built ingest and gateway apps,
the workers' health server, Settings defaults), and every deployment file against it: Dockerfile
EXPOSE/HEALTHCHECK, compose healthchecks/ports/env, k8s containerPorts, probes, scrape ports,
Service ports, NetworkPolicies. Every K1_* name in those files must be a real setting.

The validators (kubernetes-validate, check-jsonschema from the ``dev`` extra; kubectl and node on
the machine) are required: if one is missing these tests fail (they do not skip), because CI must
validate the manifests.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import secrets
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tools import deploycheck
from tools.deploycheck import compose as dc_compose
from tools.deploycheck import contract, dockerfile, images, render, schemas
from tools.deploycheck.__main__ import main as deploycheck_main
from tools.deploycheck.common import K8S_DIR, SERVICES, MissingDependency

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = [p.name for p in render.kustomizations()]

# service: (port, liveness path, readiness path). HTTP services bind K1_HTTP_HOST, workers serve
# their health endpoint at K1_HEALTH_HOST:K1_HEALTH_PORT. /metrics is on the same port.
CONTRACT = {
    "gateway": (8000, "/health", "/ready"),
    "ingest": (8001, "/health", "/ready"),
    "analyzer": (9100, "/healthz", "/readyz"),
    "validator": (9100, "/healthz", "/readyz"),
    "deployer": (9100, "/healthz", "/readyz"),
    "telemetry": (9100, "/healthz", "/readyz"),
}
HTTP_SERVICES = {"gateway": "K1_GATEWAY_PORT", "ingest": "K1_INGEST_PORT"}


def test_validator_dependencies_installed() -> None:
    missing = [
        m
        for m in ("kubernetes_validate", "check_jsonschema", "jsonschema")
        if importlib.util.find_spec(m) is None
    ]
    assert not missing, (
        f"deploy validators missing: {missing}; "
        "install them with `pip install -e '.[dev]'` (or '.[deploy]')"
    )
    assert render.kubectl(), render.KUBECTL_HELP
    assert shutil.which("node"), "node runs the KEDA CRD schemas (tools/deploycheck/keda)"


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    """Every kustomization rendered once by kubectl kustomize."""
    return {d.name: render.render(d) for d in render.kustomizations()}


@pytest.fixture(scope="module")
def compose() -> dict:
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return dc_compose.interpolate(raw, dc_compose.stand_ins(raw))


def test_whole_validation_passes() -> None:
    results = deploycheck.run()
    failures = [r.line() for r in results if not r.ok]
    assert not failures, "\n".join(failures)
    targets = {r.target for r in results}
    assert "docker-compose.yml" in targets
    assert {"deploy/k8s/base", "deploy/k8s/overlays/example"} <= targets
    workloads = ("apps/v1 Deployment", "apps/v1 StatefulSet")
    assert sum(1 for r in results if r.document.startswith(workloads)) >= 6 * len(OVERLAYS)
    assert sum(1 for r in results if r.document == "images") == 2 + len(OVERLAYS)
    keda = [r for r in results if r.document.startswith("keda.sh/v1alpha1")]
    assert keda and all("KEDA CRD schema from @kubernetes-models/keda" in r.message for r in keda)


def test_missing_kubectl_fails_with_a_clear_message(monkeypatch) -> None:
    render.kubectl.cache_clear()
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    try:
        with pytest.raises(MissingDependency, match="kubectl is not on PATH"):
            render.render(K8S_DIR / "base")
        assert deploycheck_main([str(K8S_DIR / "base")]) == 2
    finally:
        render.kubectl.cache_clear()


# ------------------------------------------------------------------------- kubernetes
def _by(docs: list[dict], kind: str) -> dict[str, dict]:
    # telemetry is a StatefulSet (partitions owned by pod ordinal): a workload like the others
    kinds = ("Deployment", "StatefulSet") if kind == "Deployment" else (kind,)
    return {d["metadata"]["name"]: d for d in docs if d["kind"] in kinds}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_deployment_probes_limits_pdb(rendered, overlay) -> None:
    docs = rendered[overlay]
    deployments, pdbs, services = (
        _by(docs, k) for k in ("Deployment", "PodDisruptionBudget", "Service")
    )
    for svc in SERVICES:
        name = f"k1-{svc}"
        assert name in deployments, f"{overlay}: no Deployment for {svc}"
        assert name in services, f"{overlay}: no Service for {svc}"
        assert name in pdbs, f"{overlay}: no PodDisruptionBudget for {svc}"
        pod = deployments[name]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["terminationGracePeriodSeconds"] >= 30
        for c in pod["containers"]:
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), name
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), name
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
    analyzer = deployments["k1-analyzer"]
    assert analyzer["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 60
    assert "replicas" not in analyzer["spec"], "the analyzer's replicas belong to its autoscaler"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_analyzer_has_exactly_one_autoscaler(rendered, overlay) -> None:
    docs = rendered[overlay]
    scaled = _by(docs, "ScaledObject")
    hpas = _by(docs, "HorizontalPodAutoscaler")
    assert len(scaled) + len(hpas) == 1, f"{overlay}: want one of KEDA or HPA"
    if scaled:
        queues = {t["metadata"]["queueName"] for t in scaled["k1-analyzer"]["spec"]["triggers"]}
        assert "analyzer.track.uploaded" in queues
        assert all(t["type"] == "rabbitmq" for t in scaled["k1-analyzer"]["spec"]["triggers"])
        assert "k1-rabbitmq" in _by(docs, "TriggerAuthentication")


def test_queue_names_match_the_topology() -> None:
    from contracts.topology import subscription

    docs = render.render(K8S_DIR / "base")
    triggers = _by(docs, "ScaledObject")["k1-analyzer"]["spec"]["triggers"]
    queues = {t["metadata"]["queueName"] for t in triggers}
    assert queues == {
        subscription("analyzer", "track.uploaded").queue,
        subscription("analyzer", "cmd.analysis.request").queue,
    }


def test_network_policies_and_ingress(rendered) -> None:
    docs = rendered["base"]
    policies = _by(docs, "NetworkPolicy")
    deny = policies["default-deny-all"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    ingress = _by(docs, "Ingress")["k1-gateway"]
    notes = ingress["metadata"]["annotations"]
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(notes["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600


def test_base_secret_is_marked_placeholder() -> None:
    secret = _by(render.render(K8S_DIR / "base"), "Secret")["k1-secrets"]
    assert all("REPLACE-ME" in v for v in secret["stringData"].values())


# ---------------------------------------------------------------------- broken inputs
def _deployment() -> dict:
    return copy.deepcopy(_by(render.render(K8S_DIR / "base"), "Deployment")["k1-gateway"])


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["spec"].__setitem__("replicas", "two"),
        lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("livenessProbes", {}),
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"].__setitem__(
            "cpu", [1]
        ),
        lambda d: d["spec"].pop("selector"),
    ],
    ids=["replicas-string", "unknown-field", "limit-type", "missing-selector"],
)
def test_broken_deployment_is_rejected(breakage) -> None:
    doc = _deployment()
    assert schemas.validate_k8s_document(doc)[0]
    breakage(doc)
    ok, message = schemas.validate_k8s_document(doc)
    assert not ok and message


def test_broken_scaledobject_is_rejected(rendered) -> None:
    scaled = _by(rendered["base"], "ScaledObject")["k1-analyzer"]
    auth = _by(rendered["base"], "TriggerAuthentication")["k1-rabbitmq"]
    assert schemas.validate_k8s_documents([scaled, auth]) == [
        (True, schemas.validate_k8s_document(scaled)[1]),
        (True, schemas.validate_k8s_document(auth)[1]),
    ]
    for mutate in (
        lambda s: s["spec"].__setitem__("minReplicaCount", "1"),
        lambda s: s["spec"].__setitem__("pollingInterval", "10s"),
        lambda s: s["spec"].pop("scaleTargetRef"),
        lambda s: s["spec"]["triggers"][0].__setitem__("metadata", ["queueName"]),
        lambda s: s["spec"].__setitem__("minReplicaCount", 50),
        lambda s: s["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"][
            "scaleDown"
        ].__setitem__("stabilizationWindowSeconds", "long"),
    ):
        broken = copy.deepcopy(scaled)
        mutate(broken)
        ok, message = schemas.validate_k8s_document(broken)
        assert not ok and message, broken["spec"]
    broken_auth = copy.deepcopy(auth)
    broken_auth["spec"]["secretTargetRef"][0]["key"] = 7
    assert not schemas.validate_k8s_document(broken_auth)[0]


def test_rabbitmq_trigger_without_queue_is_caught(rendered) -> None:
    docs = copy.deepcopy(rendered["base"])
    _by(docs, "ScaledObject")["k1-analyzer"]["spec"]["triggers"][0]["metadata"].pop("queueName")
    assert any("names no queueName" in p for p in contract.check_consistency(docs))


def test_broken_kustomization_fails_the_run(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    doc = _deployment()
    doc["spec"]["replicas"] = "two"
    (base / "gateway.yaml").write_text(yaml.safe_dump(doc))
    (base / "kustomization.yaml").write_text("resources:\n  - gateway.yaml\n")
    results = deploycheck.validate_k8s(base)
    bad = [r for r in results if not r.ok]
    assert bad and "replicas" in bad[0].message
    assert deploycheck_main([str(base)]) == 1


def test_consistency_catches_dangling_references(rendered) -> None:
    docs = copy.deepcopy(rendered["base"])
    _by(docs, "Service")["k1-gateway"]["spec"]["selector"] = {"app.kubernetes.io/name": "nope"}
    docs = [d for d in docs if d["kind"] != "ConfigMap"]
    problems = contract.check_consistency(docs)
    assert any("Service k1-gateway" in p for p in problems)
    assert any("ConfigMap k1-config" in p for p in problems)


# ---------------------------------------------------------------------------- compose
def test_compose_has_every_service_with_healthcheck(compose) -> None:
    services = compose["services"]
    for name in (*SERVICES, "rabbitmq", "mongodb", "minio"):
        assert name in services, name
        assert services[name]["healthcheck"]["test"], name
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    for svc in SERVICES:
        deps = services[svc]["depends_on"]
        assert deps["rabbitmq"]["condition"] == "service_healthy"
        assert deps["mongodb"]["condition"] == "service_healthy"
        assert deps["minio-init"]["condition"] == "service_completed_successfully"
        assert services[svc]["build"]["target"] == svc
        assert services[svc]["environment"]["K1_DEV_MODE"] == "false"
    assert "management" in services["rabbitmq"]["image"]
    assert any(str(p).endswith(":8000") for p in services["gateway"]["ports"])
    assert set(compose["volumes"]) >= {"rabbitmq-data", "mongodb-data", "minio-data"}


def test_broken_compose_is_rejected(tmp_path: Path) -> None:
    model = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    model["services"]["gateway"]["healthcheck"]["intervall"] = "5s"  # typo
    model["services"]["validator"]["depends_on"] = {"rabbit": {"condition": "service_healthy"}}
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(model))
    results = {r.document: r for r in dc_compose.validate_compose(broken)}
    assert not results["compose-spec"].ok and "intervall" in results["compose-spec"].message
    assert not results["consistency"].ok and "rabbit" in results["consistency"].message


def test_compose_requires_the_jwt_secret_from_the_environment() -> None:
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert dc_compose.required_variables(raw) == {"K1_JWT_SECRET"}
    with pytest.raises(ValueError, match="required variable K1_JWT_SECRET is missing"):
        dc_compose.interpolate(raw, {})
    secret = secrets.token_urlsafe(48)
    model = dc_compose.interpolate(raw, {"K1_JWT_SECRET": secret})
    for svc in SERVICES:
        assert model["services"][svc]["environment"]["K1_JWT_SECRET"] == secret


def test_interpolation() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert (
        dc_compose.interpolate("${SET:-d}/${EMPTY:-d}/${EMPTY-d}/${UNSET-d}/$$SET/$SET", env)
        == "x/d//d/$SET/x"
    )
    with pytest.raises(ValueError):
        dc_compose.interpolate("${UNSET:?needed}", env)


def test_dockerfile_has_a_target_per_service() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for svc in SERVICES:
        assert f" AS {svc}\n" in text, svc
        assert f'"services.{svc}"' in text, svc
    assert (
        "USER 10001" in text
        and "libsndfile1" in text
        and text.count("HEALTHCHECK") >= len(SERVICES)
    )


# --------------------------------------------------------------------- service contract
def _known_settings() -> dict[str, bool]:
    """K1_ variable name -> is a secret, straight from the settings classes."""
    from pydantic import SecretStr

    from infra.settings import Settings
    from infra.upload_settings import UploadSettings
    from services.deployer.config import DeployerSettings
    from services.gateway.devices.config import DeviceSettings
    from services.telemetry.config import TelemetrySettings

    out = {}
    for cls in (Settings, DeviceSettings, TelemetrySettings, DeployerSettings, UploadSettings):
        prefix = cls.model_config["env_prefix"]
        for name, field in cls.model_fields.items():
            out[f"{prefix}{name}".upper()] = field.annotation is SecretStr
    return out


KNOWN = _known_settings()


def test_validator_uses_the_same_contract_and_settings() -> None:
    assert {k: (e.port, e.live, e.ready) for k, e in contract.ENDPOINTS.items()} == CONTRACT
    assert set(CONTRACT) == set(SERVICES)
    for svc, ep in contract.ENDPOINTS.items():
        assert ep.host_setting == ("K1_HTTP_HOST" if svc in HTTP_SERVICES else "K1_HEALTH_HOST")
        assert ep.port_setting == HTTP_SERVICES.get(svc, "K1_HEALTH_PORT")
        assert ep.public == (svc == "gateway")
    assert {k: s.secret for k, s in contract.known_settings().items()} == KNOWN
    # every settings class reading K1_* variables is one the validator knows
    sources = {
        str(p.relative_to(ROOT))
        for d in ("infra", "services", "contracts", "k1")
        for p in (ROOT / d).rglob("*.py")
        if re.search(r'env_prefix="K1_', p.read_text())
    }
    assert sources == {rel for rel, _ in contract.SETTINGS_SOURCES}


async def test_contract_matches_what_the_services_serve(tmp_path: Path) -> None:
    from infra.health import HealthServer
    from infra.settings import Settings
    from services.gateway.__main__ import build_app as build_gateway
    from services.ingest.__main__ import build_app as build_ingest

    defaults = {n: f.default for n, f in Settings.model_fields.items()}
    assert defaults["gateway_port"] == CONTRACT["gateway"][0]
    assert defaults["ingest_port"] == CONTRACT["ingest"][0]
    assert defaults["health_port"] == CONTRACT["analyzer"][0]
    assert defaults["http_host"] == defaults["health_host"] == "127.0.0.1"  # hence 0.0.0.0 below

    settings = Settings(
        _env_file=None, data_dir=tmp_path, s3_endpoint=None, jwt_secret=secrets.token_urlsafe(48)
    )
    ingest, _ = build_ingest(settings)
    gateway = build_gateway(settings)
    for svc, app in (("ingest", ingest), ("gateway", gateway)):
        paths = {r.path for r in app.routes}
        _, live, ready = CONTRACT[svc]
        assert {live, ready, "/metrics"} <= paths, (svc, sorted(paths))
    assert {"/uploads", "/objects/{key:path}"} <= {r.path for r in ingest.routes}
    server = HealthServer(checks={})
    for path in (*CONTRACT["analyzer"][1:], "/metrics"):
        assert (await server._route(path))[0].startswith("200"), path
    assert (await server._route("/health"))[0].startswith("404")


def _container_port(container: dict, port) -> int:
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p["name"] == port)


def _config(docs: list[dict]) -> dict[str, str]:
    return _by(docs, "ConfigMap")["k1-config"]["data"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_ports_probes_and_scrapes_follow_the_contract(rendered, overlay) -> None:
    docs = rendered[overlay]
    deployments, services = _by(docs, "Deployment"), _by(docs, "Service")
    for svc, (port, live, ready) in CONTRACT.items():
        dep = deployments[f"k1-{svc}"]
        pod = dep["spec"]["template"]["spec"]
        assert pod["enableServiceLinks"] is False, (
            f"{svc}: Service links would set K1_*_PORT=tcp://…"
        )
        (c,) = pod["containers"]
        assert [p["containerPort"] for p in c["ports"]] == [port], svc
        for probe, path in (
            ("startupProbe", live),
            ("livenessProbe", live),
            ("readinessProbe", ready),
        ):
            get = c[probe]["httpGet"]
            assert (_container_port(c, get["port"]), get["path"]) == (port, path), (svc, probe)
        notes = dep["spec"]["template"]["metadata"]["annotations"]
        assert (notes["prometheus.io/port"], notes["prometheus.io/path"]) == (
            str(port),
            "/metrics",
        ), svc
        for p in services[f"k1-{svc}"]["spec"]["ports"]:
            assert _container_port(c, p["targetPort"]) == port, svc
        assert 9100 not in [p["port"] for p in services["k1-ingest"]["spec"]["ports"]]
    assert services["k1-ingest"]["spec"]["ports"][0]["port"] == 8001


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_config_binds_every_interface_and_finds_ingest(rendered, overlay) -> None:
    docs = rendered[overlay]
    config = _config(docs)
    assert config["K1_HTTP_HOST"] == "0.0.0.0" and config["K1_HEALTH_HOST"] == "0.0.0.0"
    assert config.get("K1_GATEWAY_PORT", "8000") == "8000"
    assert config.get("K1_INGEST_PORT", "8001") == "8001"
    url = urlsplit(config["K1_INGEST_URL"])
    assert url.scheme == "http" and "." not in url.hostname, "same-namespace Service name"
    svc = _by(docs, "Service")[url.hostname]
    ingest_pods = _by(docs, "Deployment")["k1-ingest"]["spec"]["template"]["metadata"]["labels"]
    assert all(ingest_pods.get(k) == v for k, v in svc["spec"]["selector"].items())
    assert url.port in [p["port"] for p in svc["spec"]["ports"]]
    hosts = {r["host"] for r in _by(docs, "Ingress")["k1-gateway"]["spec"]["rules"]}
    public = urlsplit(config["K1_PUBLIC_URL"])
    assert public.scheme == "https" and public.hostname in hosts
    assert contract.check_contract(docs) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_k1_name_is_a_setting_and_secrets_stay_secret(rendered, overlay) -> None:
    docs = rendered[overlay]
    config = _config(docs)
    secret = _by(docs, "Secret")["k1-secrets"]
    secret_keys = set(secret.get("stringData") or {}) | set(secret.get("data") or {})
    names = set(config) | secret_keys
    for dep in _by(docs, "Deployment").values():
        for c in dep["spec"]["template"]["spec"]["containers"]:
            names |= {e["name"] for e in c.get("env") or []}
    assert {n for n in names if n.startswith("K1_")} <= set(KNOWN), sorted(
        n for n in names if n.startswith("K1_") and n not in KNOWN
    )
    assert not [k for k in config if KNOWN.get(k)], "secret settings in the ConfigMap"
    assert {k for k, is_secret in KNOWN.items() if is_secret} <= secret_keys
    example = (K8S_DIR / "overlays" / "example" / "secrets.example.env").read_text()
    env_keys = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert env_keys <= set(KNOWN) and all(KNOWN[k] for k in env_keys)


def test_compose_follows_the_contract(compose) -> None:
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for svc, (port, live, _) in CONTRACT.items():
        env = services[svc]["environment"]
        assert env["K1_HTTP_HOST"] == "0.0.0.0" and env["K1_HEALTH_HOST"] == "0.0.0.0", svc
        assert set(env) <= set(KNOWN), (svc, sorted(set(env) - set(KNOWN)))
        for name, is_secret in KNOWN.items():
            if is_secret and name in env:
                assert "${" in raw["services"][svc]["environment"][name], f"{svc}: literal {name}"
        test = " ".join(services[svc]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}{live}'" in test, svc
        if svc != "gateway":
            assert not services[svc].get("ports"), f"{svc} is internal"
    assert services["gateway"]["environment"]["K1_INGEST_URL"] == "http://ingest:8001"
    assert services["ingest"]["expose"] == ["8001"]
    assert urlsplit(services["gateway"]["environment"]["K1_PUBLIC_URL"]).port == 8000
    assert any(str(p).endswith(":9000") for p in services["minio"]["ports"]), (
        "presigned URLs point at MinIO: its S3 API must be published"
    )
    assert dc_compose.compose_contract(compose, raw) == []


def test_dockerfile_follows_the_contract() -> None:
    text = (ROOT / "Dockerfile").read_text()
    runtime = text.split("FROM runtime AS", 1)[0]
    assert "K1_HTTP_HOST=0.0.0.0" in runtime and "K1_HEALTH_HOST=0.0.0.0" in runtime
    for svc, (port, live, _) in CONTRACT.items():
        stage = re.search(
            rf"FROM runtime(?:-analysis)? AS {svc}\n(.*?)(?=\nFROM |\Z)", text, re.S
        ).group(1)
        assert re.findall(r"^EXPOSE (.+)$", stage, re.M) == [str(port)], svc
        assert re.findall(r"u\.urlopen\('(http://[^']+)'", stage) == [
            f"http://127.0.0.1:{port}{live}"
        ], svc
    assert dockerfile.dockerfile_contract() == []


# --------------------------------------------------------------- contract: broken inputs
def _set_env(docs, dep, name, value):
    c = _by(docs, "Deployment")[dep]["spec"]["template"]["spec"]["containers"][0]
    c.setdefault("env", []).append({"name": name, "value": value})


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (
            lambda d: _by(d, "Deployment")["k1-ingest"]["spec"]["template"]["spec"]["containers"][
                0
            ]["readinessProbe"]["httpGet"].__setitem__("path", "/readyz"),
            "readinessProbe hits :8001/readyz",
        ),
        (
            lambda d: _by(d, "Deployment")["k1-ingest"]["spec"]["template"]["spec"]["containers"][
                0
            ]["ports"][0].__setitem__("containerPort", 9100),
            "containerPorts [9100]",
        ),
        (
            lambda d: _by(d, "Deployment")["k1-gateway"]["spec"]["template"]["metadata"][
                "annotations"
            ].__setitem__("prometheus.io/port", "9100"),
            "Prometheus scrapes :9100",
        ),
        (lambda d: _config(d).pop("K1_HTTP_HOST"), "K1_HTTP_HOST is '127.0.0.1'"),
        (lambda d: _config(d).pop("K1_INGEST_URL"), "K1_INGEST_URL http://127.0.0.1:8001"),
        (
            lambda d: _config(d).__setitem__("K1_INGEST_URL", "http://ingest:8001"),
            "is not a Service",
        ),
        (
            lambda d: _config(d).__setitem__("K1_OTEL_EXPORTR", "otlp"),
            "K1_OTEL_EXPORTR is not a setting",
        ),
        (lambda d: _config(d).__setitem__("K1_JWT_SECRET", "x" * 40), "K1_JWT_SECRET is a secret"),
        (lambda d: _set_env(d, "k1-ingest", "K1_INGEST_PORT", "9100"), "K1_INGEST_PORT is 9100"),
        (
            lambda d: _config(d).__setitem__("K1_PUBLIC_URL", "http://127.0.0.1:8000"),
            "K1_PUBLIC_URL",
        ),
        (lambda d: _config(d).pop("K1_SHUTDOWN_GRACE_S"), "K1_SHUTDOWN_GRACE_S 60"),
        (
            lambda d: _by(d, "Deployment")["k1-telemetry"]["spec"]["template"]["spec"].pop(
                "enableServiceLinks"
            ),
            "K1_GATEWAY_PORT, K1_INGEST_PORT",
        ),
        (
            lambda d: d.remove(_by(d, "NetworkPolicy")["allow-ingest-from-gateway"]),
            "k1-ingest does not accept k1-gateway on 8001",
        ),
        (
            lambda d: d.remove(_by(d, "NetworkPolicy")["allow-gateway-to-ingest-egress"]),
            "k1-gateway may not connect to k1-ingest:8001",
        ),
        (
            lambda d: _by(d, "NetworkPolicy")["allow-metrics-scrape"]["spec"]["ingress"][0][
                "ports"
            ].pop(),
            "may not scrape k1-ingest on 8001",
        ),
    ],
    ids=[
        "ingest-readyz",
        "ingest-9100",
        "scrape-port",
        "http-host",
        "ingest-url-unset",
        "ingest-url-no-service",
        "typo",
        "secret-in-configmap",
        "port-setting",
        "public-url",
        "shutdown-grace",
        "service-links",
        "policy-ingress",
        "policy-egress",
        "policy-scrape",
    ],
)
def test_contract_catches(rendered, breakage, expected) -> None:
    docs = copy.deepcopy(rendered["base"])
    breakage(docs)
    problems = contract.check_contract(docs)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (
            lambda m: m["services"]["ingest"]["healthcheck"].__setitem__(
                "test", ["CMD", "python", "-c", "u.urlopen('http://127.0.0.1:9100/healthz')"]
            ),
            "ingest: healthcheck calls :9100/healthz",
        ),
        (
            lambda m: m["services"]["ingest"].__setitem__("ports", ["8001:8001"]),
            "ingest is internal",
        ),
        (lambda m: m["services"]["gateway"]["environment"].pop("K1_INGEST_URL"), "K1_INGEST_URL"),
        (
            lambda m: m["services"]["gateway"]["environment"].pop("K1_HTTP_HOST"),
            "gateway: K1_HTTP_HOST",
        ),
        (
            lambda m: m["services"]["analyzer"]["environment"].__setitem__(
                "K1_ANALYSIS_WORKER", "2"
            ),
            "K1_ANALYSIS_WORKER is not a setting",
        ),
        (
            lambda m: m["services"]["validator"]["environment"].__setitem__(
                "K1_JWT_SECRET", "x" * 40
            ),
            "secret K1_JWT_SECRET is a literal",
        ),
        (
            lambda m: m["services"]["minio"].__setitem__("ports", ["127.0.0.1:9001:9001"]),
            "does not publish port 9000",
        ),
        (
            lambda m: m["services"]["gateway"]["environment"].__setitem__(
                "K1_JWT_SECRET", "${K1_JWT_SECRET:-compose-only-jwt-secret-change-me-0123456789}"
            ),
            "gateway: K1_JWT_SECRET signs tokens and URLs; require it",
        ),
    ],
    ids=[
        "healthcheck",
        "ingest-published",
        "ingest-url",
        "http-host",
        "typo",
        "literal-secret",
        "minio-unpublished",
        "defaulted-jwt-secret",
    ],
)
def test_compose_contract_catches(breakage, expected) -> None:
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    breakage(raw)
    problems = dc_compose.compose_contract(
        dc_compose.interpolate(raw, dc_compose.stand_ins(raw)), raw
    )
    assert any(expected in p for p in problems), problems


def test_dockerfile_contract_catches(tmp_path: Path) -> None:
    text = (ROOT / "Dockerfile").read_text()
    broken = tmp_path / "Dockerfile"
    broken.write_text(
        text.replace("EXPOSE 8001", "EXPOSE 9100")
        .replace("127.0.0.1:8001/health", "127.0.0.1:9100/healthz")
        .replace("    K1_HTTP_HOST=0.0.0.0 \\\n", "")
    )
    problems = dockerfile.dockerfile_contract(broken)
    assert "ingest: EXPOSE [9100], ingest listens on 8001" in problems
    assert any("ingest: HEALTHCHECK calls :9100/healthz" in p for p in problems)
    assert any("gateway: ENV K1_HTTP_HOST is '127.0.0.1'" in p for p in problems)


# ------------------------------------------------------------------------- pinned images
def test_every_pulled_image_is_pinned_by_tag_and_digest(compose, rendered) -> None:
    assert images.compose_images(compose) == []
    assert images.dockerfile_images() == []
    for overlay, docs in rendered.items():
        assert images.k8s_images(docs) == [], overlay
    third_party = [s["image"] for s in compose["services"].values() if s.get("build") is None]
    assert len(third_party) == 4 and all(
        re.search(r":[^/@]+@sha256:[0-9a-f]{64}$", i) for i in third_party
    )
    assert not any(i.startswith(("minio/", "quay.io/minio/")) for i in third_party), (
        "MinIO's own images are withdrawn from Docker Hub and quay.io"
    )


@pytest.mark.parametrize(
    "ref, problem",
    [
        ("mongo:7.0", "add a sha256 digest"),
        ("mongo@sha256:" + "a" * 64, "add a release tag"),
        ("mongo:latest@sha256:" + "a" * 64, "instead of latest"),
        ("mongo:7.0@sha256:abc", "add a sha256 digest"),
        ("registry.local:5000/x/mongo:7.0@sha256:" + "a" * 64, None),
    ],
)
def test_pin_rule(ref, problem) -> None:
    got = images.pin_problem(ref)
    assert (got is None) if problem is None else (problem in (got or "")), got


def test_unpinned_images_fail_the_checks(tmp_path: Path, rendered) -> None:
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    raw["services"]["mongodb"]["image"] = "mongo:7.0"
    model = dc_compose.interpolate(raw, dc_compose.stand_ins(raw))
    assert any(
        "service mongodb: mongo:7.0 is not pinned" in p for p in images.compose_images(model)
    )
    text = (ROOT / "Dockerfile").read_text()
    broken = tmp_path / "Dockerfile"
    broken.write_text(re.sub(r"(ARG PYTHON_IMAGE=[^@\n]+)@sha256:[0-9a-f]+", r"\1", text))
    assert any(p.startswith("FROM python:3.11") for p in images.dockerfile_images(broken))
    docs = copy.deepcopy(rendered["example"])
    _by(docs, "Deployment")["k1-gateway"]["spec"]["template"]["spec"]["containers"][0]["image"] = (
        "registry.example.invalid/k1/gateway:latest"
    )
    sidecar = {"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"}
    _by(docs, "Deployment")["k1-ingest"]["spec"]["template"]["spec"]["containers"].append(sidecar)
    problems = images.k8s_images(docs)
    assert any("k1/gateway:latest: an image built here" in p for p in problems), problems
    assert any("envoyproxy/envoy:v1.31.0 is not pinned" in p for p in problems), problems
