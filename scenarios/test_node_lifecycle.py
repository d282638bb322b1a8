"""Node directory, power and operations: bad input gets Talos' errors and changes nothing; nothing
is left behind after power-off, power cut or errors."""

import glob
import hashlib
import json
import os

import pytest

import cryptnode
from cryptnode.configs import config, node_id, static, user_volume_config, volume_config
from cryptnode.host import fuse_mounts, loop_devices
from configs import STATE_EPHEMERAL_NODEID

DATA = os.urandom(4096)


def node_loops(node):
    return [dev for dev, backing in loop_devices().items() if backing.startswith(node.path)]


def mapped(node, name):
    """The devices of this node's mapping `name`: with the userspace backend, loop devices over
    <node>/run/mapper/<name> (another node's mapping of that name is not this node's); with kernel
    dm-crypt, the dm device of that name."""
    out = [dev for dev, backing in loop_devices().items()
           if backing == os.path.join(node.path, "run", "mapper", name)]
    for dm in glob.glob("/sys/block/dm-*/dm/name"):
        with open(dm) as f:
            if f.read().strip() == name:
                out.append("/dev/" + dm.split("/")[3])
    return out


def test_node_json_has_no_secrets_and_disks_are_sparse(node):
    node.boot(config=config(volume_config("EPHEMERAL", keys=[static("hunter2-secret")])))
    with open(os.path.join(node.path, "node.json")) as f:
        text = f.read()
    assert "hunter2" not in text
    settings = json.loads(text)
    assert settings["uuid"] and settings["pbkdf"] == "fast"
    img = os.path.join(node.path, "disks", "system.img")
    assert os.stat(img).st_blocks * 512 < os.stat(img).st_size  # sparse
    assert set(node.devices()) >= {"EFI", "META", "STATE", "EPHEMERAL"}


def test_power_off_and_power_cut_leave_nothing_behind(node):
    node.boot(config=STATE_EPHEMERAL_NODEID)
    assert node_loops(node)
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.power_cut()
    assert not node.powered_on
    assert node_loops(node) == []
    assert not any(m.startswith(node.path) for m in fuse_mounts())
    node.boot()  # STATE opens with META's config; the data written before the cut was synced
    assert node.read_file("EPHEMERAL", "data.bin") == DATA
    node.shutdown()
    assert node_loops(node) == []


def test_closing_a_node_after_a_power_cut_leaves_no_swtpm_run_directory(node):
    """The swtpm's run directory (/run/cryptnode/<sha256 of the node path>[:16]: socket, pid file,
    log) goes with the power-off that follows a power cut: a node closed after a crash (crash_at,
    power_cut) leaves none behind once its own directory is gone."""
    run = node.swtpm_run_dir
    assert run == "/run/cryptnode/" + hashlib.sha256(node.path.encode()).hexdigest()[:16]
    node.boot(config=STATE_EPHEMERAL_NODEID)
    assert os.path.isdir(run)
    node.power_cut()
    node.close()
    assert not os.path.exists(run)


def test_invalid_config_is_refused_and_changes_nothing(node):
    node.boot(config=STATE_EPHEMERAL_NODEID)
    bad = config(volume_config("EPHEMERAL", keys=[node_id(slot=0), node_id(slot=0)]))
    with pytest.raises(cryptnode.ConfigInvalidError) as e:
        node.apply_config(bad)
    assert "VolumeConfig/EPHEMERAL: duplicate key slot 0" in str(e.value)
    assert node.active_config() == STATE_EPHEMERAL_NODEID
    node.reboot()
    assert node.active_config() == STATE_EPHEMERAL_NODEID
    with pytest.raises(cryptnode.InvalidArgumentError):
        node.apply_config(STATE_EPHEMERAL_NODEID, mode="sometimes")


def test_reset_of_an_unknown_label(node):
    node.boot(config=STATE_EPHEMERAL_NODEID)
    with pytest.raises(cryptnode.NotFoundError) as e:
        node.reset(system_labels_to_wipe=["NOPE"])
    assert str(e.value) == 'failed to get volume status with label "NOPE"'
    assert node.running  # nothing changed


def test_node_directory_open_twice_in_this_process(node):
    with pytest.raises(cryptnode.LockedError) as e:
        cryptnode.Node.open(node.path)
    assert str(e.value) == (f"node directory {node.path} is already open in this process "
                            f"(close that Node first)")
    with pytest.raises(cryptnode.LockedError, match="already open in this process"):
        cryptnode.Node.open(node.path + "/.")
    path = node.path
    node.close()
    cryptnode.Node.open(path).close()  # closed: free again


