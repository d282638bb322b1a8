"""One scenario per flow of the seed document (Talos v1.12 "Disk Encryption"), each ending with a
reboot and a byte-level check of the data written before it. The flows take a Talos user's path:
`talosctl gen config` (cryptnode.gen_config) with VolumeConfig documents appended, applied, and
changed later with `talosctl patch mc` (node.patch_config)."""

import json
import os

import pytest

import cryptnode
from cryptnode import gen_config
from cryptnode.configs import delete, gen_config_with, patch
from configs import NODEID, USER_DISK, doc, key, static

STATE_EPHEMERAL_NODEID = gen_config_with(doc("VolumeConfig", "STATE", [key(0, NODEID)]),
                                         doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID)]))

DATA = os.urandom(4096) + b"cryptnode"


def keyslots(node, volume):
    return sorted(int(k) for k in node.luks_dump(volume)["keyslots"])


def assert_ready(node, *ids):
    for i in ids:
        st = node.volume_status(i)
        assert st.phase == "ready", (i, st.phase, st.error_message)


def test_encryption_disabled_by_default(node):
    node.boot(config=gen_config())
    assert_ready(node, "STATE", "EPHEMERAL")
    for v in ("STATE", "EPHEMERAL"):
        assert node.volume_status(v).encryption_provider == ""
        with pytest.raises(cryptnode.Error):
            node.luks_dump(v)
    node.write_file("EPHEMERAL", "plain.bin", DATA)
    node.reboot()
    assert node.read_file("EPHEMERAL", "plain.bin") == DATA


def test_state_and_ephemeral_nodeid(node):
    node.boot(config=STATE_EPHEMERAL_NODEID)
    assert_ready(node, "STATE", "EPHEMERAL")
    for v in ("STATE", "EPHEMERAL"):
        st = node.volume_status(v)
        assert st.encryption_provider == "luks2"
        assert st.encryption_slot == 0
        assert st.configured_encryption_keys == ["nodeID"]
        assert st.encryption_failed_syncs == []
        dump = node.luks_dump(v)
        assert keyslots(node, v) == [0]
        assert dump["keyslots"]["0"]["kdf"]["type"] == "argon2id"
        assert dump["cipher"] == "aes-xts-plain64"
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.reboot()
    assert_ready(node, "STATE", "EPHEMERAL")
    assert node.read_file("EPHEMERAL", "data.bin") == DATA
    # The STATE encryption config lands in META (tag 0x09) in Talos' Go-field JSON.
    meta = node.meta()
    tag = json.loads(meta["0x09"])
    assert tag["EncryptionProvider"] == "luks2"
    assert tag["EncryptionKeys"][0]["KeyNodeID"] == {}


def test_user_volume_nodeid(node):
    node.boot(config=gen_config())
    user = patch(doc("UserVolumeConfig", "data", [key(0, NODEID)], extra=USER_DISK))
    assert node.patch_config(user, mode="no-reboot") == "no-reboot"
    assert_ready(node, "STATE", "EPHEMERAL", "u-data")
    st = node.volume_status("u-data")
    assert st.encryption_provider == "luks2" and st.encryption_slot == 0
    assert node.volume_status("STATE").encryption_provider == ""
    node.write_file("u-data", "d/data.bin", DATA)
    node.reboot()
    assert_ready(node, "u-data")
    assert node.read_file("u-data", "d/data.bin") == DATA


def test_state_slot1_ephemeral_static_locked(node):
    cfg = gen_config_with(
        doc("VolumeConfig", "STATE", [key(1, NODEID)]),
        doc("VolumeConfig", "EPHEMERAL", [key(0, static("supersecret"), lock=True)]),
    )
    node.boot(config=cfg)
    assert_ready(node, "STATE", "EPHEMERAL")
    assert node.volume_status("STATE").encryption_slot == 1
    assert keyslots(node, "STATE") == [1]
    eph = node.volume_status("EPHEMERAL")
    assert eph.encryption_slot == 0 and eph.encryption_locked_to_state
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.reboot()
    assert node.volume_status("EPHEMERAL").encryption_locked_to_state
    assert node.read_file("EPHEMERAL", "data.bin") == DATA


def test_two_step_key_rotation(node):
    """Step 1 patches the new key in (the strategic merge appends it to the key list); step 2
    deletes the document and adds it again with the new key only: a patch cannot drop one key,
    `- slot: 0` + `$patch: delete` selects nothing (slot is an int field)."""
    node.boot(config=gen_config_with(doc("VolumeConfig", "EPHEMERAL", [key(0, static("oldkey"))])))
    node.write_file("EPHEMERAL", "data.bin", DATA)
    assert keyslots(node, "EPHEMERAL") == [0]

    add_new = {"apiVersion": "v1alpha1", "kind": "VolumeConfig", "name": "EPHEMERAL",
               "encryption": {"keys": [key(1, static("newkey"))]}}
    node.patch_config(patch(add_new), mode="reboot")
    assert_ready(node, "EPHEMERAL")
    assert keyslots(node, "EPHEMERAL") == [0, 1]
    assert node.volume_status("EPHEMERAL").encryption_slot == 0

    only_new = patch(delete("VolumeConfig", "EPHEMERAL"),
                     doc("VolumeConfig", "EPHEMERAL", [key(1, static("newkey"))]))
    node.patch_config(only_new, mode="reboot")
    assert_ready(node, "EPHEMERAL")
    assert keyslots(node, "EPHEMERAL") == [1]
    assert node.volume_status("EPHEMERAL").encryption_slot == 1
    node.reboot()
    assert node.read_file("EPHEMERAL", "data.bin") == DATA


