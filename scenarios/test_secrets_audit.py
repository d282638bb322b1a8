"""Secrets audit: after flows that use every key kind (static, nodeID, KMS, TPM, lockToSTATE) — a
first boot, a reboot, a rotation that updates a slot, a KMS outage, a rejected config, a reset, and
the same node driven through the CLI's node process — no passphrase, volume key, salt or unsealed
blob appears in the node's events, node.log, node.json, the node process's socket replies, error
messages, any process's command line sampled during the run, or a file under the node directory
other than the disk images (the salt is inside STATE's encrypted image). The node directory, run/
and the socket are the owner's only; a peer of another uid is refused (SO_PEERCRED, tested from a
forked child that drops to another uid); read_file/write_file refuse symlinks that lead out of a
volume. The volume keys come from `cryptsetup luksDump --dump-volume-key` with a known passphrase
on stdin; KMS and TPM passphrases are random, so every 44-character base64 string found anywhere
is tried against their keyslots (`cryptsetup open --test-passphrase`)."""

import base64
import json
import os
import re
import secrets
import socket
import stat
import subprocess
import threading
import time

import pytest
import yaml

from configs import config, kms, node_id, static, tpm, user_volume_config, volume_config
from cryptnode import daemon

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="simulated nodes need root"),
              pytest.mark.tpm, pytest.mark.kms, pytest.mark.slow]


def _pass(name):
    return f"{name}-{secrets.token_hex(12)}"


class Sampler(threading.Thread):
    """Samples every process's command line, and the small files under the watched node
    directories (not the disk images, not mounted volumes), while the flows run."""

    def __init__(self):
        super().__init__(daemon=True)
        self.cmdlines, self.files, self.dirs = set(), {}, []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(0.02)

    def sample(self):
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        self.cmdlines.add(f.read())
                except OSError:
                    pass
        for d in list(self.dirs):
            for path, data in node_files(d).items():
                self.files.setdefault(path, set()).add(data)


def node_files(node_dir):
    """{path: bytes} of every regular file under a node directory except the disk images, skipping
    mounted volumes (their content is the volume's, not the node directory's). A volume mounted
    while the walk runs (after its directory was checked) is told apart by the file's device: the
    node directory's filesystem is the only one read."""
    out = {}
    try:
        node_dev = os.stat(node_dir).st_dev
    except OSError:
        return out
    for root, dirs, files in os.walk(node_dir):
        dirs[:] = [d for d in dirs if not os.path.ismount(os.path.join(root, d))
                   and not (root == node_dir and d == "disks")]
        for name in files:
            p = os.path.join(root, name)
            try:
                if stat.S_ISREG(os.lstat(p).st_mode) and os.path.getsize(p) < (8 << 20):
                    with open(p, "rb") as f:
                        if os.fstat(f.fileno()).st_dev == node_dev:
                            out[p] = f.read()
            except OSError:
                pass
    return out


def forms(secret: bytes):
    """The shapes a secret could leak in: raw, hex (plain and as luksDump prints it), base64."""
    out = {secret, secret.hex().encode(), " ".join(f"{b:02x}" for b in secret[:16]).encode(),
           base64.b64encode(secret)}
    return {f for f in out if len(f) >= 8}


B64_KEY = re.compile(rb"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])")


