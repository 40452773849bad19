"""``k1 token --role admin --subject me [--ttl 3600]``: print a JWT signed with K1_JWT_SECRET."""
from __future__ import annotations

import argparse

from infra.auth import ROLE_RANK, issue_token

MAX_TTL_S = 30 * 24 * 3600


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("token", help="print a bearer token for the gateway API",
                                   description="Print a JWT signed with K1_JWT_SECRET.")
    parser.add_argument("--role", choices=sorted(ROLE_RANK, key=ROLE_RANK.get),
                        default="viewer", help="viewer reads, operator uploads, admin deletes")
    parser.add_argument("--subject", default="cli", help="who the token is for (sub claim)")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from infra.settings import get_settings
    from k1.cli import fail

    if not 1 <= args.ttl <= MAX_TTL_S:
        return fail(f"--ttl must be within 1..{MAX_TTL_S} seconds")
    if not args.subject or len(args.subject) > 128:
        return fail("--subject must be 1..128 characters")
    secret = get_settings().jwt_secret.get_secret_value()
    print(issue_token(secret, subject=args.subject, role=args.role, ttl_s=args.ttl))
    return 0
