"""A partition holding something Talos recognises is never formatted over: go-blockdevice's blkid
names it, and the encrypted volume fails with Talos' mismatch text (internal/app/machined/pkg/
controllers/block/internal/volumes/encrypt.go, release-1.12) while the foreign signature stays
where it was (docs/talos/volume-lifecycle.md, "Probing")."""

import os
import shutil
import struct
import subprocess
import zlib

import pytest

from cryptnode.configs import config, static, volume_config

MiB = 1 << 20
ENCRYPTED_EPHEMERAL = config(volume_config("EPHEMERAL", keys=[static("probe-test")]))


def lvm2_label() -> bytes:
    """Sector 1 of a PV as pvcreate writes it: label header (LABELONE, its sector, CRC over the
    rest of the sector, "LVM2 001") and the PV header's UUID (lib/label/label.c, lib/format_text/
    layout.h of LVM2)."""
    body = bytearray(512)
    body[0:8] = b"LABELONE"
    struct.pack_into("<QII", body, 8, 1, 0, 32)
    body[24:32] = b"LVM2 001"
    body[32:64] = b"F3kTtq8iV1hYpXb2W7yaQzKc0mRjZsDn"
    struct.pack_into("<Q", body, 64, 256 * MiB)
    crc = ~zlib.crc32(bytes(body[20:]), ~0xF597A6CF & 0xFFFFFFFF) & 0xFFFFFFFF
    struct.pack_into("<I", body, 16, crc)
    return bytes(body)


def zfs_uberblocks() -> bytes:
    """The first vdev label's uberblock ring with 4 uberblocks (magic 0x00bab10c)."""
    ring = bytearray(256 * 1024)
    for i in range(4):
        struct.pack_into("<QQQQ", ring, 128 * 1024 + i * 1024, 0x00BAB10C, 5000, 4 + i, 0x1234)
    return bytes(ring)


# name go-blockdevice reports -> (offset, bytes) written into the partition
SIGNATURES = {
    "lvm2-pv": (512, lvm2_label()),
    "bluestore": (0, b"bluestore block device\n" + os.urandom(37)),
    "zfs": (0, zfs_uberblocks()),
}


def write_at(device: str, offset: int, data: bytes) -> None:
    fd = os.open(device, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_at(device: str, offset: int, length: int) -> bytes:
    fd = os.open(device, os.O_RDONLY)
    try:
        return os.pread(fd, length, offset)
    finally:
        os.close(fd)


def assert_refused(node, name: str) -> None:
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "failed", st
    assert st.error_message == f"block dev type mismatch: {name} != luks"
    assert not st.retryable  # Talos does not tag the mismatch Retryable: no retry formats it
    assert st.encryption_provider == ""


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_a_foreign_signature_is_never_formatted_over(node, name):
    node.boot(config=ENCRYPTED_EPHEMERAL)
    assert node.volume_status("EPHEMERAL").encryption_provider == "luks2"
    partition = node.devices()["EPHEMERAL"]
    # Another system's volume where EPHEMERAL was: no LUKS header any more, its signature instead.
    write_at(partition, 0, bytes(MiB))
    offset, signature = SIGNATURES[name]
    write_at(partition, offset, signature)
    node.reboot()
    assert_refused(node, name)
    node.advance(30)  # the retry ticker does not touch it either
    assert_refused(node, name)
    partition = node.devices()["EPHEMERAL"]
    assert read_at(partition, offset, len(signature)) == signature
    assert read_at(partition, 0, 6) != b"LUKS\xba\xbe"


def test_a_physical_volume_made_by_pvcreate_is_never_formatted_over(node):
    """The same with the real tool: pvcreate on the EPHEMERAL partition of the powered-off node
    (a loop device over the disk image at the partition's offset)."""
    if not shutil.which("pvcreate"):
        pytest.skip("pvcreate is not installed (Debian package lvm2)")
    node.boot(config=ENCRYPTED_EPHEMERAL)
    partition = node.devices()["EPHEMERAL"]
    name = os.path.basename(partition)
    with open(f"/sys/class/block/{name}/start") as f:
        start = int(f.read()) * 512
    with open(f"/sys/class/block/{name}/size") as f:
        size = int(f.read()) * 512
    node.shutdown()
    image = os.path.join(node.path, "disks", "system.img")
    loop = subprocess.run(["losetup", "--find", "--show", "--offset", str(start), "--sizelimit",
                           str(size), image], capture_output=True, text=True, check=True)
    loop = loop.stdout.strip()
    try:
        write_at(loop, 0, bytes(MiB))
        subprocess.run(["pvcreate", "-q", "-ff", "-y", "--config",
                        "devices { use_devicesfile=0 }", loop],
                       capture_output=True, text=True, check=True)
        label = read_at(loop, 512, 512)
    finally:
        subprocess.run(["losetup", "-d", loop], check=False)
    assert label.startswith(b"LABELONE")
    node.boot()
    assert_refused(node, "lvm2-pv")
    partition = node.devices()["EPHEMERAL"]
    assert read_at(partition, 512, 512) == label
    if shutil.which("blkid"):  # util-linux agrees: still an LVM2 member
        out = subprocess.run(["blkid", "-p", "-o", "value", "-s", "TYPE", partition],
                             capture_output=True, text=True)
        assert out.stdout.strip() == "LVM2_member"


def test_luks1_is_formatted_over_as_talos_does(node):
    """go-blockdevice does not recognise LUKS1: Talos sees an empty partition and formats it."""
    node.boot(config=ENCRYPTED_EPHEMERAL)
    partition = node.devices()["EPHEMERAL"]
    header = bytearray(512)
    header[0:6] = b"LUKS\xba\xbe"
    struct.pack_into(">H", header, 6, 1)
    write_at(partition, 0, bytes(MiB))
    write_at(partition, 0, bytes(header))
    node.reboot()
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "ready" and st.encryption_provider == "luks2", st
    partition = node.devices()["EPHEMERAL"]
    assert read_at(partition, 6, 2) == b"\x00\x02"  # a LUKS2 header replaced it
