"""Node directory, power and operations: bad input gets Talos' errors and changes nothing; nothing
is left behind after power-off, power cut or errors."""

import json
import os

import pytest

import cryptnode
from cryptnode.pytest_plugin import fuse_mounts, loop_devices
from configs import NODEID, STATE_EPHEMERAL_NODEID, config, doc, key, static

DATA = os.urandom(4096)


def node_loops(node):
    return [dev for dev, backing in loop_devices().items() if backing.startswith(node.path)]


def test_node_json_has_no_secrets_and_disks_are_sparse(node):
    node.boot(config=config(doc("VolumeConfig", "EPHEMERAL", [key(0, static("hunter2-secret"))])))
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


def test_invalid_config_is_refused_and_changes_nothing(node):
    node.boot(config=STATE_EPHEMERAL_NODEID)
    bad = config(doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID), key(0, NODEID)]))
    with pytest.raises(cryptnode.ConfigInvalidError) as e:
        node.apply_config(bad)
    assert str(e.value) == "duplicate key slot 0"
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


def test_node_directory_locked_by_another_owner(node):
    with pytest.raises(cryptnode.LockedError) as e:
        cryptnode.Node.open(node.path)
    assert "is locked by another process" in str(e.value)


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
    enc = config(doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID)]))
    assert node.apply_config(enc, mode="no-reboot") == "no-reboot"
    assert node.volume_status("EPHEMERAL").encryption_provider == ""
    node.reboot()  # no in-place encryption: Talos' mismatch error, data untouched
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "failed"
    assert st.error_message == "block dev type mismatch: xfs != luks"


def test_new_encrypted_user_volume_acts_immediately(node):
    node.boot(config=config())
    user = doc("UserVolumeConfig", "data", [key(0, NODEID)],
               extra='provisioning:\n  diskSelector:\n    match: "!system_disk"\n'
                     '  minSize: 100MiB\n  maxSize: 200MiB\n')
    assert node.apply_config(config(user)) == "no-reboot"
    assert node.volume_status("u-data").phase == "ready"
    assert node.volume_status("u-data").encryption_provider == "luks2"


def test_try_mode_rolls_back_on_the_virtual_clock(node):
    node.boot(config=config())
    user = doc("UserVolumeConfig", "tmp", None,
               extra='provisioning:\n  diskSelector:\n    match: "!system_disk"\n'
                     '  minSize: 100MiB\n')
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
    n.boot(config=config(doc("VolumeConfig", "STATE", [key(0, NODEID)])))
    kdf = n.luks_dump("STATE")["keyslots"]["0"]["kdf"]
    assert kdf["type"] == "argon2id" and kdf["memory"] > 32


def test_removing_a_user_volume_document_closes_it_without_wiping(node):
    user = doc("UserVolumeConfig", "data", [key(0, NODEID)],
               extra='provisioning:\n  diskSelector:\n    match: "!system_disk"\n'
                     '  minSize: 100MiB\n  maxSize: 200MiB\n')
    node.boot(config=config(user))
    node.write_file("u-data", "keep.bin", DATA)
    assert node.apply_config(config()) == "no-reboot"
    with pytest.raises(cryptnode.NotFoundError):
        node.volume_status("u-data")
    assert not any("luks2-u-data" in b for b in loop_devices().values())
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
