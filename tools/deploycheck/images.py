"""Every image a deployment file pulls is pinned by tag *and* digest (``repo:tag@sha256:…``).

The tag says what it is, the digest makes it immutable: a re-pushed or deleted tag cannot change
what runs, and a withdrawn image fails loudly instead of silently resolving to something else.
Checked in docker-compose.yml (after interpolation with the defaults), the Dockerfile's ``FROM``
lines (``ARG`` defaults resolved) and every rendered Kubernetes manifest.

The project's own images are the exception, because no digest exists before they are built:
compose builds them itself (a service with ``build:``), and in Kubernetes ``k1/<service>`` must
carry a release tag (not ``latest``) or a digest; an environment's overlay should pin the digest
its registry reports (kustomize ``images[].digest``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import DOCKERFILE, SERVICES, Result, containers, doc_id, summary

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
OWN_IMAGE = re.compile(rf"(?:^|/)k1/(?:{'|'.join(SERVICES)})$")
"""Images this repository builds (the Dockerfile's targets), whatever registry holds them."""


@dataclass(frozen=True)
class ImageRef:
    name: str
    tag: str
    digest: str

    @classmethod
    def parse(cls, ref: str) -> ImageRef:
        name, _, digest = ref.strip().partition("@")
        tag = ""
        if name.rfind(":") > name.rfind("/"):
            name, tag = name.rsplit(":", 1)
        return cls(name, tag, digest)


def pin_problem(ref: str) -> str | None:
    """Why a third-party image reference is not pinned by tag and digest (None: it is)."""
    image = ImageRef.parse(ref)
    missing = []
    if not image.tag or image.tag == "latest":
        missing.append("a release tag" if not image.tag else "a release tag instead of latest")
    if not _DIGEST.match(image.digest):
        missing.append("a sha256 digest")
    if not missing:
        return None
    return f"{ref} is not pinned: add {' and '.join(missing)} (repo:tag@sha256:<digest>)"


def own_problem(ref: str) -> str | None:
    image = ImageRef.parse(ref)
    if _DIGEST.match(image.digest) or (image.tag and image.tag != "latest"):
        return None
    return f"{ref}: an image built here needs a release tag (not latest) or a digest"


def compose_images(model: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, svc in (model.get("services") or {}).items():
        ref = svc.get("image")
        if svc.get("build") is not None:
            continue  # built from this repository by compose: its `image` names the result
        if not ref:
            problems.append(f"service {name} has neither image nor build")
        elif problem := pin_problem(ref):
            problems.append(f"service {name}: {problem}")
    return problems


def dockerfile_images(path: Path = DOCKERFILE) -> list[str]:
    """FROM lines (global ARG defaults substituted); earlier stages and scratch need no pin."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    args: dict[str, str] = {}
    stages: set[str] = set()
    problems = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        keyword = words[0].upper()
        if keyword == "ARG" and not stages and len(words) > 1:
            key, _, value = words[1].partition("=")
            args[key] = value.strip("\"'")
        elif keyword == "FROM":
            rest = [w for w in words[1:] if not w.startswith("--")]
            ref = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: args.get(m[1], ""), rest[0])
            if len(rest) >= 3 and rest[1].upper() == "AS":
                stages.add(rest[2])
            if ref in stages or ref == "scratch":
                continue
            if problem := pin_problem(ref):
                problems.append(f"FROM {problem}")
    return problems


def k8s_images(docs: Iterable[Mapping[str, Any]]) -> list[str]:
    problems = []
    for doc in docs:
        for container in containers(dict(doc)):
            ref = str(container.get("image") or "")
            name = ImageRef.parse(ref).name
            problem = own_problem(ref) if OWN_IMAGE.search(name) else pin_problem(ref)
            if problem:
                problems.append(f"{doc_id(doc)} container {container.get('name')}: {problem}")
    return problems


def result(target: str, problems: list[str]) -> Result:
    return summary(
        target,
        "images",
        problems,
        "every pulled image is pinned by tag and digest (images built here: by release tag)",
    )