def volume_key(device, passphrase: bytes, slot=None):
    argv = ["cryptsetup", "luksDump", "--dump-volume-key", "--batch-mode", "--key-file=-"]
    if slot is not None:
        argv += ["--key-slot", str(slot)]
    r = subprocess.run(argv + [device], input=passphrase, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    m = re.search(r"MK dump:\s*((?:[0-9a-f]{2}\s+)+)", r.stdout.decode())
    key = bytes.fromhex("".join(m.group(1).split()))
    assert len(key) == 64  # aes-xts-plain64, 512 bits
    return key


def opens(device, slot, passphrase: bytes) -> bool:
    r = subprocess.run(["cryptsetup", "open", "--test-passphrase", "--key-slot", str(slot),
                        "--key-file=-", device], input=passphrase, capture_output=True,
                       timeout=120)
    return r.returncode == 0


class Audit:
    def __init__(self):
        self.secrets = {}      # what -> bytes
        self.texts = {}        # where -> bytes (events, replies, error messages, outputs)
        self.token_slots = []  # (device, slot) of KMS and TPM keyslots, for the candidates
        self.node_dirs = []

    def secret(self, what, value):
        self.secrets[what] = value if isinstance(value, bytes) else value.encode()

    def text(self, where, value):
        value = value if isinstance(value, bytes) else str(value).encode()
        self.texts[where] = self.texts.get(where, b"") + value + b"\n"

    def statuses(self, node, label):
        for st in node.volumes():
            self.text(f"error messages ({label})", st.error_message)
            self.text(f"error messages ({label})", "\n".join(st.encryption_failed_syncs))

    def fails(self, label, fn, *args, **kwargs):
        try:
            fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - the message is what is audited
            self.text(f"error messages ({label})", f"{type(e).__name__}: {e}")
            return
        raise AssertionError(f"{label}: no error")


def python_flows(audit, kms_server, node_factory, tmp_path):
    ep = kms_server.endpoint
    s_eph, s_eph2, s_data = _pass("eph"), _pass("eph-rotated"), _pass("data")
    for what, v in (("static EPHEMERAL", s_eph), ("static EPHEMERAL rotated", s_eph2),
                    ("static u-data", s_data)):
        audit.secret(what, v)

    def cfg(eph_static):
        return config(
            volume_config("STATE", keys=[node_id()]),
            volume_config("EPHEMERAL", keys=[static(eph_static, 0), tpm(1), kms(ep, 2)]),
            user_volume_config("data", keys=[node_id(0, lock_to_state=True),
                                             static(s_data, 1, lock_to_state=True)]))

    node = node_factory()
    audit.node_dirs.append(node.path)
    uuid = node._core().settings.uuid
    for vol in ("STATE", "EPHEMERAL", "u-data"):
        audit.secret(f"nodeID {vol}", uuid + vol)
    node.boot(config=cfg(s_eph))
    audit.statuses(node, "first boot")
    assert [(v.id, v.phase) for v in node.volumes() if v.phase != "ready"] == [], \
        [(v.id, v.phase, v.error_message) for v in node.volumes()]
    node.write_file("EPHEMERAL", "f", b"x")
    salt = bytes(yaml.safe_load(node.read_file("STATE", "encryption-salt.yaml"))["diskSalt"])
    assert len(salt) == 32
    audit.secret("salt", salt)
    audit.secret("nodeID u-data + salt", (uuid + "u-data").encode() + salt)
    audit.secret("static u-data + salt", s_data.encode() + salt)

    def keys(label, eph_pass):
        st = {v.id: v for v in node.volumes()}
        audit.secret(f"volume key STATE ({label})",
                     volume_key(st["STATE"].location, (uuid + "STATE").encode()))
        audit.secret(f"volume key EPHEMERAL ({label})",
                     volume_key(st["EPHEMERAL"].location, eph_pass.encode(), 0))
        audit.secret(f"volume key u-data ({label})",
                     volume_key(st["u-data"].location, s_data.encode() + salt, 1))
        audit.token_slots[:] = [(st["EPHEMERAL"].location, 1), (st["EPHEMERAL"].location, 2)]

    keys("first boot", s_eph)
    node.reboot()
    audit.statuses(node, "reboot")
    # Rotation: slot 0's passphrase changes; TPM slot 1 opens, syncKeys updates slot 0.
    node.apply_config(cfg(s_eph2), mode="reboot")
    audit.statuses(node, "rotation")
    assert node.volume_status("EPHEMERAL").encryption_slot == 1
    # KMS down: its slot fails to sync (an error message that names the slot, not the key).
    kms_server.set_fault("down")
    node.reboot()
    audit.statuses(node, "KMS down")
    kms_server.set_fault(None)
    node.advance(30)
    # A config that fails validation, holding a passphrase: the error must not echo it.
    bad = cfg(s_eph2).replace("slot: 2", "slot: 0")  # EPHEMERAL: duplicate key slot 0
    audit.fails("invalid config", node.apply_config, bad, mode="no-reboot")
    audit.fails("unparsable config", node.apply_config, "a: [" + s_eph2, mode="no-reboot")
    keys("rotated", s_eph2)
    for e in node.events():
        audit.text("events", f"{e.time_ms} {e.step} {e.message}")
    node.reset(["EPHEMERAL"], reboot=True)
    audit.statuses(node, "reset")
    keys("after reset", s_eph2)
    for e in node.events():
        audit.text("events", f"{e.time_ms} {e.step} {e.message}")
    audit.text("luks_dump", json.dumps(node.luks_dump("EPHEMERAL")))
    node.close()


def cli_flows(audit, kms_server, cli, tmp_path):
    s_cli = _pass("cli")
    audit.secret("static EPHEMERAL (CLI node)", s_cli)
    d = tmp_path / "cli-node"
    audit.node_dirs.append(str(d))
    r = cli("node", "create", d)
    assert r.returncode == 0, r
    text = config(volume_config("EPHEMERAL", keys=[static(s_cli, 0), kms(kms_server.endpoint, 1)]))
    (tmp_path / "cli.yaml").write_text(text)
    try:
        for args in (("boot", "--config", tmp_path / "cli.yaml"), ("get", "volumestatus", "-o",
                                                                    "json"),
                     ("get", "meta"), ("apply-config", "-f", tmp_path / "cli.yaml",
                                       "--mode", "reboot")):
            r = cli("-n", d, *args)
            assert r.returncode == 0, r
            audit.text("CLI output", r.raw_stdout + r.raw_stderr)
        for op, args in (("status", {}), ("events", {}), ("meta", {}),
                         ("luks_dump", {"volume_id": "EPHEMERAL"})):
            audit.text("socket replies", json.dumps(daemon.call(str(d), op, **args)))
        for bad in (text.replace("slot: 1", "slot: 0"), "{" + s_cli):
            try:
                daemon.call(str(d), "apply_config", config_b64=daemon.encode_config(bad.encode()))
            except daemon.RemoteError as e:
                audit.text("socket replies", json.dumps({"message": str(e), "node": e.node}))
            else:
                raise AssertionError("a bad config was accepted")
        (tmp_path / "bad.yaml").write_text(text.replace("slot: 1", "slot: 0"))
        r = cli("-n", d, "apply-config", "-f", tmp_path / "bad.yaml")
        assert r.returncode == 1, r
        audit.text("CLI output", r.raw_stdout + r.raw_stderr)
    finally:
        r = cli("-n", d, "shutdown")
        audit.text("CLI output", r.raw_stdout + r.raw_stderr)


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    from conftest import Result, run_cli
    from cryptnode import KmsServer, Node
    tmp = tmp_path_factory.mktemp("audit")
    a = Audit()
    sampler = Sampler()
    sampler.dirs = [str(tmp / "node0"), str(tmp / "cli-node")]
    sampler.start()
    made = []

    def factory():
        n = Node.create(tmp / f"node{len(made)}")
        made.append(n)
        return n

    kms_server = KmsServer.start()
    try:
        python_flows(a, kms_server, factory, tmp)
        cli_flows(a, kms_server, lambda *x, **k: Result(run_cli(*x, **k)), tmp)
    finally:
        for n in made:
            n.close()
        kms_server.stop()
        sampler.stop.set()
        sampler.join()
    sampler.sample()
    a.cmdlines = sampler.cmdlines
    a.sampled_files = sampler.files
    a.final_files = {}
    for d in a.node_dirs:
        a.final_files.update(node_files(d))
    return a


def _leaks(audit, blobs):
    """(secret, form) pairs found in any of the blobs {where: bytes}."""
    found = []
    for what, value in audit.secrets.items():
        for f in forms(value):
            for where, blob in blobs.items():
                if f in blob:
                    found.append(f"{what} in {where}")
    return sorted(set(found))


def test_the_audit_has_what_it_needs(audit):
    kinds = " ".join(audit.secrets)
    for kind in ("static", "nodeID", "salt", "volume key EPHEMERAL", "volume key STATE",
                 "volume key u-data"):
        assert kind in kinds
    assert len(audit.token_slots) == 2
    assert any(b"cryptsetup" in c or b"mkfs" in c or b"swtpm" in c for c in audit.cmdlines), \
        "the sampler saw none of the node's helper processes"
    assert audit.texts.get("events") and audit.texts.get("socket replies")
    assert any(p.endswith("node.log") for p in audit.final_files)
    assert any(p.endswith("node.json") for p in audit.final_files)


def test_no_secret_in_events_errors_replies_or_outputs(audit):
    assert _leaks(audit, audit.texts) == []


def test_no_secret_on_a_command_line(audit):
    assert _leaks(audit, {"a command line": b"\n".join(audit.cmdlines)}) == []


def test_no_secret_in_the_node_directory(audit):
    blobs = {p: d for p, d in audit.final_files.items()}
    for p, datas in audit.sampled_files.items():
        for i, d in enumerate(datas):
            blobs[f"{p} (sampled)#{i}"] = d
    assert _leaks(audit, blobs) == []


def test_no_kms_or_tpm_passphrase_anywhere(audit, node_factory):
    """Every standalone 44-character base64 string in what was audited is tried against the KMS
    and TPM keyslots of the audited volume."""
    blobs = [*audit.texts.values(), *audit.cmdlines, *audit.final_files.values()]
    for datas in audit.sampled_files.values():
        blobs.extend(datas)
    candidates = {m.group(0) for b in blobs for m in B64_KEY.finditer(b)}
    from cryptnode import Node
    with Node.open(audit.node_dirs[0]) as node:
        node.boot()
        st = node.volume_status("EPHEMERAL")
        assert st.phase == "ready"
        for cand in sorted(candidates):
            for _, slot in audit.token_slots:
                assert not opens(st.location, slot, cand), f"a keyslot {slot} passphrase leaked"


def test_node_directory_run_and_socket_are_the_owners_only(audit, cli, tmp_path):
    for d in audit.node_dirs:
        for root, dirs, files in os.walk(d):
            for name in dirs + files + ["."]:
                p = os.path.join(root, name)
                mode = stat.S_IMODE(os.lstat(p).st_mode)
                assert mode & 0o077 == 0, f"{p} is {oct(mode)}"
    d = tmp_path / "n"
    assert cli("node", "create", d).returncode == 0
    (tmp_path / "c.yaml").write_text(config())
    try:
        assert cli("-n", d, "boot", "--config", tmp_path / "c.yaml").returncode == 0
        for p in (d, d / "run", d / "run" / "api.sock", d / "node.log", d / "node.json"):
            mode = stat.S_IMODE(os.lstat(p).st_mode)
            assert mode & 0o077 == 0, f"{p} is {oct(mode)}"
    finally:
        cli("-n", d, "shutdown")


def _core_limit(pid):
    """(soft, hard) of RLIMIT_CORE of a process, from /proc/PID/limits."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max core file size"):
                return tuple(line.split()[4:6])
    raise AssertionError(f"no core limit in /proc/{pid}/limits")


def test_the_node_process_and_its_swtpm_never_dump_core(cli, tmp_path):
    """A core dump of the node process would hold volume keys, passphrases and unsealed blobs:
    the process refuses core dumps (RLIMIT_CORE 0, soft and hard), and so does its swtpm."""
    d = tmp_path / "n"
    assert cli("node", "create", d).returncode == 0
    (tmp_path / "c.yaml").write_text(config(volume_config("EPHEMERAL", keys=[tpm(0)])))
    try:
        assert cli("-n", d, "boot", "--config", tmp_path / "c.yaml").returncode == 0
        pid = daemon.call(str(d), "status")["node"]["pid"]
        assert _core_limit(pid) == ("0", "0")
        children = []
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    with open(f"/proc/{p}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    with open(f"/proc/{p}/comm") as f:
                        comm = f.read().strip()
                except OSError:
                    continue
                if ppid == pid and comm == "swtpm":
                    children.append(int(p))
        assert children, "the node process has no swtpm child"
        for c in children:
            assert _core_limit(c) == ("0", "0")
    finally:
        cli("-n", d, "shutdown")


# --- the socket refuses another uid ---------------------------------------------------------

class _App:
    def handle(self, req):
        return {"ok": True, "result": "served", "node": {}}


def _as_uid(uid, fn):
    """Runs fn() in a forked child that dropped to uid; its result (a str) comes back."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(r)
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            out = fn()
        except BaseException as e:  # noqa: BLE001
            out = f"{type(e).__name__}: {e}"
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    os.waitpid(pid, 0)
    return out


def test_a_peer_of_another_uid_is_refused(tmp_path_factory):
    import tempfile
    base = tempfile.mkdtemp(prefix="cryptnode-peer-")  # /tmp: others may traverse it
    try:
        os.chmod(base, 0o711)
        path = os.path.join(base, "run", "api.sock")
        server = daemon.Server(path, _App())
        t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                             daemon=True)
        t.start()
        nobody = 65534

        def talk():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(path)
            s.sendall(b'{"op": "status"}\n')
            return s.makefile("rb").readline().decode()

        try:
            # As made: run/ is 0700, the socket 0600; another uid cannot even reach it.
            assert _as_uid(nobody, talk).startswith("PermissionError")
            # Were both opened to everyone, SO_PEERCRED still refuses the other uid.
            os.chmod(os.path.dirname(path), 0o711)
            os.chmod(path, 0o666)
            reply = json.loads(_as_uid(nobody, talk))
            assert not reply["ok"] and reply["error"]["code"] == "permission_denied"
            assert f"uid {nobody} is not the node's owner" in reply["error"]["message"]
            assert daemon.call(base, "status", timeout=30)["result"] == "served"  # the owner
        finally:
            server.shutdown()
            server.server_close()
    finally:
        import shutil
        shutil.rmtree(base, ignore_errors=True)


