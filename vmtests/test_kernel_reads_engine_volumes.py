"""Simulation -> kernel: volumes the simulation formatted (libcryptsetup) and filled through the
userspace backend (FUSE + AES-XTS plain64 + loop) open in a real kernel with the cryptsetup CLI and
dm-crypt, with every key kind, and hold the same bytes. One boot checks all volumes: the guest
rebuilds each passphrase from the UUID, the static passphrase, the KMS key the host unsealed, and
the lockToState salt it reads itself from STATE (docs/talos/keys.md)."""

import os

import pytest

import cryptnode
from helpers import (NODEID, UUID, config, hexkey, key, kms_key, kms_passphrase, mappings,
                     node_disks, salt_from_yaml, sha256, static, sums, user_disk, volume_doc)
from vmtier.boot import BootSpec
from vmtier.job import Job

pytestmark = [pytest.mark.vm, pytest.mark.kms, pytest.mark.slow]

STATIC = "vm-tier-Static_1"
STATIC2 = "another:static/2"


@pytest.fixture
def kms():
    server = cryptnode.KmsServer.start()
    yield server
    server.stop()


# volume -> (disk serial, partition name, [(slot, kind, arg, lock)], sector size)
def volumes(kms_pass):
    return {
        "STATE": ("system", "STATE", [(0, "nodeid", UUID, 0)], 512),
        "EPHEMERAL": ("system", "EPHEMERAL", [(0, "nodeid", UUID, 1)], 512),
        "u-stat": ("disk1", "u-stat", [(0, "static", hexkey(STATIC), 0)], 512),
        "u-kms": ("disk1", "u-kms", [(0, "kms", kms_pass, 0)], 512),
        # two slots, both opened; 4 KiB crypto sectors (plain64 counts 512-byte units)
        "u-multi": ("disk1", "u-multi", [(0, "static", hexkey(STATIC2), 0),
                                         (2, "nodeid", UUID, 1)], 4096),
    }


@pytest.mark.vm_smoke
def test_kernel_dm_crypt_reads_every_key_kind(vm, node_factory, kms, tmp_path):
    node = node_factory(uuid=UUID, tpm=False, backend="userspace")
    node.boot(config=config(
        volume_doc("VolumeConfig", "STATE", [key(0, NODEID)]),
        volume_doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID, lock=True)]),
        volume_doc("UserVolumeConfig", "stat", [key(0, static(STATIC))], extra=user_disk()),
        volume_doc("UserVolumeConfig", "kms", [kms_key(0, kms.endpoint)], extra=user_disk()),
        volume_doc("UserVolumeConfig", "multi", [key(0, static(STATIC2)),
                                                 key(2, NODEID, lock=True)],
                   extra=user_disk(), block_size=4096),
    ))
    for v in node.volumes():
        assert v.phase == "ready", (v.id, v.phase, v.error_message)
    expected = {}
    for vol, size in (("STATE", 64 << 10), ("EPHEMERAL", 3 << 20), ("u-stat", 1 << 20),
                      ("u-kms", 1 << 20), ("u-multi", (1 << 20) + 4096 * 3 + 512)):
        data = os.urandom(size)
        node.write_file(vol, "vmt/data.bin", data)
        expected[(vol, "vmt/data.bin")] = sha256(data)
    small = b"the same bytes in the kernel\n"
    node.write_file("u-stat", "hello.txt", small)
    expected[("u-stat", "hello.txt")] = sha256(small)
    salt = salt_from_yaml(node.read_file("STATE", "encryption-salt.yaml").decode())
    assert len(salt) == 32
    kms_pass = kms_passphrase(node, "u-kms", 0, kms.endpoint)
    node_path = node.path
    node.close()  # clean power-off: images consistent, loop devices detached

    job = Job("read-volumes")
    job.line("salt", "system", "STATE", 0, "nodeid", UUID)
    for vol, (serial, part, keys, _) in volumes(kms_pass).items():
        for slot, kind, arg, lock in keys:
            job.line("open", vol, serial, part, slot, kind, arg, lock)
            for (v, path) in expected:
                if v == vol:
                    job.line("sum", vol, path)
            job.line("close", vol)
    spec = BootSpec("read", node_disks(node_path, readonly=True), job.write(str(tmp_path / "job")))
    result = vm.boot(spec)
    print(result.describe())  # shown with -rP: timings, what the guest saw
    result.check()

    salt_lines = result.lines("SALT")
    assert salt_lines and f"sha256={sha256(salt)}" in salt_lines[0], salt_lines
    opened = [ln.split()[0] + ":" + ln.split()[1] for ln in result.lines("OPENED")]
    assert opened == ["STATE:slot=0", "STATE:slot=0", "EPHEMERAL:slot=0", "u-stat:slot=0",
                      "u-kms:slot=0", "u-multi:slot=0", "u-multi:slot=2"], opened
    got = sums(result)
    for k, digest in expected.items():
        assert got.get(k) == digest, (k, result.describe())
    maps = mappings(result)
    for vol, (_, _, _, sector) in volumes(kms_pass).items():
        m = maps[vol]
        assert m["cipher"] == "aes-xts-plain64" and m["keysize"] == "512", m
        assert m["target"] == "crypt" and m["kernel_dm"] == "yes", m
        assert m["sector"] == str(sector), (vol, m)
    mounted = {ln.split()[0]: ln for ln in result.lines("MOUNTED")}
    assert all("fs=xfs" in mounted[v] for v in volumes(kms_pass)), mounted
