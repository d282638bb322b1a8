"""The `cryptnode` command line, run as a user would (a subprocess of Debian's python3): every
failure is one line on stderr naming the input, exit code 1, no traceback, never a secret."""

import argparse
import json
import os
import signal
import time

import pytest

from cryptnode.cli import build_parser
from cryptnode.configs import config, node_id, user_volume_config
from cryptnode.host import node_leftovers

EPHEMERAL_NODEID = ("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
                    "  provider: luks2\n  keys:\n    - slot: 0\n      nodeID: {}\n")
BASE = "version: v1alpha1\nmachine:\n  type: worker\n"
SECRET = "TopSecretPass123"
# A Latin-1 é in a comment: not UTF-8, so go-yaml refuses the whole text.
LATIN1_WITH_SECRET = ("# caf\xe9\napiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\n"
                      "encryption:\n  provider: luks2\n  keys:\n    - slot: 0\n      static:\n"
                      f"        passphrase: {SECRET}\n").encode("latin-1")


def one_line_error(r, *expect):
    assert r.returncode == 1, r
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cryptnode: "), r
    for text in expect:
        assert text in lines[0], r
    return lines[0]


def pid_of(cli, d):
    r = cli("-n", d, "get", "volumestatus", "-o", "json")
    assert r.returncode == 0, r
    return r.json()["pid"]


