"""The `cryptnode` command line (also `python3 -m cryptnode`). Each subcommand is one function
that adds its parser; output is readable by people (table) and by programs (-o json|yaml).

Errors are one line on stderr ("cryptnode: <input>: <what>") with exit code 1; argparse's usage
errors exit 2. No message ever carries config text: configs are read as bytes and handed to the
native code as bytes, and a native call's TypeError (which would list its arguments) is reported
without them."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Callable, Dict, List, Optional

from . import __version__
from ._core import Error

EXIT_ERROR = 1


class Failure(Exception):
    """A one-line error for the user (exit code 1)."""


# --- argument types and shared options --------------------------------------------------------

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def boolean(text: str) -> bool:
    """Go's strconv.ParseBool, which talosctl's boolean flags use: anything else is an error."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r} (use true or false)")


boolean.__name__ = "boolean"


def add_bool(p: argparse.ArgumentParser, flag: str, default: bool, help: str) -> None:  # noqa: A002
    """--flag (true), --flag=true|false; and --no-flag for the command lines of old."""
    dest = flag.lstrip("-").replace("-", "_")
    p.add_argument(flag, dest=dest, type=boolean, nargs="?", const=True, default=default,
                   metavar="BOOL", help=f"{help} (default {str(default).lower()})")
    p.add_argument("--no-" + flag.lstrip("-"), dest=dest, action="store_const", const=False,
                   help=argparse.SUPPRESS)


def _output_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table",
                   help="output format (default table)")
    return p


def _node_parent() -> argparse.ArgumentParser:
    # SUPPRESS: a subcommand without -n keeps the value given before the subcommand.
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("-n", "--node", metavar="DIR", default=argparse.SUPPRESS,
                   help="the node directory (talosctl's -n)")
    return p


OUTPUT = _output_parent()
NODE = _node_parent()


def _command(sub, name: str, help: str, example: str,  # noqa: A002
             parents=(), **kw) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=help, parents=list(parents),
                          epilog="example:\n" + "\n".join("  " + line
                                                         for line in example.splitlines()),
                          formatter_class=argparse.RawDescriptionHelpFormatter, **kw)


# --- output -----------------------------------------------------------------------------------

def _emit(data: Any, fmt: str, table: Callable[[Any], str]) -> None:
    if fmt == "json":
        print(json.dumps(data, indent=2))
    elif fmt == "yaml":
        try:
            import yaml  # python3-yaml (Debian)
            print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
        except ImportError:  # pragma: no cover - python3-yaml is in scripts/setup
            print(json.dumps(data, indent=2))
    else:
        print(table(data))


def read_bytes(path: str, what: str = "") -> bytes:
    """A file's bytes (- for stdin). A missing or unreadable file names the file."""
    label = f"{what} {path}".strip() if what else path
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise Failure(f"cannot read {label}: {e.strerror}") from None


# --- config -----------------------------------------------------------------------------------

def _check_table(d: Dict[str, Any]) -> str:
    lines = ["valid" if d["valid"] else "invalid"] if not d["errors"] else list(d["errors"])
    lines += [f"warning: {w}" for w in d["warnings"]]
    lines += [f"hint: {h}" for h in d["hints"]]
    return "\n".join(lines)


def _config_validate(args) -> int:
    from ._core import check_config
    text = read_bytes(args.file)
    report = check_config(text, talos_version=_talos_version(args))
    errors = list(report["errors"])
    out = {"file": args.file, "talosVersion": _talos_version(args, resolve=True),
           "valid": not errors, "errors": errors, "warnings": list(report["warnings"]),
           "hints": list(report["hints"])}
    _emit(out, args.output, _check_table)
    return 0 if not errors else EXIT_ERROR


def _talos_version(args, resolve: bool = False) -> str:
    """--talos-version as given ("" for the default), or resolved to a full release."""
    v = getattr(args, "talos_version", None) or ""
    if not resolve:
        return v
    from ._core import resolve_version
    return resolve_version(v or "1.12")


def _config_describe(args) -> int:
    from .describe import describe, format_table
    text = read_bytes(args.file)
    try:
        desc = describe(text, talos_version=_talos_version(args))
    except Error as e:
        raise Failure(f"{args.file}: {e}") from None
    _emit(desc, args.output, format_table)
    return 0 if desc["valid"] else EXIT_ERROR


