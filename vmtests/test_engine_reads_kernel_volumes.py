"""Kernel -> simulation: in the guest, the cryptsetup CLI formats and keys the node's volumes with
go-blockdevice's luksFormat arguments, kernel dm-crypt serves them, mkfs.xfs and the guest write
the files; back on the host the node boots over those images and the engine (libcryptsetup, header
validation, key handlers, the userspace backend) opens every volume and reads the same bytes.

The simulation first lays the node out (GPT, partitions, STATE with its config and salt). The guest
then replaces every LUKS2 header and filesystem: STATE gets a new header and XFS with the same files
copied back (the config and encryption-salt.yaml), the other volumes start empty."""

import base64
import json
import os
import subprocess

import pytest

import cryptnode
from helpers import (NODEID, UUID, config, fields, hexkey, key, kms_key, mappings,
                     node_disks, sha256, static, status, sums, user_disk, volume_doc)
from vmtier.boot import BootSpec
from vmtier.job import Job
from vmtier.kms_client import seal

pytestmark = [pytest.mark.vm, pytest.mark.kms, pytest.mark.slow]

STATIC = "guest-made/Static#1"
STATIC2 = "second-slot-static"


@pytest.fixture
def kms():
    server = cryptnode.KmsServer.start()
    yield server
    server.stop()


def luks_uuid(image, partname):
    """The LUKS2 UUID in the binary header of a GPT partition of a disk image (offset 168)."""
    table = json.loads(subprocess.run(["sfdisk", "-J", image], capture_output=True, text=True,
                                      check=True).stdout)["partitiontable"]
    part = next(p for p in table["partitions"] if p.get("name") == partname)
    with open(image, "rb") as f:
        f.seek(part["start"] * table.get("sectorsize", 512))
        head = f.read(208)
    assert head[:6] == b"LUKS\xba\xbe", (partname, head[:6])
    return head[168:208].rstrip(b"\0").decode()