# --- symlinks out of a volume ---------------------------------------------------------------

def test_symlinked_file_and_directory_out_of_a_volume_are_refused(node, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"outside")
    node.boot(config=config(volume_config("EPHEMERAL", keys=[node_id()])))
    mnt = node.volume_status("EPHEMERAL").mount_point
    os.symlink(outside / "secret.txt", os.path.join(mnt, "file-link"))
    os.symlink(outside, os.path.join(mnt, "dir-link"))
    os.symlink("../../../../../../../../..", os.path.join(mnt, "up-link"))
    for path in ("file-link", "dir-link/secret.txt", "dir-link/new.txt", "up-link/etc/passwd"):
        with pytest.raises(Exception) as e:
            node.read_file("EPHEMERAL", path)
        assert path in str(e.value) or "outside" in str(e.value) or "beneath" in str(e.value), \
            str(e.value)
        with pytest.raises(Exception) as e:
            node.write_file("EPHEMERAL", path, b"written through a link")
        assert path in str(e.value) or "outside" in str(e.value) or "beneath" in str(e.value), \
            str(e.value)
    assert (outside / "secret.txt").read_bytes() == b"outside"
    assert sorted(os.listdir(outside)) == ["secret.txt"]
    node.write_file("EPHEMERAL", "ok.txt", b"fine")  # a plain path still works
    assert node.read_file("EPHEMERAL", "ok.txt") == b"fine"