def add_config(sub) -> None:
    p = _command(sub, "config", "validate or describe a machine config",
                 "cryptnode config validate controlplane.yaml")
    csub = p.add_subparsers(dest="config_cmd", required=True, metavar="COMMAND")
    v = _command(csub, "validate",
                 "Talos' validation errors, then cryptnode's warnings and hints (exit 1 only "
                 "for errors)",
                 "cryptnode config validate worker.yaml\n"
                 "cryptnode config validate --talos-version 1.14 -o json - < worker.yaml",
                 parents=[OUTPUT])
    v.add_argument("file", help="machine config YAML (- for stdin)")
    v.add_argument("--talos-version", metavar="V", help="validate as that Talos release does "
                   "(1.12, 1.13, 1.14 or a full version; default 1.12)")
    v.set_defaults(func=_config_validate)
    d = _command(csub, "describe",
                 "what each document configures and the passphrase kind per slot",
                 "cryptnode config describe worker.yaml -o yaml", parents=[OUTPUT])
    d.add_argument("file", help="machine config YAML (- for stdin)")
    d.add_argument("--talos-version", metavar="V", help="parse as that Talos release does")
    d.set_defaults(func=_config_describe)


# --- gen config -------------------------------------------------------------------------------

def _gen_config(args) -> int:
    from ._core import gen_config
    sys.stdout.write(gen_config(args.type))
    return 0


def add_gen(sub) -> None:
    p = _command(sub, "gen", "talosctl gen config for a simulated node",
                 "cryptnode gen config > worker.yaml\n"
                 "cryptnode gen config --type controlplane")
    gsub = p.add_subparsers(dest="gen_cmd", required=True, metavar="COMMAND")
    g = _command(gsub, "config", "a minimal machine config (a v1alpha1 document) on stdout, to "
                 "which VolumeConfig documents are appended or patched",
                 "cryptnode gen config > worker.yaml")
    g.add_argument("--type", default="worker", choices=["worker", "controlplane"],
                   help="machine.type of the generated config (default worker)")
    g.set_defaults(func=_gen_config)


# --- demo, versions, fault points -------------------------------------------------------------

def _demo(args) -> int:
    from .demo import run
    return run(flows=not args.examples_only, extras=not args.flows_only)


def add_demo(sub) -> None:
    p = _command(sub, "demo", "the Talos disk-encryption documentation's examples and flows",
                 "cryptnode demo --examples-only")
    p.add_argument("--examples-only", action="store_true",
                   help="only describe the documentation's config examples (no node)")
    p.add_argument("--flows-only", action="store_true",
                   help="stop after the documentation's flows (no crash matrix, no bug replay)")
    p.set_defaults(func=_demo)


def _versions_table(rows: List[Dict[str, Any]]) -> str:
    from ._core import known_versions
    out = ["Talos releases: " + ", ".join(known_versions()),
           f"{'RULE':<36} {'SINCE':<8} {'UNTIL':<8} DESCRIPTION"]
    for r in rows:
        out.append(f"{r['rule']:<36} {r['since']:<8} {r['until'] or '-':<8} {r['description']}")
    return "\n".join(out)


def _versions(args) -> int:
    from ._core import versions
    _emit(list(versions()), args.output, _versions_table)
    return 0


def _fault_points(args) -> int:
    from ._core import fault_points
    rows = [{"name": n, "description": d} for n, d in fault_points()]
    _emit(rows, args.output,
          lambda rs: "\n".join(f"{r['name']:<36} {r['description']}" for r in rs))
    return 0


def add_info(sub) -> None:
    v = _command(sub, "versions", "the Talos releases and their version-dependent rules",
                 "cryptnode versions -o json", parents=[OUTPUT])
    v.set_defaults(func=_versions)
    f = _command(sub, "fault-points", "the fault points `crash-at` can arm",
                 "cryptnode fault-points\ncryptnode -n ./node1 crash-at meta.between_copies",
                 parents=[OUTPUT])
    f.set_defaults(func=_fault_points)


# --- node -------------------------------------------------------------------------------------
# `cryptnode node create DIR` makes a node directory; `cryptnode -n DIR boot` starts the node
# process (it owns loop devices, mounts and FUSE until the node powers off, like a VM process);
# the other commands talk to it over DIR/run/api.sock.

