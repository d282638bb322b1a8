"""The `cryptnode` command line (also `python3 -m cryptnode`). Each subcommand is one function
that adds its parser; output is readable by people (table) and by programs (-o json|yaml)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, List

from . import __version__
from ._core import Error


def _emit(data: Any, fmt: str, table: Callable[[Any], str]) -> None:
    if fmt == "json":
        print(json.dumps(data, indent=2))
    elif fmt == "yaml":
        try:
            import yaml  # python3-yaml (Debian)
            print(yaml.safe_dump(data, sort_keys=False), end="")
        except ImportError:  # pragma: no cover - python3-yaml is in scripts/setup
            print(json.dumps(data, indent=2))
    else:
        print(table(data))


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError as e:
        raise SystemExit(f"cryptnode: cannot read {path}: {e.strerror}")


# --- config ---------------------------------------------------------------------------------

def _config_validate(args) -> int:
    from ._core import validate_config
    errors = validate_config(_read(args.file))
    _emit({"file": args.file, "valid": not errors, "errors": errors}, args.output,
          lambda d: "valid" if d["valid"] else "\n".join(d["errors"]))
    return 0 if not errors else 1


def _config_describe(args) -> int:
    from .describe import describe, format_table
    try:
        desc = describe(_read(args.file))
    except Error as e:
        print(f"cryptnode: {args.file}: {e}", file=sys.stderr)
        return 1
    _emit(desc, args.output, format_table)
    return 0 if desc["valid"] else 1


def add_config(sub) -> None:
    p = sub.add_parser("config", help="validate or describe a machine config")
    csub = p.add_subparsers(dest="config_cmd", required=True, metavar="COMMAND")
    v = csub.add_parser("validate", help="print Talos' validation errors (exit 1 if any)")
    v.add_argument("file", help="machine config YAML (- for stdin)")
    v.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")
    v.set_defaults(func=_config_validate)
    d = csub.add_parser("describe",
                        help="what each document configures and the passphrase kind per slot")
    d.add_argument("file", help="machine config YAML (- for stdin)")
    d.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")
    d.set_defaults(func=_config_describe)


# --- demo -----------------------------------------------------------------------------------

def _demo(args) -> int:
    from .demo import run
    return run(flows=not args.examples_only)


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the Talos disk-encryption documentation's examples and flows")
    p.add_argument("--examples-only", action="store_true",
                   help="only describe the documentation's config examples (no node)")
    p.set_defaults(func=_demo)


COMMANDS: List[Callable] = [add_config, add_demo]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cryptnode",
        description="Talos Linux disk encryption on a simulated node made of real parts.")
    p.add_argument("--version", action="version", version=f"cryptnode {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Error as e:
        print(f"cryptnode: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `cryptnode demo | head`
        sys.stderr.close()
        return 0
