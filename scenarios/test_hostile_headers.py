"""Hostile LUKS2 headers on a volume, written while the node is off, then a real boot.

A node boots with an encrypted user volume (static key) and writes a file on it; it is shut down,
the volume's partition is rewritten with a damaged or adversarial LUKS2 header (built from the real
header the boot wrote), and the node boots again. Every case must end in one of Talos' outcomes
for that volume, never a crash, a hang or a leak:

- opened: the volume is ready and the file is still there;
- reformatted: go-blockdevice's probe sees no LUKS2 magic with version 2 at offset 0 (Talos
  formats what probes as nothing: docs/talos/luks2.md), so the volume is ready, empty;
- failed: the volume is failed with a clear error, the other volumes are ready.

Talos validates both headers before each unlock from 1.12.7 (go-blockdevice
encryption/luks/header.go, `LUKS2 header validation error: ...`), so the cases run on 1.12.6 and
1.12.11 where the outcome differs. After each case the node is shut down and closed, and no loop
device or mount of it may remain.
"""

import hashlib
import json
import os
import struct
import subprocess

import pytest

from cryptnode.configs import config, node_id, static, user_volume_config, volume_config
from cryptnode.pytest_plugin import leftovers, snapshot

PASSPHRASE = "hostile-headers"
VOLUME = "u-data"
MARKER = b"written before the header was damaged\n"
CONFIG = config(
    volume_config("STATE", keys=[node_id()]),
    volume_config("EPHEMERAL", keys=[node_id()]),
    user_volume_config("data", keys=[static(PASSPHRASE)]),
)
BIN_SIZE = 4096  # LUKS2 binary header
CSUM = 448       # checksum field (64 bytes) of the binary header


# --- the partition, reached through the disk image while the node is off ----------------------

class Partition:
    """Where a partition of the node's loop devices lies in its backing image file."""

    def __init__(self, dev: str):
        name = os.path.basename(dev)                      # loopNpM
        parent = name.rsplit("p", 1)[0]                   # loopN
        sys_part = f"/sys/class/block/{name}"
        with open(f"{sys_part}/start") as f:
            self.offset = int(f.read()) * 512
        with open(f"{sys_part}/size") as f:
            self.size = int(f.read()) * 512
        with open(f"/sys/class/block/{parent}/loop/backing_file") as f:
            self.image = f.read().strip()

    def read(self, off: int, n: int) -> bytes:
        with open(self.image, "rb") as f:
            f.seek(self.offset + off)
            return f.read(n)

    def write(self, off: int, data: bytes) -> None:
        assert off + len(data) <= self.size, "a case writes beyond its partition"
        with open(self.image, "r+b") as f:
            f.seek(self.offset + off)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


class Header:
    """Both LUKS2 headers of a partition: binary headers and JSON areas, with their checksums."""

    def __init__(self, part: Partition):
        first = part.read(0, BIN_SIZE)
        assert first[:6] == b"LUKS\xba\xbe", first[:8]
        self.hdr_size = struct.unpack(">Q", first[8:16])[0]
        raw = part.read(0, 2 * self.hdr_size)
        self.bins = [bytearray(raw[0:BIN_SIZE]),
                     bytearray(raw[self.hdr_size:self.hdr_size + BIN_SIZE])]
        self.areas = [bytearray(raw[BIN_SIZE:self.hdr_size]),
                      bytearray(raw[self.hdr_size + BIN_SIZE:2 * self.hdr_size])]
        self.json = json.loads(bytes(self.areas[0]).rstrip(b"\0"))

    def seqid(self, i: int) -> int:
        return struct.unpack(">Q", self.bins[i][16:24])[0]

    def set_seqid(self, i: int, seqid: int) -> None:
        self.bins[i][16:24] = struct.pack(">Q", seqid)

    def set_json(self, i: int, text: bytes) -> None:
        area = len(self.areas[i])
        assert len(text) <= area, "JSON larger than its area"
        self.areas[i][:] = text + b"\0" * (area - len(text))

    def seal(self, i: int) -> None:
        """Recomputes header i's checksum (SHA-256 of the binary header with the checksum field
        zeroed, then its JSON area), as cryptsetup does."""
        self.bins[i][CSUM:CSUM + 64] = b"\0" * 64
        digest = hashlib.sha256(bytes(self.bins[i]) + bytes(self.areas[i])).digest()
        self.bins[i][CSUM:CSUM + 32] = digest

    def write(self, part: Partition) -> None:
        part.write(0, bytes(self.bins[0]) + bytes(self.areas[0]))
        part.write(self.hdr_size, bytes(self.bins[1]) + bytes(self.areas[1]))