def _node_create(args) -> int:
    from .node import Node, parse_size
    if not args.dir:
        raise Failure("node create: the directory name is empty")
    sizes = []
    for s in args.disk or list(Node.DEFAULT_DISKS):
        try:
            sizes.append(parse_size(s))
        except ValueError as e:
            raise Failure(f"--disk {s}: {e}") from None
    from ._core import resolve_version
    try:
        resolve_version(args.talos_version)
    except Exception as e:  # noqa: BLE001 - the engine's text names the accepted range
        raise Failure(f"--talos-version: {e}") from None
    cas = [read_bytes(f, "--trusted-ca").decode("utf-8", "replace") for f in args.trusted_ca or []]
    n = Node.create(args.dir, uuid=args.uuid, disks=sizes, tpm=args.tpm,
                    secure_boot=args.secure_boot, pbkdf=args.pbkdf,
                    talos_version=args.talos_version, backend=args.backend,
                    layout=args.layout, trusted_cas=cas, uki_vendor=args.uki_vendor)
    path = n.path
    n.close()
    print(f"created {path}")
    return 0


def add_node(sub) -> None:
    p = _command(sub, "node", "create a node directory", "cryptnode node create ./node1")
    nsub = p.add_subparsers(dest="node_cmd", required=True, metavar="COMMAND")
    c = _command(nsub, "create", "a node directory with node.json and sparse disk images",
                 "cryptnode node create ./node1 --disk 2GiB --disk 1GiB --talos-version 1.14")
    c.add_argument("dir", help="the node directory to create (must not exist or be empty)")
    c.add_argument("--uuid", help="SMBIOS system UUID (default: random)")
    c.add_argument("--disk", action="append", metavar="SIZE",
                   help="a disk size (repeat; the first is the system disk; default 1GiB 512MiB)")
    add_bool(c, "--tpm", True, "a TPM (swtpm)")
    add_bool(c, "--secure-boot", True, "UEFI Secure Boot enabled")
    c.add_argument("--pbkdf", choices=["fast", "production"], default="fast",
                   help="keyslot KDF: fast (argon2id at its minimum cost, for tests) or "
                        "production (cryptsetup's benchmarked default, as Talos) (default fast)")
    c.add_argument("--talos-version", default="1.12", metavar="VERSION",
                   help="a Talos release: 1.12.0 ... 1.12.11, 1.13.x, 1.14.x, or a bare minor "
                        "(the newest patch); `cryptnode versions` lists them (default 1.12)")
    c.add_argument("--backend", choices=["auto", "kernel", "userspace"], default="auto",
                   help="how LUKS volumes are mapped: kernel dm-crypt, userspace (FUSE + "
                        "AES-XTS), or auto (kernel when the host has device-mapper) "
                        "(default auto)")
    c.add_argument("--layout", choices=["compact", "talos"], default="compact",
                   help="partition sizes: compact (small, for tests) or talos (Talos' own)")
    c.add_argument("--trusted-ca", action="append", metavar="FILE",
                   help="a PEM certificate for the node's OS CA bundle, trusted by its KMS "
                        "client for https:// endpoints (repeat)")
    c.add_argument("--uki-vendor", default="siderolabs", metavar="NAME",
                   help="whose PCR signing key signs the node's UKIs (default siderolabs)")
    c.set_defaults(func=_node_create)


def node_dir(args) -> str:
    """The -n directory, checked: it exists, is a directory and holds node.json."""
    d = getattr(args, "node", None)
    if not d:
        raise Failure("this command needs -n DIR (the node directory)")
    if not os.path.exists(d):
        raise Failure(f"-n {d}: no such directory")
    if not os.path.isdir(d):
        raise Failure(f"-n {d}: not a directory")
    if not os.path.exists(os.path.join(d, "node.json")):
        raise Failure(f"-n {d}: not a cryptnode node directory (no node.json; make one with "
                      f"`cryptnode node create {d}`)")
    return d


