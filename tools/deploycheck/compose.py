"""docker-compose.yml: the Compose Specification schema, consistency the schema cannot express,
and the service contract (healthchecks, ports, bind addresses, URLs, settings, secrets).

The file is interpolated the way Compose does it (``${VAR:-default}`` with an empty environment,
so the defaults are what gets checked; a variable the file requires, ``${VAR:?why}``, gets a
stand-in value).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .common import COMPOSE_FILE, Result, error_text, load_yaml_docs, rel, run_check, summary
from .contract import (
    ENDPOINTS,
    INGEST_CALLERS,
    LOCAL_URL,
    SETTINGS_SOURCES,
    binding_problems,
    http_port,
    known_settings,
    setting_value,
    unknown_k1_names,
)
from .schemas import compose_schema, compose_validator

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
            return arg if unset_or_empty or current is None else current
        if op.endswith("?"):
            if unset_or_empty or current is None:
                raise ValueError(f"at {where}: required variable {name} is missing: {arg}")
            return current
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


def load(path: Path = COMPOSE_FILE, env: Mapping[str, str] | None = None) -> tuple[Any, Any]:
    """(raw file, interpolated model); required variables get stand-ins unless ``env`` is given."""
    docs = load_yaml_docs(path)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ValueError("expected exactly one YAML mapping")
    return docs[0], interpolate(docs[0], env if env is not None else stand_ins(docs[0]))


def validate_compose(
    path: Path = COMPOSE_FILE, env: Mapping[str, str] | None = None
) -> list[Result]:
    target = rel(path)
    try:
        raw, model = load(path, env)
    except (yaml.YAMLError, ValueError) as exc:
        return [Result(target, "yaml", False, str(exc))]
    _, origin = compose_schema()
    errors = sorted(
        compose_validator().iter_errors(model), key=lambda e: list(map(str, e.absolute_path))
    )
    return [
        Result(
            target,
            "compose-spec",
            not errors,
            origin if not errors else "; ".join(error_text(e) for e in errors),
        ),
        _compose_consistency(target, model),
        summary(
            target,
            "contract",
            run_check(compose_contract, model, raw),
            "ports, healthchecks, bind addresses, URLs and K1_ settings match the service table",
        ),
    ]


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
            source = str(
                (vol.get("source") or "") if isinstance(vol, dict) else str(vol).split(":", 1)[0]
            )
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
        urls = [m.groupdict() for m in LOCAL_URL.finditer(test)]
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
            if target != "ingest" or http_port(url.geturl()) != ENDPOINTS["ingest"].port:
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
                    and str(http_port(url.geturl())) not in hosts
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