def dump(meta: dict) -> bytes:
    return json.dumps(meta, separators=(",", ":")).encode()


def rewrite(hdr: Header, meta: dict, which=(0, 1), bump: bool = True) -> None:
    """Writes `meta` into the given headers with valid checksums, seqid raised by one."""
    text = dump(meta)
    for i in which:
        hdr.set_json(i, text)
        if bump:
            hdr.set_seqid(i, hdr.seqid(i) + 1)
        hdr.seal(i)


# --- the cases: each mutates the header pair (or the partition) and names Talos' outcome -------
# Expected outcome per version: "opened", "reformatted", or a substring of the volume's error.

VALIDATION = "LUKS2 header validation error: "


def bad_checksum_primary(part, hdr):
    """One byte of the primary JSON area changes, its checksum does not."""
    hdr.areas[0][len(dump(hdr.json)) + 10] = 0x20
    hdr.write(part)


def bad_checksums_both(part, hdr):
    for i in (0, 1):
        hdr.bins[i][CSUM] ^= 0xFF
    hdr.write(part)


def json_not_json(part, hdr):
    text = b"\x89PNG not json {{{" * 8
    for i in (0, 1):
        hdr.set_json(i, text)
        hdr.seal(i)
    hdr.write(part)


def json_oversized(part, hdr):
    """The JSON area filled to its last byte (no NUL terminator), checksums valid."""
    meta = dict(hdr.json)
    pad = len(hdr.areas[0]) - len(dump(meta)) - len(',"x":""')
    meta["x"] = "A" * pad
    text = dump(meta)
    assert len(text) == len(hdr.areas[0])
    rewrite(hdr, meta)
    hdr.write(part)


def json_deeply_nested(part, hdr):
    depth = (len(hdr.areas[0]) - len(dump(hdr.json)) - 16) // 2
    text = dump(hdr.json)[:-1] + b',"x":' + b"[" * depth + b"]" * depth + b"}"
    for i in (0, 1):
        hdr.set_json(i, text)
        hdr.set_seqid(i, hdr.seqid(i) + 1)
        hdr.seal(i)
    hdr.write(part)


def overlapping_segments(part, hdr):
    meta = json.loads(dump(hdr.json))
    seg = dict(meta["segments"]["0"])
    seg["offset"] = str(int(seg["offset"]) + 4096)
    meta["segments"]["1"] = seg
    rewrite(hdr, meta)
    hdr.write(part)


def keyslot_area_outside(part, hdr):
    meta = json.loads(dump(hdr.json))
    slot = next(iter(meta["keyslots"].values()))
    slot["area"]["offset"] = str(part.size + (1 << 20))
    rewrite(hdr, meta)
    hdr.write(part)


def kdf_unknown(part, hdr):
    meta = json.loads(dump(hdr.json))
    next(iter(meta["keyslots"].values()))["kdf"]["type"] = "scrypt"
    rewrite(hdr, meta)
    hdr.write(part)


def kdf_pbkdf2_forged(part, hdr):
    """The keyslot claims pbkdf2 (its key material was made with argon2id)."""
    meta = json.loads(dump(hdr.json))
    slot = next(iter(meta["keyslots"].values()))
    slot["kdf"] = {"type": "pbkdf2", "hash": "sha256", "iterations": 1000,
                   "salt": slot["kdf"]["salt"]}
    rewrite(hdr, meta)
    hdr.write(part)


def same_seqid_different_json(part, hdr):
    """Both headers valid with the same seqid; the secondary's JSON says the same with other
    bytes (keys in another order)."""
    meta = hdr.json
    reordered = {k: meta[k] for k in reversed(list(meta))}
    hdr.set_json(1, dump(reordered))
    hdr.set_seqid(1, hdr.seqid(0))
    hdr.seal(1)
    hdr.write(part)


def secondary_only(part, hdr):
    """The primary binary header and JSON area wiped: only the secondary is left."""
    part.write(0, b"\0" * hdr.hdr_size)


def luks1(part, hdr):
    """A LUKS1 header where the LUKS2 one was."""
    h = bytearray(592)
    h[0:6] = b"LUKS\xba\xbe"
    struct.pack_into(">H", h, 6, 1)
    h[8:11] = b"aes"
    h[40:51] = b"xts-plain64"
    h[72:78] = b"sha256"
    struct.pack_into(">II", h, 104, 4096, 64)
    part.write(0, bytes(h) + b"\0" * (2 * hdr.hdr_size - len(h)))


def header_larger_than_partition(part, hdr):
    """Both binary headers claim a header size beyond the partition (checksums valid)."""
    huge = 1 << 40
    for i in (0, 1):
        hdr.bins[i][8:16] = struct.pack(">Q", huge)
        hdr.seal(i)
    hdr.write(part)