def test_node_directory_locked_by_another_process(node, tmp_path):
    import subprocess
    import sys
    from conftest import _package_root
    path = node.path
    node.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, cryptnode; n = cryptnode.Node.open(sys.argv[1]); "
         "print('open', flush=True); sys.stdin.read()", path],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=_package_root()))
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(cryptnode.LockedError) as e:
            cryptnode.Node.open(path)
        assert f"is locked by another process (pid {holder.pid})" in str(e.value)
    finally:
        holder.stdin.close()
        holder.wait(60)


def test_damaged_node_directory(tmp_path, node_factory):
    n = node_factory()
    path = n.path
    n.close()
    with open(os.path.join(path, "node.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(cryptnode.CorruptError) as e:
        cryptnode.Node.open(path)
    assert "node.json" in str(e.value)
    with pytest.raises(cryptnode.NotFoundError):
        cryptnode.Node.open(str(tmp_path / "nowhere"))
    with pytest.raises(cryptnode.AlreadyExistsError):
        cryptnode.Node.create(path)


def test_bad_create_arguments(tmp_path):
    with pytest.raises(cryptnode.InvalidArgumentError):
        cryptnode.Node.create(tmp_path / "a", uuid="not-a-uuid")
    with pytest.raises(cryptnode.InvalidArgumentError):
        cryptnode.Node.create(tmp_path / "b", pbkdf="slow")
    with pytest.raises(ValueError):
        cryptnode.Node.create(tmp_path / "c", disks=["lots"])
    assert not os.path.exists(tmp_path / "a") or not os.listdir(tmp_path / "a")


def test_maintenance_without_config(node):
    node.boot()
    assert node.maintenance
    assert node.volume_status("STATE").phase == "missing"
    with pytest.raises(cryptnode.Error):
        node.reset(system_labels_to_wipe=["STATE"])


def test_encryption_change_to_a_ready_volume_waits_for_reboot(node):
    node.boot(config=config())
    node.write_file("EPHEMERAL", "data.bin", DATA)
    enc = config(volume_config("EPHEMERAL", keys=[node_id()]))
    assert node.apply_config(enc, mode="no-reboot") == "no-reboot"
    assert node.volume_status("EPHEMERAL").encryption_provider == ""
    node.reboot()  # no in-place encryption: Talos' mismatch error, data untouched
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "failed"
    assert st.error_message == "block dev type mismatch: xfs != luks"


def test_new_encrypted_user_volume_acts_immediately(node):
    node.boot(config=config())
    user = user_volume_config("data", keys=[node_id()])
    assert node.apply_config(config(user)) == "no-reboot"
    assert node.volume_status("u-data").phase == "ready"
    assert node.volume_status("u-data").encryption_provider == "luks2"


def test_try_mode_rolls_back_on_the_virtual_clock(node):
    node.boot(config=config())
    user = user_volume_config("tmp", max_size=None)
    node.apply_config(config(user), mode="try")
    assert node.active_config() == config(user)
    node.advance(59)
    assert node.active_config() == config(user)
    node.advance(2)
    assert node.active_config() == config()


def test_talos_1_14_removed_reboot_mode(node_factory):
    n = node_factory(talos_version="1.14")
    n.boot(config=config())
    with pytest.raises(cryptnode.UnsupportedError) as e:
        n.apply_config(config(), mode="reboot")
    assert str(e.value) == ("the REBOOT mode is not supported, please use AUTO or NO_REBOOT "
                            "modes instead")
    assert n.apply_config(config()) == "no-reboot"


def test_production_pbkdf_node(node_factory):
    n = node_factory(pbkdf="production")
    n.boot(config=config(volume_config("STATE", keys=[node_id()])))
    kdf = n.luks_dump("STATE")["keyslots"]["0"]["kdf"]
    assert kdf["type"] == "argon2id" and kdf["memory"] > 32


def test_removing_a_user_volume_document_closes_it_without_wiping(node):
    user = user_volume_config("data", keys=[node_id()])
    node.boot(config=config(user))
    node.write_file("u-data", "keep.bin", DATA)
    assert mapped(node, "luks2-u-data")  # the check below can see this node's mapping
    assert node.apply_config(config()) == "no-reboot"
    with pytest.raises(cryptnode.NotFoundError):
        node.volume_status("u-data")
    assert not mapped(node, "luks2-u-data")
    node.apply_config(config(user))  # back: the partition was not wiped
    assert node.read_file("u-data", "keep.bin") == DATA


def test_v1alpha1_change_outside_the_allow_list_needs_a_reboot(node):
    node.boot(config=config())
    changed = config().replace("type: worker", "type: controlplane")
    with pytest.raises(cryptnode.InvalidArgumentError) as e:
        node.apply_config(changed, mode="no-reboot")
    assert str(e.value).startswith("this config change can't be applied in immediate mode\ndiff:")
    assert node.apply_config(changed) == "reboot"  # auto
    assert node.active_config() == changed


# --- defaults, strict arguments, the new surface -------------------------------------------------

def test_reset_defaults_to_talosctls_reboot_false(node):
    """talosctl reset --reboot defaults to false: the node powers off after the wipe."""
    import inspect
    assert inspect.signature(cryptnode.Node.reset).parameters["reboot"].default is False
    node.boot(config=config())
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.reset(["EPHEMERAL"])
    assert not node.powered_on and node.state == "off"
    assert node_loops(node) == []
    node.boot()
    with pytest.raises(cryptnode.NotFoundError):
        node.read_file("EPHEMERAL", "data.bin")


def test_booleans_and_numbers_are_strict(node):
    node.boot(config=config())
    with pytest.raises(TypeError, match="reboot must be True or False"):
        node.reset(["EPHEMERAL"], reboot="false")
    with pytest.raises(TypeError, match="insecure must be True or False"):
        node.apply_config(config(), insecure=1)
    with pytest.raises(TypeError):
        node.advance("30")
    with pytest.raises(TypeError):
        node.advance(True)
    for bad in (float("inf"), float("nan"), -1, 1e300, 10**400):
        with pytest.raises(cryptnode.InvalidArgumentError):
            node.advance(bad)
    assert node.running  # nothing changed


def test_a_config_is_bytes_or_str(node):
    node.boot(config=config().encode())
    assert node.running
    assert node.apply_config(config(volume_config("EPHEMERAL")).encode(), mode="no-reboot")
    with pytest.raises(TypeError, match="config must be bytes or str"):
        node.apply_config(None)
    with pytest.raises((cryptnode.ConfigParseError, cryptnode.ConfigInvalidError), match="UTF-8"):
        node.apply_config(b"# caf\xe9\n" + config().encode())
    assert node.active_config() == config(volume_config("EPHEMERAL"))  # unchanged


def test_clock_and_crash_at(node, crash_at):
    node.boot(config=config())
    t0 = node.clock_ms
    node.advance(1.5)
    assert node.clock_ms == t0 + 1500
    assert node.last_crash == ""
    points = dict(cryptnode.fault_points())
    assert "apply_config.after_persist" in points
    crash_at(node, "apply_config.after_persist", "apply_config",
             config(volume_config("EPHEMERAL", keys=[node_id()])), mode="no-reboot")
    assert node.last_crash == "apply_config.after_persist" and node.state == "off"
    assert node_loops(node) == []
    node.boot()  # recovers: the persisted config is the active one
    assert node.last_crash == ""
    with pytest.raises(cryptnode.Error):
        node.crash_at("no.such.point")


def test_write_file_stays_beneath_the_volume(node):
    node.boot(config=config())
    node.write_file("EPHEMERAL", "d/a.bin", DATA)
    with pytest.raises(cryptnode.Error, match="resolves outside"):
        node.write_file("EPHEMERAL", "../../escape.bin", DATA)
    with pytest.raises(cryptnode.Error, match="is a directory"):
        node.write_file("EPHEMERAL", "d", DATA)
    with pytest.raises(cryptnode.Error):
        node.write_file("EPHEMERAL", "nul\0name", DATA)
    assert node.read_file("EPHEMERAL", "d/a.bin") == DATA


def test_volume_status_names(node):
    from cryptnode.volume_status import DEPRECATED, FIELDS, to_talos
    node.boot(config=config(volume_config("EPHEMERAL", keys=[node_id()])))
    st = node.volume_status("EPHEMERAL")
    for f in FIELDS:
        getattr(st, f.python)
    d = to_talos(st)
    assert d["encryptionProvider"] == "luks2" and d["encryptionSlot"] == 0
    assert d["configuredEncryptionKeys"] == ["nodeID"] and d["tpmEncryptionOptions"] is None
    for old, new in DEPRECATED.items():
        with pytest.warns(DeprecationWarning, match=f"VolumeStatus.{old} is deprecated"):
            assert getattr(st, old) == getattr(st, new)


def test_open_after_kill_9_recovers_the_leftovers(cli, node_dir, tmp_path):
    import signal
    from cryptnode.host import node_leftovers
    from test_cli import wait_gone
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config(volume_config("EPHEMERAL", keys=[node_id()])))
    assert cli("-n", node_dir, "boot", "--config", cfg).returncode == 0
    pid = cli("-n", node_dir, "get", "volumestatus", "-o", "json").json()["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid)
    assert node_leftovers(str(node_dir))["loop devices"]
    cryptnode.Node.open(node_dir).close()
    assert node_leftovers(str(node_dir)) == {"loop devices": [], "mounts": [],
                                             "swtpm processes": []}


@pytest.mark.parametrize("version,served_by_machined", [("1.12.11", False), ("1.13.0", True)])
def test_maintenance_apply_config_modes_per_release(node_factory, version, served_by_machined):
    """maintenance_apply_by_machined: up to 1.12 the maintenance server takes only try, reboot
    and auto and wraps parse errors ("failed to parse config: ..."); from 1.13 machined serves
    maintenance mode: every mode is accepted and a parse error comes back as it is."""
    node = node_factory(talos_version=version)
    node.boot()
    assert node.maintenance
    with pytest.raises(cryptnode.Error) as e:
        node.apply_config("version: v1alpha1\nmachine: [\n", insecure=True)
    assert str(e.value).startswith("failed to parse config: ") != served_by_machined, e.value
    if not served_by_machined:
        with pytest.raises(cryptnode.UnsupportedError) as e:
            node.apply_config(STATE_EPHEMERAL_NODEID, mode="staged", insecure=True)
        assert str(e.value) == ("apply configuration --mode='staged' is not supported in "
                                "maintenance mode")
        assert node.maintenance
        return
    node.apply_config(STATE_EPHEMERAL_NODEID, mode="staged", insecure=True)
    assert not node.maintenance
    assert node.volume_status("STATE").phase == "ready"
    assert node.volume_status("EPHEMERAL").encryption_provider == "luks2"


def gpt_labels(image):
    import subprocess
    out = subprocess.run(["sfdisk", "--json", image], capture_output=True, text=True, check=True)
    return [p.get("name") for p in json.loads(out.stdout)["partitiontable"]["partitions"]]


def test_reset_deletes_the_wiped_partitions_gpt_entry(node):
    """reset_drops_partition (internal/pkg/partition/wipe.go, 1.12): the wiped volume's GPT entry
    is deleted; the next boot provisions the partition again."""
    node.boot(config=config(volume_config("EPHEMERAL", keys=[node_id()])))
    image = os.path.join(node.path, "disks", "system.img")
    node.reset(system_labels_to_wipe=["EPHEMERAL"])  # --reboot=false: powered off
    labels = gpt_labels(image)
    assert "EPHEMERAL" not in labels and "STATE" in labels and "META" in labels, labels
    node.boot(config=config(volume_config("EPHEMERAL", keys=[node_id()])))
    assert "EPHEMERAL" in gpt_labels(image)
    assert node.volume_status("EPHEMERAL").phase == "ready"


def test_encrypted_volume_is_mapped_as_luks2_volume_id(node):
    """mapper_name_volume_id (volumes/encrypt.go, 1.12): the mapping is luks2-<volume id>; the
    mount location is the mapped device (a dm-N of that name, or the userspace backend's loop
    device over run/mapper/<name>)."""
    node.boot(config=config(volume_config("EPHEMERAL", keys=[node_id()]),
                            user_volume_config("data", keys=[node_id()])))
    for vid in ("EPHEMERAL", "u-data"):
        st = node.volume_status(vid)
        assert st.phase == "ready", (vid, st.phase, st.error_message)  # else no mapping to name
        dev = st.mount_location
        if dev.startswith("/dev/dm-"):
            with open(f"/sys/block/{os.path.basename(dev)}/dm/name") as f:
                name = f.read().strip()
        else:
            assert dev in loop_devices(), (vid, dev, "not an attached loop device")
            name = os.path.basename(loop_devices()[dev])
        assert name == f"luks2-{vid}", (vid, dev, name)
