"""``k1``: the command-line client. Each subcommand lives in its own ``k1/cmd_<name>.py`` module
exposing ``register(subparsers)``; add a module to ``COMMANDS`` to add a subcommand."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("k1.cmd_analyze", "k1.cmd_token", "k1.cmd_upload", "k1.cmd_devices")
"""Modules that each register one subcommand (``upload``, ``token``, ``devices`` go here too)."""

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def version() -> str:
    """The installed package's version (from its metadata, so it follows ``pyproject.toml``)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("k1-song-analysis")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def describe(doc: str | None) -> str:
    """A subcommand's description for ``--help``: its docstring's first sentence, without the
    reStructuredText backticks that read as stray characters in a terminal."""
    first = (doc or "").strip().split("\n\n", 1)[0]
    return " ".join(first.replace("``", "").split())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="k1", description="K1 song analysis and light-show tools."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns its exit code (0 ok, 1 failure, 2 bad input or usage)."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


def fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    """Print a one-line error to stderr and return ``code``."""
    print(f"k1: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