def convert_kdf(kdf):
    """The keyslot converted to another KDF by cryptsetup itself (a genuine header, written
    while the node is on): Talos' validation rejects the KDF, cryptsetup opens it."""
    def run(dev):
        args = ["cryptsetup", "luksConvertKey", "--batch-mode", "--key-file=-", "--pbkdf", kdf,
                "--key-slot", "0", dev]
        args += (["--pbkdf-force-iterations", "1000"] if kdf == "pbkdf2" else
                 ["--pbkdf-force-iterations", "4", "--pbkdf-memory", "32"])
        r = subprocess.run(args, input=PASSPHRASE.encode(), capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr
    return run


# name -> (mutation while off | ("online", mutation of the device while on), {version: outcome})
CASES = {
    "bad_checksum_primary": (bad_checksum_primary, {
        "1.12.6": "opened", "1.12.11": "opened"}),
    "bad_checksums_both": (bad_checksums_both, {
        "1.12.6": "failed", "1.12.11": "failed"}),
    "json_not_json": (json_not_json, {
        "1.12.6": "failed", "1.12.11": "failed"}),
    "json_oversized": (json_oversized, {
        "1.12.6": "failed", "1.12.11": "failed"}),
    "json_deeply_nested": (json_deeply_nested, {
        "1.12.6": "failed", "1.12.11": "failed"}),
    "overlapping_segments": (overlapping_segments, {
        "1.12.6": "failed", "1.12.11": "failed"}),
    "keyslot_area_outside_device": (keyslot_area_outside, {
        "1.12.6": "failed", "1.12.11": "failed"}),
    "kdf_unknown": (kdf_unknown, {
        "1.12.6": "failed", "1.12.11": "failed"}),
    "kdf_pbkdf2_forged": (kdf_pbkdf2_forged, {
        "1.12.6": "failed", "1.12.11": VALIDATION + 'keyslot 0 has unexpected KDF type "pbkdf2"'}),
    "kdf_pbkdf2_genuine": (("online", convert_kdf("pbkdf2")), {
        "1.12.6": "opened", "1.12.11": VALIDATION + 'keyslot 0 has unexpected KDF type "pbkdf2"'}),
    "same_seqid_different_json": (same_seqid_different_json, {
        "1.12.6": "opened",
        "1.12.11": "LUKS2 headers have the same seqid but different JSON areas"}),
    "secondary_header_only": (secondary_only, {
        "1.12.6": "reformatted", "1.12.11": "reformatted"}),
    "luks1": (luks1, {"1.12.6": "reformatted", "1.12.11": "reformatted"}),
    "header_larger_than_partition": (header_larger_than_partition, {
        "1.12.6": "failed", "1.12.11": "failed"}),
}


def ours(before):
    """Loop devices and mounts of this test left after the node was closed."""
    return leftovers(before, snapshot())


@pytest.mark.slow
@pytest.mark.parametrize("version", ["1.12.6", "1.12.11"])
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_header(node_factory, version, case):
    mutate, outcomes = CASES[case]
    want = outcomes[version]
    before = snapshot()
    node = node_factory(talos_version=version)
    node.boot(config=CONFIG)
    st = node.volume_status(VOLUME)
    assert st.phase == "ready" and st.encryption_provider == "luks2", st
    node.write_file(VOLUME, "marker", MARKER)
    dev = node.devices()[VOLUME]
    part = Partition(dev)
    if isinstance(mutate, tuple):
        mutate[1](dev)
    node.shutdown()
    assert not node.devices()
    if not isinstance(mutate, tuple):
        mutate(part, Header(part))

    node.boot()
    assert node.powered_on, f"{case}: the node did not come up"
    for other in ("STATE", "EPHEMERAL"):
        assert node.volume_status(other).phase == "ready", (other, node.volume_status(other))
    st = node.volume_status(VOLUME)
    if want == "opened":
        assert st.phase == "ready", (case, st)
        assert node.read_file(VOLUME, "marker") == MARKER
    elif want == "reformatted":
        assert st.phase == "ready" and st.encryption_provider == "luks2", (case, st)
        with pytest.raises(Exception, match="no such file"):
            node.read_file(VOLUME, "marker")
    else:
        assert st.phase == "failed", (case, st)
        assert st.error_message, (case, st)
        if want != "failed":
            assert want in st.error_message, (case, st.error_message)
        if version == "1.12.6":
            assert VALIDATION not in st.error_message, st.error_message
    # The node still shuts down cleanly, and leaves nothing behind.
    node.shutdown()
    node.close()
    assert not ours(before), ours(before)