def test_ephemeral_migration_staged_reset(node):
    node.boot(config=gen_config())
    node.write_file("EPHEMERAL", "old.bin", DATA)
    node.write_file("STATE", "keep.bin", DATA)
    enc = patch(doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID)]))
    assert node.patch_config(enc, mode="staged") == "staged"
    assert node.volume_status("EPHEMERAL").encryption_provider == ""  # staged: nothing yet
    node.reset(system_labels_to_wipe=["EPHEMERAL"], reboot=True)
    assert_ready(node, "STATE", "EPHEMERAL")
    assert node.volume_status("EPHEMERAL").encryption_provider == "luks2"
    with pytest.raises(cryptnode.NotFoundError):
        node.read_file("EPHEMERAL", "old.bin")
    assert node.read_file("STATE", "keep.bin") == DATA
    node.write_file("EPHEMERAL", "new.bin", DATA)
    node.reboot()
    assert node.read_file("EPHEMERAL", "new.bin") == DATA


def test_state_migration_via_maintenance(node):
    node.boot(config=gen_config())
    node.reset(system_labels_to_wipe=["STATE"], reboot=True)
    assert node.maintenance
    assert node.volume_status("STATE").phase == "missing"
    with pytest.raises(cryptnode.Error):
        node.apply_config(STATE_EPHEMERAL_NODEID)  # not without --insecure
    node.apply_config(STATE_EPHEMERAL_NODEID, insecure=True)
    assert not node.maintenance
    assert_ready(node, "STATE")
    assert node.volume_status("STATE").encryption_provider == "luks2"
    node.write_file("STATE", "s.bin", DATA)
    node.reboot()
    assert node.volume_status("STATE").encryption_provider == "luks2"
    assert node.read_file("STATE", "s.bin") == DATA


def test_static_state_key_lands_in_meta_in_clear(node):
    node.boot(config=gen_config_with(doc("VolumeConfig", "STATE",
                                         [key(0, static("topsecret-in-meta"))])))
    assert_ready(node, "STATE")
    tag = json.loads(node.meta()["0x09"])
    assert tag["EncryptionKeys"][0]["KeyStatic"] == {"KeyData": "topsecret-in-meta"}
    node.reboot()  # STATE opens with META's copy before the config is read
    assert_ready(node, "STATE")


def test_wiping_state_breaks_locked_volumes_until_wiped(node):
    cfg = gen_config_with(
        doc("VolumeConfig", "STATE", [key(0, NODEID)]),
        doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID, lock=True)]),
    )
    node.boot(config=cfg)
    assert_ready(node, "STATE", "EPHEMERAL")
    node.reset(system_labels_to_wipe=["STATE"], reboot=True)
    assert node.maintenance
    node.apply_config(cfg, insecure=True)
    eph = node.volume_status("EPHEMERAL")
    assert eph.phase == "failed"
    assert "encryption key rejected" in eph.error_message
    node.advance(30)  # the retry ticker does not help: the salt is new
    assert node.volume_status("EPHEMERAL").phase == "failed"
    node.reset(system_labels_to_wipe=["EPHEMERAL"], reboot=True)
    assert_ready(node, "STATE", "EPHEMERAL")
    assert node.volume_status("EPHEMERAL").encryption_locked_to_state


def test_uuid_failing_entropy_check(node_factory):
    n = node_factory(uuid="11111111-0000-1111-1111-111111111111")
    n.boot(config=STATE_EPHEMERAL_NODEID)
    st = n.volume_status("STATE")
    assert st.phase == "failed"
    assert "machine UUID 11111111-0000-1111-1111-111111111111 entropy check failed" in st.error_message
    assert not n.running


def test_uuid_override_in_meta_changes_every_node_id_key(node):
    """META 0x0f overrides the SMBIOS UUID (docs/talos/keys.md), live as in Talos: `meta write`
    updates the MetaKey resource, SystemInfoController rewrites SystemInformation's UUID at once.
    A volume added after the write derives its nodeID key from the override; volumes enrolled
    before no longer open at the next boot. Deleting the tag goes back to the SMBIOS UUID."""
    node.boot(config=gen_config_with(doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID)])))
    node.meta_write(0x0F, "6d1f4c2a-9b3e-4f7a-8c5d-2e1b0a9f8e7d")
    assert node.meta()["0x0f"] == "6d1f4c2a-9b3e-4f7a-8c5d-2e1b0a9f8e7d"
    assert any("UUID rewrite" in e.message for e in node.events())
    user = patch(doc("UserVolumeConfig", "data", [key(0, NODEID)], extra=USER_DISK))
    node.patch_config(user, mode="no-reboot")  # formatted with the override, before any reboot
    assert_ready(node, "u-data")
    node.reboot()
    assert_ready(node, "u-data")
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "failed" and "encryption key rejected" in st.error_message
    node.meta_delete(0x0F)
    node.advance(30)  # the retry tick opens EPHEMERAL with the SMBIOS UUID again, live
    assert_ready(node, "EPHEMERAL")
    node.reboot()
    assert node.volume_status("EPHEMERAL").phase == "ready"
    assert "encryption key rejected" in node.volume_status("u-data").error_message
    with pytest.raises(cryptnode.NotFoundError):
        node.meta_delete(0x0F)