@pytest.mark.vm_smoke
def test_engine_opens_volumes_the_kernel_formatted(vm, node_factory, kms, tmp_path):
    node = node_factory(uuid=UUID, tpm=False, backend="userspace")
    node.boot(config=config(
        volume_doc("VolumeConfig", "STATE", [key(0, NODEID)]),
        volume_doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID, lock=True)]),
        volume_doc("UserVolumeConfig", "stat", [key(0, static(STATIC))], extra=user_disk()),
        volume_doc("UserVolumeConfig", "kms", [kms_key(0, kms.endpoint)], extra=user_disk()),
        volume_doc("UserVolumeConfig", "sec4k", [key(0, NODEID), key(1, static(STATIC2))],
                   extra=user_disk(), block_size=4096),
    ))
    for v in node.volumes():
        assert v.phase == "ready", (v.id, v.phase, v.error_message)
    node.write_file("STATE", "vmt/host.bin", b"written by the simulation before the guest\n")
    node_path = node.path
    node.close()
    disks = node_disks(node_path, readonly=False)
    images = {d.serial: d.path for d in disks}
    sim_uuids = {p: luks_uuid(images["system"], p) for p in ("STATE", "EPHEMERAL")}

    # A KMS key enrolled the way Talos' KMS handler does: 32 random bytes sealed by the KMS,
    # passphrase base64(key), token {"UserData":{"sealedData":...},"type":"sideroKMS",...}.
    kms_key_bytes = os.urandom(32)
    sealed = seal(kms.endpoint, UUID, kms_key_bytes)
    token = {"UserData": {"sealedData": base64.b64encode(sealed).decode()}, "type": "sideroKMS",
             "keyslots": []}
    kms_pass = base64.b64encode(kms_key_bytes).decode()

    job = Job("write-volumes").add_file("kms-token.json", json.dumps(token))
    job.line("backup", "STATE", "system", "STATE", 0, "nodeid", UUID)
    job.line("format", "STATE", "system", "STATE", 0, "nodeid", UUID, 0, "fast", 0)
    job.line("restore", "STATE")
    job.line("saltfrom", "STATE")
    job.line("write", "STATE", "vmt/guest.bin", 65536)
    job.line("close", "STATE")
    job.line("format", "EPHEMERAL", "system", "EPHEMERAL", 0, "nodeid", UUID, 1, "fast", 0)
    job.line("write", "EPHEMERAL", "vmt/guest.bin", 3 << 20)
    job.line("close", "EPHEMERAL")
    # Talos' exact command: no PBKDF options, cryptsetup benchmarks argon2id itself.
    job.line("format", "u-stat", "disk1", "u-stat", 0, "static", hexkey(STATIC), 0, "talos", 0)
    job.line("write", "u-stat", "deep/dir/guest.bin", (1 << 20) + 777)
    job.line("close", "u-stat")
    job.line("format", "u-kms", "disk1", "u-kms", 0, "kms", kms_pass, 0, "fast", 0)
    job.line("token", "u-kms", 0, "kms-token.json")
    job.line("write", "u-kms", "guest.bin", 1 << 20)
    job.line("close", "u-kms")
    job.line("format", "u-sec4k", "disk1", "u-sec4k", 0, "nodeid", UUID, 0, "fast", 4096)
    job.line("addkey", "u-sec4k", 1, "static", hexkey(STATIC2), 0, "fast")
    job.line("write", "u-sec4k", "guest.bin", (1 << 20) + 4096 * 5 + 512)
    job.line("close", "u-sec4k")
    result = vm.boot(BootSpec("write", disks, job.write(str(tmp_path / "job"))))
    print(result.describe())  # shown with -rP: timings, what the guest saw
    result.check()

    formatted = {ln.split()[0]: fields(ln) for ln in result.lines("FORMATTED")}
    assert sorted(formatted) == ["EPHEMERAL", "STATE", "u-kms", "u-sec4k", "u-stat"], formatted
    for p in ("STATE", "EPHEMERAL"):
        on_disk = luks_uuid(images["system"], p)
        assert on_disk == formatted[p]["uuid"] != sim_uuids[p], (p, on_disk, sim_uuids[p])
    maps = mappings(result)
    assert all(m["kernel_dm"] == "yes" and m["target"] == "crypt" for m in maps.values()), maps
    assert maps["u-sec4k"]["sector"] == "4096" and maps["u-stat"]["sector"] == "512", maps
    written = sums(result)
    assert len(written) == 5, written

    # The host: the node boots over the guest's images; config and salt come from the guest-made
    # STATE, every key handler opens its volume.
    with cryptnode.Node.open(node_path) as n:
        n.boot()
        for v in n.volumes():
            assert v.phase == "ready", (v.id, v.phase, v.error_message)
        for vol in ("STATE", "EPHEMERAL", "u-stat", "u-kms", "u-sec4k"):
            st = n.volume_status(vol)
            assert st.encryption_provider == "luks2" and st.encryption_slot == 0, (vol, st)
            assert status(st, "encryption_failed_syncs") == [], (vol, st)
        assert status(n.volume_status("EPHEMERAL"), "encryption_locked_to_state")
        for (vol, path), digest in written.items():
            assert sha256(n.read_file(vol, path)) == digest, (vol, path)
        assert n.read_file("STATE", "vmt/host.bin").startswith(b"written by the simulation")
        dump = n.luks_dump("u-sec4k")
        assert sorted(int(k) for k in dump["keyslots"]) == [0, 1]
        assert dump["segments"]["0"]["sector_size"] == 4096
        assert n.luks_dump("u-kms")["tokens"]["0"]["type"] == "sideroKMS"
        kdf = n.luks_dump("u-stat")["keyslots"]["0"]["kdf"]
        assert kdf["type"] == "argon2id", kdf  # cryptsetup's own choice, as under Talos
        # and the simulation writes on, through its own backend, into the guest's filesystems
        n.write_file("u-sec4k", "host-after.bin", b"x" * 10000)
        n.reboot()
        assert n.read_file("u-sec4k", "host-after.bin") == b"x" * 10000
        assert kms.calls >= 2
