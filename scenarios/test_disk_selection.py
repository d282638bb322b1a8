"""provisioning.diskSelector.match is a CEL expression evaluated against each disk's block.Disk
(`disk`) and `system_disk`, as Talos' volume manager does (internal/app/machined/pkg/controllers/
block/internal/volumes/locate.go findCandidateDisks / selectBestDisk). The simulated disks are QEMU
virtio-scsi hard disks: /dev/sda (system), /dev/sdb, ...; model "QEMU HARDDISK", transport
"virtio" (docs/talos/volume-lifecycle.md#disk-selection)."""

import pytest

from cryptnode.configs import config, node_id, user_volume_config

THREE_DISKS = ("1GiB", "512MiB", "512MiB")


def user(match, **kw):
    return config(user_volume_config("data", keys=[node_id()], match=match, **kw))


def failed_with(node, volume, text, retryable):
    st = node.volume_status(volume)
    assert st.phase == "failed", (st.phase, st.error_message)
    assert st.error_message == text
    assert st.retryable is retryable
    assert st.pre_fail_phase == "waiting"


@pytest.mark.parametrize("match, disk", [
    ("disk.dev_path == '/dev/sdc'", "disk2"),
    ("disk.serial == 'QM00002'", "disk1"),
    ("'/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_QM00003' in disk.symlinks", "disk2"),
    ("disk.transport == 'virtio' && disk.model == 'QEMU HARDDISK' && !system_disk", "disk1"),
    ("disk.size < 1u * GiB && disk.rotational", "disk1"),
])
def test_user_volume_lands_on_the_disk_the_selector_picks(node_factory, match, disk):
    node = node_factory(disks=THREE_DISKS)
    node.boot(config=user(match))
    st = node.volume_status("u-data")
    assert st.phase == "ready", st.error_message
    assert st.parent_location == node.devices()[disk]
    node.reboot()  # located again by its label, wherever it is
    assert node.volume_status("u-data").parent_location == node.devices()[disk]


def test_first_matching_disk_with_room_wins(node_factory):
    """Candidates are taken in disk order (sda, sdb, ...): `true` matches the system disk too, but
    it has no room left after EPHEMERAL grew, so the volume goes to the first other disk."""
    node = node_factory(disks=THREE_DISKS)
    node.boot(config=user("true"))
    assert node.volume_status("u-data").parent_location == node.devices()["disk1"]


def test_no_disk_matches_the_selector(node):
    node.boot(config=user("disk.transport == 'nvme'"))
    failed_with(node, "u-data", "no disks matched selector for volume", False)
    assert node.volume_status("EPHEMERAL").phase == "ready"
    assert not node.running


def test_matching_disks_without_room_are_retried(node):
    node.boot(config=user("!system_disk", min_size="2GiB", max_size=None))
    failed_with(node, "u-data", "no disks matched for volume (1 matched selector): 1 have not "
                "enough space, 0 have wrong format, 0 have other issues", True)
    node.advance(30)  # the retry ticker tries again; the disk is still too small
    failed_with(node, "u-data", "no disks matched for volume (1 matched selector): 1 have not "
                "enough space, 0 have wrong format, 0 have other issues", True)


def test_evaluation_error_is_reported_as_talos_does(node):
    node.boot(config=user("disk.size / 0u > 1u"))
    failed_with(node, "u-data", "error evaluating disk locator: division by zero", False)


def test_ephemeral_on_another_disk(node_factory):
    """A VolumeConfig EPHEMERAL with its own selector: EPHEMERAL leaves the system disk."""
    node = node_factory(disks=THREE_DISKS)
    cfg = config("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nprovisioning:\n"
                 "  diskSelector:\n    match: disk.dev_path == '/dev/sdb'\n  minSize: 100MiB\n")
    node.boot(config=cfg)
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "ready", st.error_message
    assert st.parent_location == node.devices()["disk1"]
