"""The Dockerfile: one target per service with its EXPOSE, HEALTHCHECK and bind addresses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from .common import DOCKERFILE, Result, rel, run_check
from .contract import ENDPOINTS, LOCAL_URL, binding_problems, unknown_k1_names


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
        urls = [m.groupdict() for a in checks for m in LOCAL_URL.finditer(a)]
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
    problems = run_check(dockerfile_contract, path)
    return [
        Result(
            rel(path),
            "contract",
            not problems,
            "targets, EXPOSE, HEALTHCHECK and bind addresses match the service table"
            if not problems
            else "; ".join(problems),
        )
    ]
