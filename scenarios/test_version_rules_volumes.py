"""The old sides of the volume rules of the version table (engine/src/versions/table.cpp), each
against its newest side: the mapper name (mapper_name_volume_id), what teardown closes
(close_by_mapper_name) and whether reset drops the GPT entry (reset_drops_partition)."""

import json
import os
import subprocess

import pytest

import cryptnode
from cryptnode.configs import config, node_id, user_volume_config, volume_config
from cryptnode.host import loop_devices

DATA = b"kept across the close\n" * 64


def mapped_name(node, volume_id):
    """The name of the mapping a volume's mount location is: the userspace backend's loop device
    over run/mapper/<name>, or a kernel dm-N."""
    dev = node.volume_status(volume_id).mount_location
    if dev.startswith("/dev/dm-"):
        with open(f"/sys/block/{os.path.basename(dev)}/dm/name") as f:
            return f.read().strip()
    return os.path.basename(loop_devices()[dev])


def open_mappings(node):
    return sorted(os.path.basename(b) for b in loop_devices().values()
                  if b.startswith(os.path.join(node.path, "run", "mapper") + "/"))


def gpt_labels(image):
    out = subprocess.run(["sfdisk", "--json", image], capture_output=True, text=True, check=True)
    return [p.get("name") for p in json.loads(out.stdout)["partitiontable"]["partitions"]]


def test_mapper_name_is_partition_encrypted_before_1_12(node_factory):
    """volumes/encrypt.go before 79cb871d0 (1.12.0): filepath.Base(Status.Location) +
    "-encrypted"; from 1.12.0 luks2-<volume id>."""
    for version, expected in (("1.11.6", lambda vid, loc: os.path.basename(loc) + "-encrypted"),
                              ("1.12.0", lambda vid, loc: "luks2-" + vid)):
        node = node_factory(talos_version=version)
        node.boot(config=config(volume_config("EPHEMERAL", keys=[node_id()]),
                                user_volume_config("data", keys=[node_id()])))
        for vid in ("EPHEMERAL", "u-data"):
            location = node.volume_status(vid).location
            assert mapped_name(node, vid) == expected(vid, location), (version, vid)
        node.close()


def test_removed_volume_stays_mapped_on_1_9_0_to_1_10_3(node_factory):
    """close.go 1.9.0-1.10.3 (cc768037f) closed filepath.Base(MountLocation), the resolved
    device's name: "not active", ignored, the mapping stayed open (talos#11725); 1.10.4
    (037801f5f) closes <partition>-encrypted. Removing a user volume document shows it; the
    document back, the volume that is still open is only re-synced and its data is there."""
    for version, stays_open in (("1.10.3", True), ("1.10.4", False)):
        node = node_factory(talos_version=version)
        user = user_volume_config("data", keys=[node_id()])
        node.boot(config=config(user))
        name = mapped_name(node, "u-data")
        assert name.endswith("-encrypted")
        node.write_file("u-data", "keep.bin", DATA)
        node.apply_config(config(), mode="no-reboot")
        assert (name in open_mappings(node)) == stays_open, (version, open_mappings(node))
        node.apply_config(config(user), mode="no-reboot")
        assert node.volume_status("u-data").phase == "ready"
        assert node.read_file("u-data", "keep.bin") == DATA
        node.close()


def test_reset_keeps_the_gpt_entry_before_1_12(node_factory):
    """internal/pkg/partition/wipe.go before 399240be3 (1.12.0): reset --system-labels-to-wipe
    wipes the partition and keeps its GPT entry; the next boot finds it empty and formats it."""
    node = node_factory(talos_version="1.11.6")
    cfg = config(volume_config("EPHEMERAL", keys=[node_id()]))
    node.boot(config=cfg)
    node.write_file("EPHEMERAL", "gone.bin", DATA)
    index = node.volume_status("EPHEMERAL").partition_index
    node.reset(system_labels_to_wipe=["EPHEMERAL"])
    image = os.path.join(node.path, "disks", "system.img")
    assert "EPHEMERAL" in gpt_labels(image)
    node.boot()
    status = node.volume_status("EPHEMERAL")
    assert status.phase == "ready" and status.encryption_provider == "luks2"
    assert status.partition_index == index  # the same partition, not a new one
    with pytest.raises(cryptnode.Error):
        node.read_file("EPHEMERAL", "gone.bin")