def _status_table(summary: Dict[str, Any]) -> str:
    rows = [f"{'ID':<12} {'PHASE':<11} {'ENCRYPTION':<10} {'SLOT':<5} ERROR"]
    for v in summary["volumes"]:
        slot = "" if v["encryptionSlot"] is None else str(v["encryptionSlot"])
        err = " ".join((v["errorMessage"] or "").split())
        rows.append(f"{v['id']:<12} {v['phase']:<11} {v['encryptionProvider'] or '-':<10} "
                    f"{slot:<5} {err}")
    head = f"node {summary['path']}: {summary['state']}"
    if summary.get("lastCrash"):
        head += f" (lost power at fault point {summary['lastCrash']})"
    return head + ("\n" + "\n".join(rows) if summary["volumes"] else "")


def _not_running_reason(summary: Dict[str, Any]) -> Optional[str]:
    """Why a boot did not reach running (None when it did, or waits in maintenance for a config).
    """
    if summary["state"] in ("running", "maintenance"):
        return None
    if summary.get("lastCrash"):
        return f"the node lost power at fault point {summary['lastCrash']}"
    failed = [v for v in summary["volumes"] if v["phase"] == "failed"]
    if failed:
        return "; ".join(f"volume {v['id']} failed: {' '.join(v['errorMessage'].split())}"
                         for v in failed)
    waiting = [v["id"] for v in summary["volumes"] if v["phase"] != "ready"]
    return f"volumes not ready: {', '.join(waiting)}" if waiting else f"node is {summary['state']}"


