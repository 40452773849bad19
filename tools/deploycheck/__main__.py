"""``python -m tools.deploycheck`` (``make validate-deploy``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __doc__ as DOC
from . import run
from .common import COMPOSE_FILE, ROOT, MissingDependency


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.deploycheck", description=(DOC or "").split("\n\n")[0]
    )
    parser.add_argument("--compose", type=Path, default=COMPOSE_FILE)
    parser.add_argument(
        "kustomizations",
        nargs="*",
        type=Path,
        help="kustomization directories (default: base and every overlay)",
    )
    args = parser.parse_args(argv)
    try:
        results = run(args.compose, args.kustomizations or None)
    except MissingDependency as exc:
        print(f"FAIL validate-deploy cannot run: {exc}", file=sys.stderr)
        return 2
    for result in results:
        print(result.line())
    failed = [r for r in results if not r.ok]
    print(f"validate-deploy: {len(results) - len(failed)} checks valid, {len(failed)} invalid")
    return 1 if failed else 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
