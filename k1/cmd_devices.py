"""``k1 devices register|simulate``: register devices, or run simulated ones.

    k1 devices register --name bar --group stage [--count 3] [--out tokens.json]
    k1 devices simulate --count N --rate HZ [--register [--admin-token T] | --tokens FILE]
                        [--drift-ms X --jitter-ms Y] [--duration S] [--processes P]

The stack is found through ``--url/--admin-token``, ``$K1_API_URL/$K1_TOKEN`` or the
``run.json`` written by ``make run`` (``var/run.json``, else ``$XDG_STATE_HOME/k1/run.json``).
A tokens file is a JSON list of ``{"device_id", "token"}`` (what ``register --out`` writes).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path

import httpx


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("devices", help="register or simulate K1 devices")
    sub = parser.add_subparsers(dest="devices_command", required=True, metavar="ACTION")
    reg = sub.add_parser("register", help="register devices (prints their tokens once)")
    reg.add_argument("--name", default="k1-sim", help="device name (a number is appended)")
    reg.add_argument("--group", default="default", help="device group")
    reg.add_argument("--count", type=int, default=1)
    reg.add_argument("--latency-offset-ms", type=int, default=0)
    reg.add_argument("--out", type=Path, help="write the tokens to this JSON file (mode 0600)")
    _stack_args(reg)
    reg.set_defaults(run=run_register)

    sim = sub.add_parser("simulate", help="run simulated devices over real WebSockets")
    sim.add_argument("--count", type=int, default=3, help="how many devices")
    sim.add_argument("--rate", type=float, default=2.0, help="telemetry frames/s per device")
    source = sim.add_mutually_exclusive_group()
    source.add_argument("--register", action="store_true", help="register the devices first")
    source.add_argument("--tokens", type=Path, help="JSON file of {device_id, token}")
    sim.add_argument("--group", default="sim", help="group of --register'ed devices")
    sim.add_argument("--drift-ms", type=float, default=0.0, help="constant drift of each device")
    sim.add_argument("--jitter-ms", type=float, default=2.0, help="Gaussian jitter (σ) of drift")
    sim.add_argument("--duration", type=float, default=None, help="seconds (default: forever)")
    sim.add_argument("--processes", type=int, default=1, help="load generator processes")
    sim.add_argument("--corrupt", action="store_true", help="corrupt every downloaded bundle")
    _stack_args(sim)
    sim.set_defaults(run=run_simulate)


def _stack_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="gateway base URL (default: from the stack's run.json)")
    parser.add_argument("--admin-token", help="admin JWT (default: $K1_TOKEN or run.json)")
    parser.add_argument(
        "--run-json",
        type=Path,
        default=None,
        help="read the stack's address from this file only "
        "(default: var/run.json, else $XDG_STATE_HOME/k1/run.json)",
    )


def register_devices(
    api_url: str,
    admin_token: str,
    *,
    count: int,
    group: str,
    name: str = "k1-sim",
    latency_offset_ms: int = 0,
) -> list[dict]:
    """Register ``count`` devices through the API; returns ``[{device_id, token}]``."""
    out = []
    with httpx.Client(
        base_url=api_url, timeout=30, headers={"Authorization": f"Bearer {admin_token}"}
    ) as client:
        for i in range(count):
            device_id = f"{group}-{uuid.uuid4().hex[:10]}"
            response = client.post(
                "/api/v1/devices",
                json={
                    "device_id": device_id,
                    "name": f"{name}-{i + 1}",
                    "group": group,
                    "latency_offset_ms": latency_offset_ms,
                },
            )
            if response.status_code != 201:
                raise RuntimeError(
                    f"registering a device failed: HTTP {response.status_code} "
                    f"{response.text[:200]}"
                )
            out.append({"device_id": device_id, "token": response.json()["token"]})
    return out


def _target(args):
    from k1.client import find_target

    return find_target(args.run_json, url=args.url, token=args.admin_token)


def run_register(args: argparse.Namespace) -> int:
    from k1.cli import EXIT_FAILURE, fail

    if not 1 <= args.count <= 10_000:
        return fail("--count must be within 1..10000")
    try:
        target = _target(args)
        devices = register_devices(
            target.api_url,
            target.token,
            count=args.count,
            group=args.group,
            name=args.name,
            latency_offset_ms=args.latency_offset_ms,
        )
    except (LookupError, RuntimeError, httpx.HTTPError) as exc:
        return fail(str(exc), EXIT_FAILURE)
    if args.out:
        args.out.write_text(json.dumps(devices, indent=1))
        args.out.chmod(0o600)
        print(f"registered {len(devices)} devices; tokens in {args.out}")
    else:
        print(json.dumps(devices, indent=1))
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    from k1.cli import EXIT_FAILURE, fail
    from k1.device_sim import SimConfig, run_fleet_processes

    if not 1 <= args.count <= 20_000 or not 0 < args.rate <= 100:
        return fail("--count must be within 1..20000 and --rate within (0, 100]")
    try:
        target = _target(args)
        if args.tokens:
            devices = json.loads(args.tokens.read_text())[: args.count]
        elif args.register:
            devices = register_devices(
                target.api_url, target.token, count=args.count, group=args.group
            )
        else:
            return fail("give --register or --tokens FILE")
    except (LookupError, RuntimeError, httpx.HTTPError, OSError, ValueError) as exc:
        return fail(str(exc), EXIT_FAILURE)
    cfg = SimConfig(
        api_url=target.api_url,
        rate_hz=args.rate,
        drift_ms=args.drift_ms,
        jitter_ms=args.jitter_ms,
        duration_s=args.duration,
        corrupt=args.corrupt,
    )
    print(
        f"simulating {len(devices)} devices at {args.rate:g} Hz against {target.api_url} "
        f"(Ctrl-C to stop)",
        file=sys.stderr,
    )
    try:
        results = run_fleet_processes(
            [(d["device_id"], d["token"]) for d in devices], cfg, processes=max(1, args.processes)
        )
    except KeyboardInterrupt:
        return 0
    for result in results:
        print(json.dumps(result))
    return 0
