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


# --- node -------------------------------------------------------------------------------------
# `cryptnode node create DIR` makes a node directory; `cryptnode -n DIR boot` starts the node
# process (it owns loop devices, mounts and FUSE until shutdown, like a VM process); the other
# commands talk to it over DIR/run/api.sock.

def _node_create(args) -> int:
    from .node import Node
    disks = args.disk or list(Node.DEFAULT_DISKS)
    n = Node.create(args.dir, uuid=args.uuid, disks=disks, tpm=args.tpm,
                    secure_boot=args.secure_boot, pbkdf=args.pbkdf,
                    talos_version=args.talos_version, backend=args.backend)
    path = n.path
    n.close()
    print(f"created {path}")
    return 0


def add_node(sub) -> None:
    p = sub.add_parser("node", help="create a node directory")
    nsub = p.add_subparsers(dest="node_cmd", required=True, metavar="COMMAND")
    c = nsub.add_parser("create", help="a node directory with node.json and sparse disk images")
    c.add_argument("dir")
    c.add_argument("--uuid", help="SMBIOS system UUID (default: random)")
    c.add_argument("--disk", action="append", metavar="SIZE",
                   help="a disk size (repeat; the first is the system disk; default 1GiB 512MiB)")
    c.add_argument("--tpm", action=argparse.BooleanOptionalAction, default=True)
    c.add_argument("--secure-boot", action=argparse.BooleanOptionalAction, default=True)
    c.add_argument("--pbkdf", choices=["fast", "production"], default="fast")
    c.add_argument("--talos-version", choices=["1.12", "1.13", "1.14"], default="1.12")
    c.add_argument("--backend", choices=["auto", "kernel", "userspace"], default="auto")
    c.set_defaults(func=_node_create)


def _need_node(args) -> str:
    if not args.node:
        raise SystemExit("cryptnode: this command needs -n DIR (the node directory)")
    return args.node


def _status_table(summary) -> str:
    rows = [f"{'ID':<12} {'PHASE':<11} {'ENCRYPTION':<10} {'SLOT':<5} ERROR"]
    for v in summary["volumes"]:
        slot = "" if v["encryptionSlot"] is None else str(v["encryptionSlot"])
        err = " ".join(v["errorMessage"].split())
        rows.append(f"{v['id']:<12} {v['phase']:<11} {v['encryptionProvider'] or '-':<10} "
                    f"{slot:<5} {err}")
    state = "maintenance" if summary["maintenance"] else "running" if summary["running"] else \
        "booting"
    return f"node {summary['path']}: {state}\n" + "\n".join(rows)


def _boot(args) -> int:
    import os
    import subprocess
    d = _need_node(args)
    r, w = os.pipe()
    cmd = [sys.executable, "-m", "cryptnode.daemon", d, str(w)]
    if args.config:
        cmd.append(os.path.abspath(args.config))
    log = open(os.path.join(d, "node.log"), "ab")
    subprocess.Popen(cmd, pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                     start_new_session=True)
    os.close(w)
    with os.fdopen(r) as f:
        line = f.readline()
    if not line:
        print(f"cryptnode: the node process ended; see {d}/node.log", file=sys.stderr)
        return 1
    resp = json.loads(line)
    if not resp["ok"]:
        print(f"cryptnode: boot failed: {resp['error']['message']}", file=sys.stderr)
        return 1
    print(_status_table(resp["result"]))
    return 0


def _remote(op: str, **kw):
    def run(args) -> int:
        from .daemon import NodeNotRunning, RemoteError, request
        d = _need_node(args)
        params = {k: (v(args) if callable(v) else v) for k, v in kw.items()}
        try:
            result = request(d, op, **params)
        except NodeNotRunning as e:
            print(f"cryptnode: {e}", file=sys.stderr)
            return 1
        except RemoteError as e:
            print(f"cryptnode: {e}", file=sys.stderr)
            return 1
        fmt = getattr(args, "output", "table")
        if op in ("status",):
            _emit(result, fmt, _status_table)
        elif op in ("reboot", "reset", "apply_config", "advance"):
            summary = request(d, "status")
            _emit(summary, fmt, _status_table)
        elif result is not None:
            print(json.dumps(result, indent=2) if not isinstance(result, str) else result)
        return 0
    return run


def add_node_ops(sub) -> None:
    b = sub.add_parser("boot", help="power the node on (-n DIR) and run its boot sequence")
    b.add_argument("--config", help="a machine config offered like cmdline/platform config")
    b.set_defaults(func=_boot)
    sub.add_parser("reboot", help="reboot the running node").set_defaults(func=_remote("reboot"))
    sub.add_parser("shutdown", help="power the node off").set_defaults(func=_remote("shutdown"))
    a = sub.add_parser("apply-config", help="talosctl apply-config")
    a.add_argument("-f", "--file", required=True)
    a.add_argument("--mode", default="auto",
                   choices=["auto", "reboot", "no-reboot", "staged", "try"])
    a.add_argument("--insecure", action="store_true", help="maintenance mode")
    a.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")
    a.set_defaults(func=_remote("apply_config", yaml=lambda x: _read(x.file),
                                mode=lambda x: x.mode, insecure=lambda x: x.insecure))
    r = sub.add_parser("reset", help="talosctl reset --system-labels-to-wipe ...")
    r.add_argument("--system-labels-to-wipe", required=True,
                   help="comma-separated labels, e.g. EPHEMERAL,STATE")
    r.add_argument("--reboot", type=lambda v: v.lower() in ("1", "true", "yes"), default=False)
    r.add_argument("--graceful", type=lambda v: v.lower() in ("1", "true", "yes"), default=True)
    r.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")
    r.set_defaults(func=_remote("reset",
                                labels=lambda x: [s for s in x.system_labels_to_wipe.split(",")
                                                  if s],
                                reboot=lambda x: x.reboot, graceful=lambda x: x.graceful))
    g = sub.add_parser("get", help="get volumestatus")
    g.add_argument("resource", choices=["volumestatus", "volumestatuses", "meta"])
    g.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")
    g.set_defaults(func=lambda x: _remote("meta" if x.resource == "meta" else "status")(x))
    v = sub.add_parser("advance", help="move the node's virtual clock")
    v.add_argument("seconds", type=float)
    v.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")
    v.set_defaults(func=_remote("advance", seconds=lambda x: x.seconds))


# --- kms --------------------------------------------------------------------------------------

def _kms_serve(args) -> int:
    import signal
    import threading
    from .node import KmsServer
    server = KmsServer.start(args.listen)
    print(f"KMS listening on {server.endpoint} (sidero.kms.KMSService, plaintext)", flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop()
    return 0


def add_kms(sub) -> None:
    p = sub.add_parser("kms", help="run a KMS server (like talosctl kms-launch)")
    ksub = p.add_subparsers(dest="kms_cmd", required=True, metavar="COMMAND")
    s = ksub.add_parser("serve", help="serve sidero.kms.KMSService until interrupted")
    s.add_argument("--listen", default="127.0.0.1:4050",
                   help="host:port (loopback) or unix:/path (default 127.0.0.1:4050)")
    s.set_defaults(func=_kms_serve)


COMMANDS: List[Callable] = [add_config, add_node, add_node_ops, add_kms, add_demo]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cryptnode",
        description="Talos Linux disk encryption on a simulated node made of real parts.")
    p.add_argument("--version", action="version", version=f"cryptnode {__version__}")
    p.add_argument("-n", "--node", metavar="DIR", help="the node directory (talosctl's -n)")
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
