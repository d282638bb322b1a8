"""talos#11502: the upgrade to 1.11 fails on the META value an older release wrote.

Report: after `talosctl upgrade` from v1.11.0-beta.0 to v1.11.0-beta.1 a node with
machine.systemDiskEncryption no longer boots. Talos keeps STATE's encryption config in META tag
0x09 (json.Marshal of the config) to open STATE before the machine config is known. Releases
before 1.11 wrote and read it as the legacy v1alpha1.EncryptionConfig, whose provider is "" when
the config leaves it out. v1.11.0-beta.1 (7eec61993) read it into block.EncryptionSpec only, whose
provider must be an EncryptionProviderType value: the VolumeConfigController failed and STATE
never got its VolumeConfig. v1.11.0-beta.2 (85589662a; ada51ff69 on main, PR #11515) falls back to
the legacy JSON (version table: meta_state_encryption_modern_json, meta_legacy_json_fallback).
Releases: lived only in v1.11.0-beta.1 (a pre-release: the node has beta profiles for it); fixed
in v1.11.0-beta.2, so no 1.11.x release has it.
What the user sees on beta.1: the boot stops with "error creating state volume configuration:
error unmarshalling state encryption meta key:  does not belong to EncryptionProviderType values"
(the empty provider between the colon and "does"); a fresh beta.1 install with such a config hits
it at its first reboot, since beta.1 itself writes the legacy JSON for it."""

import os

import pytest

import cryptnode
from bug_helpers import bug, cases, legacy
from cryptnode.configs import node_id

BUG = bug("talos#11502")
TEXT = ("error creating state volume configuration: error unmarshalling state encryption meta "
        "key:  does not belong to EncryptionProviderType values")
CONFIG = legacy(state=[node_id()], ephemeral=[node_id()])
DATA = os.urandom(4096)


@pytest.mark.parametrize("start", ["1.11.0-beta.0", "1.10.9"])
@pytest.mark.parametrize("version,lives", cases(BUG))
def test_upgrade_reads_meta_written_by_an_older_release(node_factory, start, version, lives):
    node = node_factory(talos_version=start)
    node.boot(config=CONFIG)
    assert node.meta()["0x09"].startswith('{"EncryptionProvider":"",')  # the legacy JSON
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.write_file("STATE", "keep.bin", DATA)

    if lives:
        with pytest.raises(cryptnode.CorruptError) as e:
            node.upgrade(version)
        assert str(e.value) == TEXT
        assert not node.powered_on  # the boot never got past STATE's VolumeConfig
        # The way out: the next pre-release. The disks were never touched.
        assert node.upgrade("1.11.0-beta.2") == "1.11.0-beta.2"
        node.boot()
    else:
        assert node.upgrade(version) == version
    assert node.running
    assert node.volume_status("STATE").encryption_slot == 0
    node.reboot()
    assert node.read_file("STATE", "keep.bin") == DATA
    assert node.read_file("EPHEMERAL", "data.bin") == DATA


@pytest.mark.parametrize("version,lives", cases(BUG))
def test_fresh_install_with_a_legacy_config_reboots(node_factory, version, lives):
    node = node_factory(talos_version=version)
    node.boot(config=CONFIG)
    assert node.running
    node.write_file("STATE", "keep.bin", DATA)
    if lives:
        with pytest.raises(cryptnode.CorruptError, match="^" + TEXT + "$"):
            node.reboot()
        assert not node.powered_on
        node.upgrade("1.11.0-beta.2")
        node.boot()
    else:
        node.reboot()
    assert node.running
    assert node.read_file("STATE", "keep.bin") == DATA