def alive(pid):
    """pid runs: a zombie waiting for init to reap it has ended, once its last thread has (the
    threads share the files, the node lock among them)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        return not zombie or len(os.listdir(f"/proc/{pid}/task")) > 1
    except OSError:
        return False


def wait_gone(pid):
    for _ in range(400):
        if not alive(pid):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still there")


# --- help and parsing -------------------------------------------------------------------------

def _commands(parser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield path + (name,), sub
                yield from _commands(sub, path + (name,))


def test_help_answers(cli):
    r = cli("--help")
    assert r.returncode == 0
    assert "config" in r.stdout and "demo" in r.stdout and "example:" in r.stdout
    r = cli("config", "--help")
    assert r.returncode == 0 and "validate" in r.stdout and "describe" in r.stdout
    r = cli("reset", "--help")
    assert r.returncode == 0 and "example:" in r.stdout and "--reboot" in r.stdout


def test_every_command_help_has_an_example():
    commands = list(_commands(build_parser()))
    assert len(commands) >= 15
    for path, parser in commands:
        text = parser.format_help()
        assert "example:\n  cryptnode " in text, " ".join(path)


@pytest.mark.parametrize("value", ["treu", "yes", "", "2", "FaLsE"])
def test_boolean_flags_are_strict(cli, value):
    r = cli("-n", "/nonexistent", "reset", "--system-labels-to-wipe", "EPHEMERAL",
            f"--reboot={value}")
    assert r.returncode == 2 and "invalid boolean value" in r.stderr, r
    r = cli("node", "create", "/nonexistent/x", f"--tpm={value}")
    assert r.returncode == 2 and "invalid boolean value" in r.stderr, r


def test_boolean_flags_take_gos_spellings():
    p = build_parser()
    for text, want in [("true", True), ("1", True), ("T", True), ("False", False), ("0", False)]:
        args = p.parse_args(["reset", "--system-labels-to-wipe", "X", f"--reboot={text}"])
        assert args.reboot is want
    args = p.parse_args(["reset", "--system-labels-to-wipe", "X", "--reboot"])
    assert args.reboot is True and args.graceful is True
    args = p.parse_args(["reset", "--system-labels-to-wipe", "X"])
    assert args.reboot is False  # talosctl's default
    assert p.parse_args(["node", "create", "d", "--no-tpm"]).tpm is False


def test_node_and_output_options_before_or_after_the_command():
    p = build_parser()
    a = p.parse_args(["-n", "DIR", "get", "volumestatus"])
    assert a.node == "DIR" and a.output == "table"
    a = p.parse_args(["get", "volumestatus", "-n", "DIR", "-o", "json"])
    assert a.node == "DIR" and a.output == "json"
    a = p.parse_args(["-n", "DIR", "reboot", "-o", "yaml"])
    assert a.node == "DIR" and a.output == "yaml"


# --- config validate / describe ---------------------------------------------------------------

def test_config_validate(cli, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(EPHEMERAL_NODEID)
    r = cli("config", "validate", good)
    assert r.returncode == 0 and r.stdout.strip() == "valid", r
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
                   "  provider: luks2\n")
    r = cli("config", "validate", bad, "-o", "json")
    assert r.returncode == 1
    assert r.json()["errors"] == ["VolumeConfig/EPHEMERAL: encryption keys are required"]
    r = cli("config", "validate", "-", stdin="a: [\n")
    assert r.returncode == 1 and "decode error: yaml:" in r.stdout


def test_config_validate_reads_bytes_and_shows_no_secret(cli, tmp_path):
    f = tmp_path / "latin1.yaml"
    f.write_bytes(LATIN1_WITH_SECRET)
    r = cli("config", "validate", f, "-o", "json")
    assert r.returncode == 1, r
    assert "Traceback" not in r.stderr
    errors = r.json()["errors"]
    assert len(errors) == 1 and "UTF-8" in errors[0], errors
    assert SECRET not in r.stdout + r.stderr
    r = cli("config", "describe", f)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r
    assert SECRET not in r.stdout + r.stderr
    r = cli("config", "validate", "-", stdin=LATIN1_WITH_SECRET)
    assert r.returncode == 1 and SECRET not in r.stdout + r.stderr


def test_config_validate_prints_errors_then_hints(cli, tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
                 "  provider: luks2\n  keys:\n    - slot: 1\n      nodeID: {}\n"
                 "      lockToSTATE: true\n")
    r = cli("config", "validate", f, "-o", "json")
    assert r.returncode == 1, r
    d = r.json()
    assert set(d) == {"file", "talosVersion", "valid", "errors", "warnings", "hints"}
    assert d["valid"] is False and "unknown keys found during decoding" in d["errors"][0]
    assert any("spelled lockToState" in h for h in d["hints"]), d
    table = cli("config", "validate", f)
    assert table.returncode == 1
    out = table.stdout
    assert out.index("unknown keys") < out.index("hint: ")
    for h in d["hints"]:
        assert f"hint: {h}" in out
    y = cli("config", "validate", f, "-o", "yaml")
    assert "hints:" in y.stdout and "errors:" in y.stdout


def test_config_validate_warnings_alone_exit_0(cli, tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
                 "  provider: luks2\n  keys:\n    - slot: -1\n      nodeID: {}\n"
                 "    - slot: 32\n      nodeID: {}\n    - slot: 2\n      static:\n"
                 "        passphrase: \"\"\n")
    r = cli("config", "validate", f, "-o", "json")
    assert r.returncode == 0, r
    d = r.json()
    assert d["valid"] is True and d["errors"] == []
    warnings = "\n".join(d["warnings"])
    assert "slot -1" in warnings and "slot 32" in warnings and "passphrase is empty" in warnings
    table = cli("config", "validate", f)
    assert table.returncode == 0
    assert table.stdout.splitlines()[0] == "valid"
    for w in d["warnings"]:
        assert f"warning: {w}" in table.stdout


def test_config_validate_talos_version(cli, tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text(EPHEMERAL_NODEID)
    d = cli("config", "validate", f, "--talos-version", "1.14", "-o", "json").json()
    assert d["talosVersion"].startswith("1.14.")
    r = cli("config", "validate", f, "--talos-version", "0.1")
    one_line_error(r, "0.1")


def test_config_describe_shows_kinds_not_secrets(cli, tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
                 "  provider: luks2\n  keys:\n    - slot: 2\n      static:\n"
                 "        passphrase: hunter2-secret\n      lockToState: true\n")
    r = cli("config", "describe", f)
    assert r.returncode == 0, r
    assert "slot 2" in r.stdout and "lockToState" in r.stdout
    assert "hunter2-secret" not in r.stdout
    r = cli("config", "describe", f, "-o", "json")
    d = r.json()
    assert d["effective"]["EPHEMERAL"]["keys"][0]["kind"] == "static"
    assert d["effective"]["EPHEMERAL"]["keys"][0]["lockToState"] is True
    assert "hunter2" not in r.stdout


def test_missing_file_is_a_clear_error(cli, tmp_path):
    r = cli("config", "validate", tmp_path / "nope.yaml")
    one_line_error(r, "cannot read", "nope.yaml", "No such file")
    r = cli("config", "describe", tmp_path)
    one_line_error(r, "cannot read", str(tmp_path), "Is a directory")


def test_demo_examples_print_no_passphrase(cli):
    r = cli("demo", "--examples-only")
    assert r.returncode == 0, r
    assert "STATE and EPHEMERAL with nodeID keys" in r.stdout
    for secret in ("supersecret", "oldkey", "newkey"):
        assert secret not in r.stdout


# --- versions, fault points -------------------------------------------------------------------

def test_versions_and_fault_points(cli):
    import cryptnode
    r = cli("versions", "-o", "json")
    assert r.returncode == 0, r
    assert r.json() == cryptnode.versions()
    assert {"rule", "description", "since", "until", "source", "fix"} <= set(r.json()[0])
    r = cli("versions")
    assert r.returncode == 0 and "Talos releases:" in r.stdout
    r = cli("fault-points", "-o", "json")
    assert r.returncode == 0
    assert [(p["name"], p["description"]) for p in r.json()] == \
        [tuple(p) for p in cryptnode.fault_points()]
    r = cli("fault-points")
    assert "meta.between_copies" in r.stdout


# --- one-line errors instead of tracebacks ----------------------------------------------------

@pytest.mark.parametrize("size,expect", [("-1", "--disk -1"), ("1PiB", "--disk 1PiB"),
                                         ("0", "must be positive"), ("32TiB", "16 TiB")])
def test_node_create_bad_disk_size(cli, tmp_path, size, expect):
    r = cli("node", "create", tmp_path / "n", "--disk", size)
    one_line_error(r, expect)
    assert not (tmp_path / "n").exists()


def test_node_create_empty_name(cli):
    one_line_error(cli("node", "create", ""), "empty")


def test_commands_on_something_that_is_not_a_node(cli, tmp_path):
    one_line_error(cli("-n", tmp_path / "NONEXISTENT", "boot"), "NONEXISTENT", "no such directory")
    f = tmp_path / "FILE"
    f.write_text("x")
    one_line_error(cli("-n", f, "boot"), "FILE", "not a directory")
    one_line_error(cli("-n", f, "get", "volumestatus"), "FILE", "not a directory")
    one_line_error(cli("-n", f, "shutdown"), "FILE", "not a directory")
    one_line_error(cli("get", "volumestatus"), "needs -n DIR")


def test_boot_of_a_directory_that_is_not_a_node_writes_nothing(cli, tmp_path):
    d = tmp_path / "plain"
    d.mkdir()
    one_line_error(cli("-n", d, "boot"), "not a cryptnode node directory")
    assert os.listdir(d) == []
    if os.geteuid() == 0:
        assert cli("node", "create", d).returncode == 0


def test_kms_serve_checks_its_address(cli):
    for listen, expect in [("0.0.0.0:4050", "--allow-remote"), ("127.0.0.1:70000", "70000"),
                           ("nohost", "HOST:PORT"), ("300.1.1.1:5", "not an IP address"),
                           ("unix:", "empty")]:
        r = cli("kms", "serve", "--listen", listen, timeout=60)
        one_line_error(r, listen, expect)  # no gRPC log lines (chttp2_server.cc) either


def test_kms_serve_allows_remote_with_the_flag(cli):
    import subprocess
    import sys
    from conftest import _package_root
    env = dict(os.environ, PYTHONPATH=_package_root())
    p = subprocess.Popen([sys.executable, "-m", "cryptnode", "kms", "serve", "--listen",
                          "0.0.0.0:0", "--allow-remote"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = p.stdout.readline()
        assert "KMS listening on" in line, (line, p.stderr.read() if p.poll() is not None else "")
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0


# --- node commands ----------------------------------------------------------------------------

def test_node_commands_like_talosctl(cli, node_dir, tmp_path):
    """node create, then boot (a background node process), get volumestatus, apply-config,
    reset, shutdown: nothing left running."""
    d = node_dir
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE + "---\n" + EPHEMERAL_NODEID)
    base = tmp_path / "base.yaml"
    base.write_text(BASE)
    r = cli("-n", d, "boot", "--config", base)
    assert r.returncode == 0, r
    r = cli("-n", d, "get", "volumestatus", "-o", "json")
    assert r.returncode == 0, r
    phases = {v["id"]: v["phase"] for v in r.json()["volumes"]}
    assert phases == {"STATE": "ready", "EPHEMERAL": "ready"}
    assert r.json()["state"] == "running"
    r = cli("-n", d, "apply-config", "-f", cfg, "--mode=staged")
    assert r.returncode == 0, r
    r = cli("-n", d, "reset", "--system-labels-to-wipe", "EPHEMERAL", "--reboot=true",
            "-o", "json")
    assert r.returncode == 0, r
    eph = [v for v in r.json()["volumes"] if v["id"] == "EPHEMERAL"][0]
    assert eph["encryptionProvider"] == "luks2" and eph["phase"] == "ready"
    r = cli("-n", d, "reset", "--system-labels-to-wipe", "NOPE")
    one_line_error(r, 'failed to get volume status with label "NOPE"')
    r = cli("-n", d, "shutdown")
    assert r.returncode == 0 and "off" in r.stdout, r
    r = cli("-n", d, "get", "volumestatus")
    one_line_error(r, "is not running")
    assert node_leftovers(str(d)) == {"loop devices": [], "mounts": [], "swtpm processes": []}


def test_volumestatus_json_uses_talos_names(cli, node_dir, tmp_path):
    from cryptnode.volume_status import FIELDS
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE + "---\n" + EPHEMERAL_NODEID)
    assert cli("-n", node_dir, "boot", "--config", cfg).returncode == 0
    d = cli("-n", node_dir, "get", "volumestatus", "-o", "json").json()
    eph = [v for v in d["volumes"] if v["id"] == "EPHEMERAL"][0]
    assert set(eph) == {f.talos.split(".")[0] for f in FIELDS}
    assert eph["encryptionSlot"] == 0 and eph["configuredEncryptionKeys"] == ["nodeID"]
    assert eph["encryptionFailedSyncs"] == [] and eph["encryptionLockedToState"] is False
    assert "failed_syncs" not in eph and "lockedToState" not in eph
    y = cli("-n", node_dir, "get", "volumestatus", "-o", "yaml")
    assert "encryptionProvider: luks2" in y.stdout


def test_apply_config_bytes_never_echo_the_config(cli, node_dir, tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(BASE)
    assert cli("-n", node_dir, "boot", "--config", base).returncode == 0
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(LATIN1_WITH_SECRET)
    r = cli("-n", node_dir, "apply-config", "-f", bad)
    line = one_line_error(r, "UTF-8")
    assert SECRET not in r.stdout + r.stderr and "Invoked with" not in line
    r = cli("-n", node_dir, "apply-config", "-f", "-", stdin=LATIN1_WITH_SECRET)
    assert r.returncode == 1 and SECRET not in r.stdout + r.stderr
    one_line_error(cli("-n", node_dir, "apply-config", "-f", tmp_path / "missing.yaml"),
                   "cannot read config", "missing.yaml")
    log = (node_dir / "node.log").read_text(errors="replace")
    assert SECRET not in log and "Traceback" not in log


def test_boot_config_from_stdin_and_missing_file(cli, node_dir, tmp_path):
    one_line_error(cli("-n", node_dir, "boot", "--config", tmp_path / "nope.yaml"),
                   "cannot read config", "nope.yaml")
    assert not (node_dir / "node.log").exists()
    r = cli("-n", node_dir, "boot", "--config", "-", stdin=BASE + "---\n" + EPHEMERAL_NODEID)
    assert r.returncode == 0, r
    assert "EPHEMERAL    ready       luks2" in r.stdout


def test_boot_of_a_latin1_config_is_goyamls_error(cli, node_dir, tmp_path):
    f = tmp_path / "latin1.yaml"
    f.write_bytes(LATIN1_WITH_SECRET)
    r = cli("-n", node_dir, "boot", "--config", f)
    one_line_error(r, "UTF-8")
    assert SECRET not in r.stdout + r.stderr
    one_line_error(cli("-n", node_dir, "get", "volumestatus"), "is not running")


def test_boot_of_a_running_node_names_shutdown(cli, node_dir):
    assert cli("-n", node_dir, "boot").returncode == 0  # maintenance: waits for a config
    pid = pid_of(cli, node_dir)
    r = cli("-n", node_dir, "boot")
    one_line_error(r, "already running", f"pid {pid}", f"cryptnode -n {node_dir} shutdown")
    assert pid_of(cli, node_dir) == pid


def test_boot_that_does_not_reach_running_fails_and_names_the_volume(cli, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("simulated nodes need root")
    d = tmp_path / "n"
    assert cli("node", "create", d, "--uuid", "11111111-0000-1111-1111-111111111111"
               ).returncode == 0
    cfg = tmp_path / "c.yaml"
    cfg.write_text(BASE + "---\n" + EPHEMERAL_NODEID.replace("EPHEMERAL", "STATE"))
    try:
        r = cli("-n", d, "boot", "--config", cfg)
        assert r.returncode == 1, r
        assert "volume STATE failed" in r.stderr and "entropy check failed" in r.stderr, r
        assert "Traceback" not in r.stderr
    finally:
        cli("-n", d, "shutdown")


def test_reset_without_reboot_powers_off(cli, node_dir, tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(BASE)
    assert cli("-n", node_dir, "boot", "--config", base).returncode == 0
    pid = pid_of(cli, node_dir)
    r = cli("-n", node_dir, "reset", "--system-labels-to-wipe", "EPHEMERAL", "--reboot=false",
            "-o", "json")
    assert r.returncode == 0, r
    assert r.json()["state"] == "off"
    assert not alive(pid)  # the node process ended with the power
    r = cli("-n", node_dir, "get", "volumestatus")
    assert "booting" not in r.stdout + r.stderr
    one_line_error(r, "is not running")
    assert node_leftovers(str(node_dir)) == {"loop devices": [], "mounts": [],
                                             "swtpm processes": []}
    assert cli("-n", node_dir, "boot").returncode == 0  # EPHEMERAL is made anew


def test_reset_labels_are_checked(cli, node_dir):
    for labels in (",", "EPHEMERAL,", ",STATE", " "):
        one_line_error(cli("-n", node_dir, "reset", "--system-labels-to-wipe", labels),
                       "--system-labels-to-wipe", "empty label")


def test_crash_at_through_the_cli(cli, node_dir, tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(BASE)
    user = tmp_path / "user.yaml"
    user.write_text(config(user_volume_config("data", keys=[node_id()])))
    assert cli("-n", node_dir, "boot", "--config", base).returncode == 0
    one_line_error(cli("-n", node_dir, "crash-at", "no.such.point"), "no.such.point",
                   "not a fault point")
    r = cli("-n", node_dir, "crash-at", "apply_config.after_persist")
    assert r.returncode == 0 and "armed" in r.stdout, r
    r = cli("-n", node_dir, "apply-config", "-f", user, "--mode=no-reboot", "-o", "json")
    assert r.returncode == 1, r
    assert "lost power at fault point apply_config.after_persist" in r.stderr
    assert r.json()["state"] == "off" and r.json()["lastCrash"] == "apply_config.after_persist"
    one_line_error(cli("-n", node_dir, "get", "volumestatus"), "is not running")
    r = cli("-n", node_dir, "boot", "-o", "json")  # the persisted config is the active one
    assert r.returncode == 0, r
    assert {v["id"]: v["phase"] for v in r.json()["volumes"]}["u-data"] == "ready"


def test_node_process_survives_clients_that_go_away(cli, node_dir, tmp_path):
    """A client killed before it reads its reply (Ctrl-C, `timeout`) leaves the node running."""
    import subprocess
    import sys
    from conftest import _package_root
    base = tmp_path / "base.yaml"
    base.write_text(BASE)
    assert cli("-n", node_dir, "boot", "--config", base).returncode == 0
    pid = pid_of(cli, node_dir)
    env = dict(os.environ, PYTHONPATH=_package_root())
    for _ in range(3):
        p = subprocess.Popen([sys.executable, "-m", "cryptnode", "-n", str(node_dir), "reboot"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        p.kill()
        p.wait()
    r = cli("-n", node_dir, "get", "volumestatus", "-o", "json")
    assert r.returncode == 0, r
    assert r.json()["pid"] == pid and r.json()["state"] == "running"
    log = (node_dir / "node.log").read_text()
    assert "BrokenPipeError" not in log and "Traceback" not in log


def test_node_process_killed_is_recovered_at_the_next_boot(cli, node_dir, tmp_path):
    """kill -9 of the node process leaves mounts, a FUSE mapper and loop devices; the next boot of
    that node directory cleans them up, and shutdown leaves nothing."""
    base = tmp_path / "base.yaml"
    base.write_text(BASE + "---\n" + EPHEMERAL_NODEID)
    assert cli("-n", node_dir, "boot", "--config", base).returncode == 0
    pid = pid_of(cli, node_dir)
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid)
    assert node_leftovers(str(node_dir))["loop devices"]  # the kill left them
    r = cli("-n", node_dir, "boot")
    assert r.returncode == 0, r
    assert "EPHEMERAL    ready" in r.stdout
    assert cli("-n", node_dir, "shutdown").returncode == 0
    assert node_leftovers(str(node_dir)) == {"loop devices": [], "mounts": [],
                                             "swtpm processes": []}


def test_shutdown_after_kill_9_clears_the_leftovers(cli, node_dir, tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(BASE + "---\n" + EPHEMERAL_NODEID)
    assert cli("-n", node_dir, "boot", "--config", base).returncode == 0
    pid = pid_of(cli, node_dir)
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid)
    left = node_leftovers(str(node_dir))
    assert left["loop devices"] and left["mounts"]
    r = cli("-n", node_dir, "shutdown")
    assert r.returncode == 0, r
    assert "was not running" in r.stdout and "loop device" in r.stdout, r
    for dev in left["loop devices"]:
        assert dev in r.stdout
    assert node_leftovers(str(node_dir)) == {"loop devices": [], "mounts": [],
                                             "swtpm processes": []}
    assert not (node_dir / "run" / "api.sock").exists()
    r = cli("-n", node_dir, "shutdown")
    assert r.returncode == 0 and "nothing to clear" in r.stdout, r


def test_multi_line_errors_are_one_line(cli, node_dir, tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(BASE)
    assert cli("-n", node_dir, "boot", "--config", base).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE + "---\napiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\n"
                   "encryption:\n  provider: luks2\n  keys:\n    - slot: 0\n      nodeID: {}\n"
                   "    - slot: 0\n      nodeID: {}\n      lockToState: true\n")
    line = one_line_error(cli("-n", node_dir, "apply-config", "-f", bad), f"-f {bad}",
                          "duplicate key slot 0")
    assert "\t" not in line


TPM_WITH_STATIC = ("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
                   "  provider: luks2\n  keys:\n    - slot: 0\n      tpm: {}\n"
                   "    - slot: 1\n      static:\n        passphrase: fallback-key\n")


def test_clear_tpm_and_firmware_verbs(cli, node_dir, tmp_path):
    """`clear-tpm` on a running node gives the TPM a new SRK: at the next boot the TPM slot no
    longer unseals and the static key in slot 1 opens EPHEMERAL. `firmware` on a powered-off
    node saves the settings the next boot measures."""
    base = tmp_path / "base.yaml"
    base.write_text(BASE + "---\n" + TPM_WITH_STATIC)
    assert cli("-n", node_dir, "boot", "--config", base).returncode == 0
    r = cli("-n", node_dir, "get", "volumestatus", "-o", "json")
    eph = [v for v in json.loads(r.stdout)["volumes"] if v["id"] == "EPHEMERAL"][0]
    assert (eph["phase"], eph["encryptionSlot"]) == ("ready", 0)
    assert cli("-n", node_dir, "clear-tpm").returncode == 0
    assert cli("-n", node_dir, "reboot").returncode == 0
    r = cli("-n", node_dir, "get", "volumestatus", "-o", "json")
    eph = [v for v in json.loads(r.stdout)["volumes"] if v["id"] == "EPHEMERAL"][0]
    assert (eph["phase"], eph["encryptionSlot"]) == ("ready", 1), eph
    assert cli("-n", node_dir, "shutdown").returncode == 0

    r = cli("-n", node_dir, "firmware", "--secure-boot=false")
    assert r.returncode == 0 and "saved for the next boot" in r.stdout, r
    with open(os.path.join(node_dir, "node.json")) as f:
        assert json.load(f)["secure_boot"] is False