def _alive(pid: int) -> bool:
    """A zombie has ended once its last thread has (the threads share its files: the node lock)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        return not zombie or len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def _wait_gone(pid: int, timeout: float = 60.0) -> None:
    import time
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _boot(args) -> int:
    import subprocess
    from .daemon import NodeNotRunning, RemoteError, call
    d = node_dir(args)
    config = read_bytes(args.config, "config") if args.config else None
    try:
        resp = call(d, "status", timeout=10)
        raise Failure(f"node {d} is already running (pid {resp['node']['pid']}): use "
                      f"`cryptnode -n {d} shutdown` first")
    except (NodeNotRunning, RemoteError, OSError):
        pass
    r, w = os.pipe()
    cmd = [sys.executable, "-m", "cryptnode.daemon", os.path.abspath(d), str(w)]
    if config is not None:
        cmd.append("--config-stdin")
    proc = subprocess.Popen(cmd, pass_fds=(w,), stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    os.close(w)
    try:
        proc.stdin.write(config or b"")
        proc.stdin.close()
    except BrokenPipeError:
        pass
    with os.fdopen(r) as f:
        line = f.readline()
    if not line:
        raise Failure(f"node {d}: the node process ended (exit code {proc.wait()}); see "
                      f"{os.path.join(d, 'node.log')}")
    resp = json.loads(line)
    if not resp["ok"]:
        proc.wait()
        raise Failure(f"boot {d}: {resp['error']['message']}")
    summary = resp["result"]
    _emit(summary, args.output, _status_table)
    reason = _not_running_reason(summary)
    if reason:
        still = "" if summary["state"] == "off" else (
            f" (the node stays on and retries; `cryptnode -n {d} shutdown` powers it off)")
        print(f"cryptnode: boot did not reach running: {reason}{still}", file=sys.stderr)
        return EXIT_ERROR
    if summary["state"] == "maintenance":
        print(f"maintenance mode: waiting for a config (`cryptnode -n {d} apply-config "
              f"--insecure -f FILE`)", file=sys.stderr)
    return 0


def _recover(d: str) -> int:
    """shutdown of a node whose process is gone: opening the directory clears what the process
    left (mounts, FUSE, loop devices)."""
    from . import host
    from .node import Node
    before = host.node_leftovers(d)
    stale_socket = os.path.lexists(os.path.join(d, "run", "api.sock"))
    Node.open(d).close()
    if stale_socket:
        try:
            os.unlink(os.path.join(d, "run", "api.sock"))
        except FileNotFoundError:
            pass
    after = host.node_leftovers(d)
    cleared = {k: sorted(set(v) - set(after[k])) for k, v in before.items()}
    text = host.describe(cleared)
    if stale_socket:
        text = ", ".join(filter(None, [text, "a stale run/api.sock"]))
    if text:
        print(f"node {d} was not running: cleared what its node process left: {text}")
    else:
        print(f"node {d} is not running (nothing to clear)")
    left = host.describe(after)
    if left:
        raise Failure(f"node {d}: still left after recovery: {left}")
    return 0


def _remote(op: str, **params: Callable[[Any], Any]):
    def run(args) -> int:
        from .daemon import NodeNotRunning, RemoteError, call
        d = node_dir(args)
        kw = {k: f(args) for k, f in params.items()}
        try:
            resp = call(d, op, **kw)
        except NodeNotRunning as e:
            if op == "shutdown":
                return _recover(d)
            raise Failure(str(e)) from None
        except RemoteError as e:
            if e.node and e.node.get("state") == "off":
                _wait_gone(e.node["pid"])
            # The input that was refused, named as it was given: the config file, the patch.
            where = (f"apply-config -f {args.file}: " if op == "apply_config" else
                     f"patch mc --patch {args.patch}: " if op == "patch_config" else "")
            raise Failure(where + str(e)) from None
        summary, result = resp["node"], resp.get("result")
        if summary["state"] == "off":
            _wait_gone(summary["pid"])  # the node process ends with the power
        fmt = getattr(args, "output", "table")
        if op == "meta":
            _emit(result, fmt, lambda m: json.dumps(m, indent=2))
        elif op == "crash_at":
            print(f"armed fault point {args.point}: the node loses power when it reaches it")
        elif op == "shutdown":
            print(f"node {d}: off")
        else:
            if op == "apply_config":
                print(f"applied configuration: mode {result}", file=sys.stderr)
            _emit(summary, fmt, _status_table)
            if summary.get("lastCrash"):
                print(f"cryptnode: the node lost power at fault point {summary['lastCrash']}",
                      file=sys.stderr)
                return EXIT_ERROR
        return 0
    return run


def _remote_or_off(op: str, **params: Callable[[Any], Any]):
    """An operation on the node process when the node runs, else on the powered-off node's
    directory (firmware settings and the TPM's state persist in it)."""
    remote = _remote(op, **params)

    def run(args) -> int:
        from .daemon import NodeNotRunning, call
        from .node import Node
        d = node_dir(args)
        try:
            call(d, "status")
        except NodeNotRunning:
            n = Node.open(d)
            try:
                getattr(n, op)(**{k: f(args) for k, f in params.items()})
            finally:
                n.close()
            print(f"node {d}: off; " + ("TPM cleared" if op == "clear_tpm" else
                                        "firmware settings saved for the next boot"))
            return 0
        return remote(args)
    return run


def _labels(args) -> List[str]:
    labels: List[str] = []
    for value in args.system_labels_to_wipe:
        for label in value.split(","):
            if not label.strip():
                raise Failure(f"--system-labels-to-wipe {value!r}: an empty label")
            labels.append(label.strip())
    return labels


def _config_arg(args) -> str:
    from .daemon import encode_config
    return encode_config(read_bytes(args.file, "config"))


def _patch_arg(args) -> str:
    from .daemon import encode_config
    spec = args.patch
    if spec.startswith("@"):
        spec = spec[1:]
    elif spec != "-":
        raise Failure("patch: --patch takes @FILE (inline patches are not supported)")
    return encode_config(read_bytes(spec, "patch"))


def _fault_point(args) -> str:
    from ._core import fault_points
    names = [n for n, _ in fault_points()]
    if args.point.split("#", 1)[0] not in names:  # "<point>#<N>": the Nth reach
        raise Failure(f"crash-at {args.point}: not a fault point (see `cryptnode fault-points`)")
    return args.point


def add_node_ops(sub) -> None:
    b = _command(sub, "boot", "power the node on (-n DIR) and run its boot sequence",
                 "cryptnode -n ./node1 boot --config worker.yaml", parents=[NODE, OUTPUT])
    b.add_argument("--config", metavar="FILE",
                   help="a machine config offered like a cmdline/platform config (- for stdin)")
    b.set_defaults(func=_boot)
    _command(sub, "reboot", "reboot the running node", "cryptnode -n ./node1 reboot",
             parents=[NODE, OUTPUT]).set_defaults(func=_remote("reboot"))
    _command(sub, "shutdown",
             "power the node off (after a crashed node process: clear what it left)",
             "cryptnode -n ./node1 shutdown", parents=[NODE]).set_defaults(
        func=_remote("shutdown"))
    a = _command(sub, "apply-config", "talosctl apply-config",
                 "cryptnode -n ./node1 apply-config -f worker.yaml --mode=staged",
                 parents=[NODE, OUTPUT])
    a.add_argument("-f", "--file", required=True, help="machine config YAML (- for stdin)")
    a.add_argument("--mode", default="auto",
                   choices=["auto", "reboot", "no-reboot", "staged", "try"],
                   help="talosctl's apply mode (default auto; reboot is refused from Talos 1.14)")
    add_bool(a, "--insecure", False, "apply in maintenance mode")
    a.set_defaults(func=_remote("apply_config", config_b64=_config_arg, mode=lambda x: x.mode,
                                insecure=lambda x: x.insecure))
    p = _command(sub, "patch", "talosctl patch machineconfig: a strategic-merge patch over the "
                 "active config, then apply-config in --mode",
                 "cryptnode -n ./node1 patch mc --patch @rotate.yaml --mode=no-reboot",
                 parents=[NODE, OUTPUT])
    p.add_argument("resource", choices=["mc", "machineconfig", "machineconfigs"],
                   help="the resource to patch: the machine config")
    p.add_argument("--patch", required=True, metavar="@FILE",
                   help="the patch: @FILE (- or @- for stdin), as talosctl takes it")
    p.add_argument("--mode", default="auto",
                   choices=["auto", "reboot", "no-reboot", "staged", "try"],
                   help="how the patched config is applied, as apply-config --mode (default auto)")
    p.set_defaults(func=_remote("patch_config", config_b64=_patch_arg, mode=lambda x: x.mode))
    u = _command(sub, "upgrade", "talosctl upgrade: reboot into another Talos release, disks kept",
                 "cryptnode -n ./node1 upgrade --to 1.12.9", parents=[NODE, OUTPUT])
    u.add_argument("--to", required=True, metavar="VERSION",
                   help="a Talos release: 1.12.9, 1.12 (the newest 1.12), ...")
    u.set_defaults(func=_remote("upgrade", to=lambda x: x.to))
    r = _command(sub, "reset", "talosctl reset --system-labels-to-wipe ...",
                 "cryptnode -n ./node1 reset --system-labels-to-wipe EPHEMERAL --reboot",
                 parents=[NODE, OUTPUT])
    r.add_argument("--system-labels-to-wipe", required=True, action="append", metavar="LABELS",
                   help="comma-separated labels, e.g. EPHEMERAL,STATE (repeatable)")
    add_bool(r, "--reboot", False, "reboot after the reset instead of powering off")
    add_bool(r, "--graceful", True, "a graceful reset")
    r.set_defaults(func=_remote("reset", labels=_labels, reboot=lambda x: x.reboot,
                                graceful=lambda x: x.graceful))
    g = _command(sub, "get", "get volumestatus | meta",
                 "cryptnode -n ./node1 get volumestatus -o yaml", parents=[NODE, OUTPUT])
    g.add_argument("resource", choices=["volumestatus", "volumestatuses", "meta"],
                   help="volumestatus: the node state and every VolumeStatus (Talos' field "
                        "names); meta: the META partition's tags")
    g.set_defaults(func=lambda x: _remote("meta" if x.resource == "meta" else "status")(x))
    v = _command(sub, "advance", "move the node's virtual clock (retry ticks, try-mode rollback)",
                 "cryptnode -n ./node1 advance 30", parents=[NODE, OUTPUT])
    v.add_argument("seconds", type=float,
                   help="seconds of virtual time to pass (the retry ticker fires every 30)")
    v.set_defaults(func=_remote("advance", seconds=lambda x: x.seconds))
    c = _command(sub, "crash-at", "arm a fault point: the node loses power when it reaches it",
                 "cryptnode -n ./node1 crash-at encryption.before_kill\n"
                 "cryptnode -n ./node1 apply-config -f rotated.yaml --mode=reboot",
                 parents=[NODE])
    c.add_argument("point", help="a name from `cryptnode fault-points`")
    c.set_defaults(func=_remote("crash_at", point=_fault_point))
    f = _command(sub, "firmware", "the UEFI settings the next boot measures into PCR 7 "
                 "(SecureBoot, SetupMode)",
                 "cryptnode -n ./node1 firmware --secure-boot=false\n"
                 "cryptnode -n ./node1 reboot", parents=[NODE, OUTPUT])
    add_bool(f, "--secure-boot", True, "UEFI Secure Boot enabled")
    add_bool(f, "--setup-mode", False, "UEFI setup mode (no platform key enrolled)")
    f.set_defaults(func=_remote_or_off("set_firmware", secure_boot=lambda x: x.secure_boot,
                                       setup_mode=lambda x: x.setup_mode))
    t = _command(sub, "clear-tpm", "tpm2_clear: a new storage root key, so every key sealed "
                 "before stops unsealing", "cryptnode -n ./node1 clear-tpm", parents=[NODE, OUTPUT])
    t.set_defaults(func=_remote_or_off("clear_tpm"))


# --- kms --------------------------------------------------------------------------------------

def _kms_serve(args) -> int:
    import shutil
    import signal
    import tempfile
    import threading
    from .node import KmsServer, parse_listen
    listen = parse_listen(args.listen, args.allow_remote)
    if args.cert_out and not args.tls:
        raise Failure("--cert-out needs --tls (a plaintext KMS has no certificate)")
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # errors come back as one line
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    server = KmsServer.start(listen, tls=args.tls, allow_remote=args.allow_remote)
    tmp = None
    try:
        if args.tls:
            # The CA is no secret: a node must be given it (trusted_cas, or a TrustedRootsConfig).
            if args.cert_out:
                ca_path = os.path.abspath(args.cert_out)
            else:
                tmp = tempfile.mkdtemp(prefix="cryptnode-kms-")
                ca_path = os.path.join(tmp, "kms-ca.pem")
            try:
                with open(ca_path, "w") as f:
                    f.write(server.ca_pem)
            except OSError as e:
                raise Failure(f"--cert-out {args.cert_out}: {e.strerror}") from None
            print(f"KMS listening on {server.endpoint} (sidero.kms.KMSService, TLS)", flush=True)
            print(f"CA certificate written to {ca_path}"
                  + ("" if args.cert_out else " (removed when the server stops)"), flush=True)
        else:
            print(f"KMS listening on {server.endpoint} (sidero.kms.KMSService, plaintext)",
                  flush=True)
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def add_kms(sub) -> None:
    p = _command(sub, "kms", "run a KMS server (like talosctl kms-launch)",
                 "cryptnode kms serve --listen 127.0.0.1:4050")
    ksub = p.add_subparsers(dest="kms_cmd", required=True, metavar="COMMAND")
    s = _command(ksub, "serve", "serve sidero.kms.KMSService until interrupted",
                 "cryptnode kms serve --listen 127.0.0.1:4050\n"
                 "cryptnode kms serve --listen 127.0.0.1:4443 --tls --cert-out kms-ca.pem\n"
                 "cryptnode kms serve --listen 0.0.0.0:4050 --allow-remote")
    s.add_argument("--listen", default="127.0.0.1:4050",
                   help="host:port (loopback), [::1]:port or unix:/path (default 127.0.0.1:4050)")
    s.add_argument("--allow-remote", action="store_true",
                   help="listen on an address that is not loopback")
    s.add_argument("--tls", action="store_true",
                   help="serve TLS (endpoint https://...) with a CA generated at start and a "
                        "certificate for localhost, 127.0.0.1 and ::1")
    s.add_argument("--cert-out", metavar="FILE",
                   help="with --tls: write the CA certificate (PEM) to FILE (default: a "
                        "temporary file, printed, removed at stop)")
    s.set_defaults(func=_kms_serve)


# --- bugs -------------------------------------------------------------------------------------

def _bugs_table(rows: List[Dict[str, Any]]) -> str:
    out = [f"{'BUG':<20} {'LIVED IN':<30} {'FIXED IN':<22} {'REPRODUCED':<10} TITLE"]
    for r in rows:
        out.append(f"{r['bug']:<20} {r['livedIn']:<30} {r['fixedIn']:<22} "
                   f"{r['reproduced'] or '-':<10} {r['title']}")
    return "\n".join(out)


def _bugs(args) -> int:
    from . import bugs as catalogue
    try:
        chosen = [catalogue.bug(i) for i in args.bug] if args.bug else list(catalogue.CATALOGUE)
    except KeyError as e:
        raise Failure(str(e.args[0])) from None
    results: Dict[str, str] = {}
    if args.run:
        try:
            results = catalogue.run(chosen, args.scenarios)
        except FileNotFoundError as e:
            raise Failure(str(e)) from None
    rows = [{"bug": b.id, "title": b.title, "livedIn": b.lived_in, "fixedIn": b.fixed_in,
             "reproduced": results.get(b.id) or ("skip" if b.skip else None),
             "tpm": b.tpm, "skipReason": b.skip, "userSees": b.user_sees,
             "rules": list(b.rules), "scenario": "scenarios/bugs/" + b.scenario,
             "command": b.command} for b in chosen]
    _emit(rows, args.output, _bugs_table)
    return 1 if any(r["reproduced"] == "no" for r in rows) else 0


def add_bugs(sub) -> None:
    p = _command(sub, "bugs", "the Talos encryption bug catalogue: where each bug lived, where it "
                 "was fixed, and whether this build reproduces it (--run)",
                 "cryptnode bugs\ncryptnode bugs --run talos#11502 -o json", parents=[OUTPUT])
    p.add_argument("bug", nargs="*", help="bug ids (default: the whole catalogue)")
    p.add_argument("--run", action="store_true",
                   help="replay each scenario on throwaway nodes (pytest, needs root) and fill "
                        "the REPRODUCED column: yes, no or skip")
    p.add_argument("--scenarios", metavar="DIR", default=None,
                   help="the scenarios/bugs directory (default: the source tree's)")
    p.set_defaults(func=_bugs)


# --- crash matrix -----------------------------------------------------------------------------

def _crash_matrix(args) -> int:
    from . import crash_matrix
    from .flows import unavailable_reason
    why = unavailable_reason()
    if why:
        raise Failure(f"crash-matrix: {why}")
    words = args.only or []

    def only(row) -> bool:
        return all(w in f"{row.flow} {row.point}" for w in words)

    def progress(row) -> None:
        print(f"{'ok' if row.ok else '!!'} {row.seconds:6.1f} s  {row.flow}: {row.point}",
              file=sys.stderr, flush=True)

    rows = crash_matrix.run(progress, only if words else None)
    if not rows:
        raise Failure(f"crash-matrix: no row matches --only {' '.join(words)}")
    _emit([r.as_dict() for r in rows], args.output, lambda _: crash_matrix.table(rows))
    return 0 if all(r.ok for r in rows) else EXIT_ERROR


def add_crash_matrix(sub) -> None:
    p = _command(sub, "crash-matrix", "cut the power at every fault point of a first boot, a key "
                 "rotation, a reset and a STATE migration; check what the next boot does",
                 "cryptnode crash-matrix\ncryptnode crash-matrix --only rotation after_kill -o json",
                 parents=[OUTPUT])
    p.add_argument("--only", nargs="+", metavar="WORD",
                   help="only the rows whose flow and point contain every WORD")
    p.set_defaults(func=_crash_matrix)


COMMANDS: List[Callable] = [add_config, add_gen, add_node, add_node_ops, add_kms, add_info,
                             add_bugs, add_demo]
COMMANDS.append(add_crash_matrix)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cryptnode",
        description="Talos Linux disk encryption on a simulated node made of real parts.",
        epilog="example:\n  cryptnode node create ./node1\n"
               "  cryptnode -n ./node1 boot --config worker.yaml\n"
               "  cryptnode -n ./node1 get volumestatus",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"cryptnode {__version__}")
    p.add_argument("-n", "--node", metavar="DIR", help="the node directory (talosctl's -n)")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return p


def one_line(text: str) -> str:
    """A multi-line message (Talos' multierror, a list of validation errors) on one line."""
    out = ""
    for line in (x.strip() for x in str(text).splitlines()):
        if not line:
            continue
        out += ("" if not out else " " if out.endswith(":") else "; ") + line
    return out


def _os_error(e: OSError) -> str:
    where = e.filename if e.filename is not None else ""
    return f"{where}: {e.strerror or e}" if where else (e.strerror or str(e))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (Failure, Error) as e:
        print(f"cryptnode: {one_line(str(e))}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `cryptnode demo | head`
        sys.stderr.close()
        return 0
    except OSError as e:
        print(f"cryptnode: {_os_error(e)}", file=sys.stderr)
    except TypeError:  # a native call's TypeError lists its arguments: never shown
        print(f"cryptnode: {args.cmd}: invalid arguments to a native call", file=sys.stderr)
    except ValueError as e:
        print(f"cryptnode: {e}", file=sys.stderr)
    return EXIT_ERROR
