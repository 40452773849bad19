"""The telemetry manifests scale consistently with the partitioning (offline): a StatefulSet
whose pods own partitions by ordinal, told how many replicas share them."""

from __future__ import annotations

from pathlib import Path

import yaml

from contracts.topology import TELEMETRY_PARTITIONS, telemetry_partitions_owned

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def _telemetry_set() -> dict:
    docs = list(yaml.safe_load_all((K8S / "base" / "telemetry.yaml").read_text()))
    [workload] = [d for d in docs if d and d["kind"] in ("Deployment", "StatefulSet")]
    return workload


def test_telemetry_is_a_statefulset_told_its_replica_count():
    sts = _telemetry_set()
    assert sts["kind"] == "StatefulSet" and sts["spec"]["podManagementPolicy"] == "Parallel"
    replicas = sts["spec"]["replicas"]
    [container] = sts["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert int(env["K1_TELEMETRY_REPLICAS"]) == replicas
    assert 1 <= replicas <= TELEMETRY_PARTITIONS


def test_the_replicas_own_every_partition_exactly_once():
    replicas = _telemetry_set()["spec"]["replicas"]
    owned = [p for n in range(replicas) for p in telemetry_partitions_owned(n, replicas)]
    assert sorted(owned) == list(range(TELEMETRY_PARTITIONS))


def test_no_overlay_rescales_telemetry_without_its_setting():
    base = _telemetry_set()["spec"]["replicas"]
    for path in (K8S / "overlays").rglob("kustomization.yaml"):
        kustomization = yaml.safe_load(path.read_text()) or {}
        counts = [
            r["count"] for r in kustomization.get("replicas", []) if r["name"] == "k1-telemetry"
        ]
        if counts:
            patched = any(
                "K1_TELEMETRY_REPLICAS" in f.read_text()
                for f in path.parent.glob("*.yaml")
                if f.name != "kustomization.yaml"
            )
            assert patched or counts == [base], f"{path} scales telemetry but not its setting"
