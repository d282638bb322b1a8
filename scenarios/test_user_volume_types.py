"""UserVolumeConfig volumeType directory and disk (Talos 1.12+): volumeconfig/user_volumes.go
UserVolumeTransformer, volumes/locate.go, pkg/machinery/config/types/block/user_volume_config.go.

- directory: a directory /var/mnt/<name> on EPHEMERAL, always ready, nothing located or
  provisioned; no provisioning, filesystem or encryption of its own (validation refuses them), so
  its data is encrypted exactly when EPHEMERAL is;
- disk: the whole disk the diskSelector matches (located with `disk` alone in the CEL activation,
  more than one match is an error), formatted or encrypted as a partition volume would be."""

import os

import pytest

import cryptnode
from cryptnode.configs import config, node_id, volume_config

DATA = b"user volume data\n" * 32
LUKS_MAGIC = b"LUKS\xba\xbe"


def directory_volume(name):
    return {"apiVersion": "v1alpha1", "kind": "UserVolumeConfig", "name": name,
            "volumeType": "directory"}


def disk_volume(name, match, keys=None):
    doc = {"apiVersion": "v1alpha1", "kind": "UserVolumeConfig", "name": name,
           "volumeType": "disk", "provisioning": {"diskSelector": {"match": match}}}
    if keys is not None:
        doc["encryption"] = {"provider": "luks2", "keys": keys}
    return doc


def head(path, n):
    with open(path, "rb") as f:
        return f.read(n)


def test_directory_volume_lives_on_ephemeral(node):
    node.boot(config=config(volume_config("EPHEMERAL", keys=[node_id()]),
                            directory_volume("cache")))
    st = node.volume_status("u-cache")
    assert (st.type, st.phase) == ("directory", "ready"), st.error_message
    assert st.location == "" and st.mount_location == "" and st.encryption_provider == ""
    node.write_file("u-cache", "f.bin", DATA)
    # /var/mnt/cache: the file is EPHEMERAL's, behind EPHEMERAL's encryption.
    assert node.read_file("EPHEMERAL", "mnt/cache/f.bin") == DATA
    assert node.volume_status("EPHEMERAL").encryption_provider == "luks2"
    node.reboot()
    assert node.read_file("u-cache", "f.bin") == DATA
    node.reset(system_labels_to_wipe=["EPHEMERAL"], reboot=True)
    assert node.volume_status("u-cache").phase == "ready"
    with pytest.raises(cryptnode.Error):
        node.read_file("u-cache", "f.bin")  # gone with EPHEMERAL


def test_directory_volume_refuses_encryption_and_provisioning(node):
    doc = directory_volume("cache")
    doc["encryption"] = {"provider": "luks2", "keys": [node_id()]}
    doc["provisioning"] = {"diskSelector": {"match": "!system_disk"}}
    errors = cryptnode.validate_config(config(doc))
    assert "UserVolumeConfig/cache: provisioning spec is invalid for volumeType directory" in \
        "\n".join(errors), errors
    assert any("encryption spec is invalid for volumeType directory" in e for e in errors), errors
    node.boot(config=config())
    with pytest.raises(cryptnode.Error) as e:
        node.apply_config(config(doc), mode="no-reboot")
    assert "encryption spec is invalid for volumeType directory" in str(e.value)


def test_encrypted_disk_volume_takes_the_whole_disk(node):
    node.boot(config=config(disk_volume("data", "disk.dev_path == '/dev/sdb'",
                                        keys=[node_id()])))
    st = node.volume_status("u-data")
    assert (st.type, st.phase) == ("disk", "ready"), st.error_message
    assert st.location == node.devices()["disk1"]
    assert st.parent_location == "" and st.partition_index == 0
    assert st.size == 512 << 20
    assert st.encryption_provider == "luks2" and st.filesystem == "xfs"
    # LUKS2 at the start of the disk: no partition table.
    assert head(os.path.join(node.path, "disks", "disk1.img"), 6) == LUKS_MAGIC
    node.write_file("u-data", "f.bin", DATA)
    node.reboot()
    assert node.volume_status("u-data").phase == "ready"
    assert node.read_file("u-data", "f.bin") == DATA


def test_unencrypted_disk_volume_is_a_filesystem_on_the_disk(node):
    node.boot(config=config(disk_volume("data", "disk.dev_path == '/dev/sdb'")))
    st = node.volume_status("u-data")
    assert st.phase == "ready", st.error_message
    assert st.mount_location == st.location == node.devices()["disk1"]
    assert head(os.path.join(node.path, "disks", "disk1.img"), 4) == b"XFSB"


def test_disk_locator_has_no_system_disk_variable(node):
    """locate.go evaluates the diskSelector with {"disk": ...} only: `!system_disk`, the user
    volumes' usual selector, is cel-go's "no such attribute(s)" for a disk volume."""
    node.boot(config=config(disk_volume("data", "!system_disk")))
    st = node.volume_status("u-data")
    assert st.phase == "failed"
    assert st.error_message == ("error evaluating disk locator: no such attribute(s): "
                                "system_disk")


def test_disk_volume_matching_two_disks_is_an_error(node_factory):
    node = node_factory(disks=["1GiB", "256MiB", "256MiB"])
    node.boot(config=config(disk_volume("data", "disk.size < 1000000000u")))
    st = node.volume_status("u-data")
    assert st.phase == "failed"
    assert st.error_message == ("multiple disks matched locator for disk volume; matched "
                                "disks: [/dev/sdb /dev/sdc]")


def test_disk_volume_on_a_partitioned_disk_is_a_mismatch(node):
    """The located disk holds a GPT: Talos does not format over it."""
    part = {"apiVersion": "v1alpha1", "kind": "UserVolumeConfig", "name": "part",
            "provisioning": {"diskSelector": {"match": "!system_disk"}, "minSize": "100MiB",
                             "maxSize": "200MiB"}}
    node.boot(config=config(part))
    node.apply_config(config(part, disk_volume("data", "disk.dev_path == '/dev/sdb'",
                                               keys=[node_id()])), mode="no-reboot")
    st = node.volume_status("u-data")
    assert st.phase == "failed"
    assert st.error_message == "block dev type mismatch: gpt != luks"


@pytest.mark.parametrize("version", ["1.12", "1.14"])
def test_reset_of_a_directory_volume(node_factory, version):
    """Server.Reset: a directory volume has no location. Before 1.14 it is "not located"; from
    1.14 (b644d1640, reset_resides_on_volume_check) it is wiped with EPHEMERAL, which must be
    listed too."""
    node = node_factory(talos_version=version)
    node.boot(config=config(directory_volume("cache")))
    node.write_file("u-cache", "f.bin", DATA)
    with pytest.raises(cryptnode.Error) as e:
        node.reset(system_labels_to_wipe=["u-cache"])
    if version == "1.12":
        assert str(e.value) == 'failed to reset: volume "u-cache" is not located'
    else:
        assert str(e.value) == ('failed to reset: volume "u-cache" resides on volume "EPHEMERAL", '
                                'and therefore "u-cache" cannot be wiped without wiping '
                                '"EPHEMERAL"')
    assert node.read_file("u-cache", "f.bin") == DATA  # nothing changed
    if version == "1.14":
        node.reset(system_labels_to_wipe=["u-cache", "EPHEMERAL"], reboot=True)
        with pytest.raises(cryptnode.Error):
            node.read_file("u-cache", "f.bin")
