"""Replays of Talos' integration tests (docs/talos/integration-tests.md) on a simulated node, with the statuses
they assert."""

import os

import pytest

from configs import NODEID, config, doc, key, static

DATA = os.urandom(8192)
ROTATION_SECRET = "AlO93jayutOpsDxDS=-"


def ephemeral(*keys):
    return config(doc("VolumeConfig", "STATE", [key(0, NODEID)]),
                  doc("VolumeConfig", "EPHEMERAL", list(keys)))


def assert_healthy(node):
    """What the Talos test asserts after each step: every VolumeStatus phase in {ready, missing} and
    no failed syncs."""
    for st in node.volumes():
        assert st.phase in ("ready", "missing"), (st.id, st.phase, st.error_message)
        assert st.encryption_failed_syncs == [], (st.id, st.encryption_failed_syncs)


# api.ApplyConfigSuite.TestApplyConfigRotateEncryptionSecrets: existing = EPHEMERAL keys[0],
# slot = existing.slot + 1; patch the keys, reboot explicitly, assert.
ROTATION_SETS = [
    ("a: add static", [key(0, NODEID), key(1, static(ROTATION_SECRET))], [0, 1], 0),
    ("b: remove original", [key(1, static(ROTATION_SECRET))], [1], 1),
    ("c: re-add original", [key(0, NODEID), key(1, static(ROTATION_SECRET))], [0, 1], 1),
    ("d: kind change in slot", [key(0, NODEID), key(1, NODEID)], [0, 1], 0),
    ("e: nodeID in new slot only", [key(1, NODEID)], [1], 1),
]


def test_apply_config_rotate_encryption_secrets(node):
    node.boot(config=ephemeral(key(0, NODEID)))
    assert_healthy(node)
    node.write_file("EPHEMERAL", "data.bin", DATA)
    for name, keys, slots, used in ROTATION_SETS:
        cfg = ephemeral(*keys)
        # v1.12: a VolumeConfig-only change applies without a reboot ("patching encryption keys
        # doesn't reboot and doesn't rotate the secrets either"), so the test reboots explicitly.
        assert node.apply_config(cfg) == "no-reboot", name
        node.reboot()
        assert node.active_config() == cfg, name
        assert_healthy(node)
        st = node.volume_status("EPHEMERAL")
        assert sorted(int(s) for s in node.luks_dump("EPHEMERAL")["keyslots"]) == slots, name
        assert st.encryption_slot == used, name
    assert node.read_file("EPHEMERAL", "data.bin") == DATA


USER = """provisioning:
  diskSelector:
    match: "!system_disk"
  minSize: 100MiB
  maxSize: 200MiB
"""


@pytest.mark.parametrize("locked", [True, False], ids=["lockToSTATE", "unlocked"])
def test_reset_with_spec_state_and_user_disks(node, locked):
    """api.ResetSuite.TestResetWithSpecStateAndUserDisks: wipe STATE and the user disks with a
    reboot. With a lockToSTATE EPHEMERAL key: EPHEMERAL fails with "encryption key rejected" until
    it is reset too (graceful=false); without: the node is healthy. The provisioner delivers the
    config again after STATE is gone: here, apply_config(insecure=True) in maintenance."""
    cfg = config(
        doc("VolumeConfig", "STATE", [key(0, NODEID)]),
        doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID, lock=locked)]),
        doc("UserVolumeConfig", "data", [key(0, NODEID, lock=locked)], extra=USER),
    )
    node.boot(config=cfg)
    assert_healthy(node)
    node.write_file("EPHEMERAL", "keep.bin", DATA)
    node.reset(system_labels_to_wipe=["STATE", "u-data"], reboot=True)
    assert node.maintenance
    node.apply_config(cfg, insecure=True)
    eph = node.volume_status("EPHEMERAL")
    if locked:
        assert eph.phase == "failed"
        assert "encryption key rejected" in eph.error_message
        node.reset(system_labels_to_wipe=["EPHEMERAL"], reboot=True, graceful=False)
        assert_healthy(node)
    else:
        assert_healthy(node)
        assert node.read_file("EPHEMERAL", "keep.bin") == DATA
    assert node.volume_status("u-data").phase == "ready"
