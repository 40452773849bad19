"""Offline validation of the deployment files: docker-compose.yml, the Dockerfile and the
Kubernetes manifests. No network (beyond a first ``npm ci`` of the KEDA schemas), no Docker
engine, no cluster.

One module per job:

* :mod:`.render`     - renders ``deploy/k8s/base`` and every overlay with ``kubectl kustomize``
* :mod:`.schemas`    - published schemas: compose-spec (check-jsonschema), Kubernetes
                       (kubernetes-validate, strict), KEDA CRDs (@kubernetes-models/keda on node)
* :mod:`.compose`    - docker-compose.yml: interpolation, schema, consistency, service contract
* :mod:`.dockerfile` - the Dockerfile's targets against the service contract
* :mod:`.contract`   - the project's contract (``ENDPOINTS``, settings) and the rendered
                       manifests' cross references, ports, probes, URLs and network policies
* :mod:`.images`     - every pulled image pinned by tag and digest

    python -m tools.deploycheck              # everything; exit 1 on a failed check, 2 if a
                                             # validator (package, kubectl, node) is missing
    python -m tools.deploycheck deploy/k8s/overlays/example
"""

from __future__ import annotations

from pathlib import Path

from . import compose, contract, dockerfile, images, render, schemas
from .common import COMPOSE_FILE, MissingDependency, Result, doc_id, rel, run_check, summary

__all__ = ["MissingDependency", "Result", "run", "validate_k8s"]


def validate_k8s(directory: Path, versions: list[str] | None = None) -> list[Result]:
    target = rel(directory)
    try:
        docs = render.render(directory)
    except MissingDependency:
        raise
    except Exception as exc:  # a kustomization that does not render is invalid
        return [Result(target, "render", False, str(exc))]
    results = [Result(target, "render", True, f"{len(docs)} documents (kubectl kustomize)")]
    for doc, (ok, message) in zip(
        docs, schemas.validate_k8s_documents(docs, versions), strict=True
    ):
        results.append(Result(target, doc_id(doc), ok, message))
    results.append(
        summary(
            target,
            "consistency",
            contract.check_consistency(docs),
            "selectors, references, autoscalers and backends agree",
        )
    )
    results.append(
        summary(
            target,
            "contract",
            run_check(contract.check_contract, docs),
            "ports, probes, scrape targets, settings, ingest URL, public URL and "
            "network policies match the service table",
        )
    )
    results.append(images.result(target, images.k8s_images(docs)))
    return results


def run(compose_file: Path = COMPOSE_FILE, dirs: list[Path] | None = None) -> list[Result]:
    results = compose.validate_compose(compose_file)
    try:
        _, model = compose.load(compose_file)
        results.append(images.result(rel(compose_file), images.compose_images(model)))
    except Exception as exc:
        results.append(Result(rel(compose_file), "images", False, str(exc)))
    results.extend(dockerfile.validate_dockerfile())
    results.append(images.result(rel(dockerfile.DOCKERFILE), images.dockerfile_images()))
    versions = schemas.k8s_versions()
    for directory in dirs or render.kustomizations():
        results.extend(validate_k8s(directory, versions))
    return results
