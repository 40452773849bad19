"""``k1 token --role admin --subject me [--ttl 3600]``: print a JWT signed with K1_JWT_SECRET
(or, when that is unset, with the secret ``make run`` keeps in ``var/jwt-secret``)."""

from __future__ import annotations

import argparse

from infra.auth import MAX_SUBJECT_CHARS, MAX_TTL_S, ROLE_RANK, issue_token


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "token",
        help="print a bearer token for the gateway API",
        description="Print a JWT signed with K1_JWT_SECRET (else "
        "the one `make run` keeps in var/jwt-secret).",
    )
    parser.add_argument(
        "--role",
        choices=sorted(ROLE_RANK, key=ROLE_RANK.__getitem__),
        default="viewer",
        help="viewer reads, operator uploads, admin deletes",
    )
    parser.add_argument("--subject", default="cli", help="who the token is for (sub claim)")
    parser.add_argument(
        "--ttl",
        type=int,
        default=3600,
        help="seconds until it expires (at most 30 days; 7 for admin)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from infra.settings import get_settings
    from k1.cli import fail
    from k1.local_secret import read_local_jwt_secret
    from k1.stack import ROOT

    cap = MAX_TTL_S[args.role]
    if not 1 <= args.ttl <= cap:
        return fail(f"--ttl must be within 1..{cap} seconds for the {args.role} role")
    if not args.subject or len(args.subject) > MAX_SUBJECT_CHARS:
        return fail(f"--subject must be 1..{MAX_SUBJECT_CHARS} characters")
    secret = get_settings().jwt_secret.get_secret_value() or read_local_jwt_secret(ROOT / "var")
    if not secret:
        return fail("K1_JWT_SECRET is not set, and there is no var/jwt-secret from `make run`")
    print(issue_token(secret, subject=args.subject, role=args.role, ttl_s=args.ttl))
    return 0
