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
encryption/luks/header.go, `LUKS2 header validation error: ...`), so the cases where that matters
run on 1.12.6 and 1.12.11, the KDF cases also on 1.12.7 and 1.12.9 (around the release that accepts
argon2i again); the cases cryptsetup or the probe decide alone run on 1.12.11.
Each case's docstring says why its outcome is Talos' (cryptsetup's and go-blockdevice's rules).
After each case the node is shut down and closed, and no loop device or mount of it may remain.
"""

import hashlib
import json
import os
import struct
import subprocess
import zlib

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
# Expected outcome per version: "opened", "reformatted", "failed", or a substring of the volume's
# error (which implies failed). Which header wins, per cryptsetup 2.6
# (lib/luks2/luks2_disk_metadata.c, LUKS2_disk_hdr_read): a header counts only if its magic,
# version, checksum and JSON all hold; of two valid ones the higher seqid wins, and one valid
# header repairs the other. Talos before 1.12.7 calls cryptsetup only; from 1.12.7
# go-blockdevice's readHeader/validateHeader run first and check neither checksums nor areas,
# only the rules of docs/talos/luks2.md#header-validation on the header with the higher seqid.

VALIDATION = "LUKS2 header validation error: "
ALL = ("1.12.6", "1.12.11")  # before and after go-blockdevice's header validation
# Where cryptsetup (crypt_load) or the probe decides alone, the release makes no difference: the
# case runs on the current release only.
CURRENT = ("1.12.11",)
KDF_VERSIONS = ("1.12.6", "1.12.7", "1.12.9", "1.12.11")  # argon2i refused in 1.12.7-1.12.8 only


def bad_checksum_primary(part, hdr):
    """One byte of the primary JSON area changes, its checksum does not. cryptsetup: the primary
    is invalid, the secondary valid and used (and repairs the primary); go-blockdevice checks no
    checksum and finds the same JSON rules satisfied. Opened."""
    hdr.areas[0][len(dump(hdr.json)) + 10] = 0x20
    hdr.write(part)


def bad_checksum_secondary(part, hdr):
    """The secondary's checksum field flipped. cryptsetup uses the primary (and repairs the
    secondary); go-blockdevice does not look at checksums. Opened."""
    hdr.bins[1][CSUM] ^= 0xFF
    hdr.write(part)


def bad_checksums_both(part, hdr):
    """Both checksums wrong: cryptsetup has no valid header (crypt_load fails, -EINVAL), while the
    probe still sees LUKS2 magic and version 2, so Talos opens, never formats. Failed."""
    for i in (0, 1):
        hdr.bins[i][CSUM] ^= 0xFF
    hdr.write(part)


def json_not_json(part, hdr):
    """Both JSON areas garbage with valid checksums: cryptsetup rejects the JSON of both, and
    go-blockdevice cannot unmarshal either ("failed to unmarshal JSON area of both headers").
    Failed."""
    text = b"\x89PNG not json {{{" * 8
    for i in (0, 1):
        hdr.set_json(i, text)
        hdr.seal(i)
    hdr.write(part)


def json_oversized(part, hdr):
    """The JSON area filled to its last byte (no NUL terminator), checksums valid. cryptsetup
    needs the JSON text to end inside its area (it reads the area as a NUL-terminated string) and
    finds no valid header. Failed."""
    meta = dict(hdr.json)
    pad = len(hdr.areas[0]) - len(dump(meta)) - len(',"x":""')
    meta["x"] = "A" * pad
    text = dump(meta)
    assert len(text) == len(hdr.areas[0])
    rewrite(hdr, meta)
    hdr.write(part)


def json_deeply_nested(part, hdr):
    """An array nested thousands deep inside valid metadata: json-c's parser stops at its depth
    limit (32), so cryptsetup finds no valid header. Failed (never a stack overflow)."""
    depth = (len(hdr.areas[0]) - len(dump(hdr.json)) - 16) // 2
    text = dump(hdr.json)[:-1] + b',"x":' + b"[" * depth + b"]" * depth + b"}"
    for i in (0, 1):
        hdr.set_json(i, text)
        hdr.set_seqid(i, hdr.seqid(i) + 1)
        hdr.seal(i)
    hdr.write(part)


def overlapping_segments(part, hdr):
    """A second segment overlapping the first (checksums valid). cryptsetup's JSON validation
    (hdr_validate_segments) refuses overlapping segments in both headers; go-blockdevice would
    say "expected 1 segment, got 2", but crypt_load fails first. Failed."""
    meta = json.loads(dump(hdr.json))
    seg = dict(meta["segments"]["0"])
    seg["offset"] = str(int(seg["offset"]) + 4096)
    meta["segments"]["1"] = seg
    rewrite(hdr, meta)
    hdr.write(part)


def keyslot_area_outside(part, hdr):
    """Keyslot 0's area moved past the end of the partition. cryptsetup's hdr_validate_areas
    refuses an area outside the keyslots region (config.keyslots_size) in both headers; go-
    blockdevice does not check areas. Failed."""
    meta = json.loads(dump(hdr.json))
    slot = next(iter(meta["keyslots"].values()))
    slot["area"]["offset"] = str(part.size + (1 << 20))
    rewrite(hdr, meta)
    hdr.write(part)


def kdf_unknown(part, hdr):
    """KDF "scrypt": cryptsetup refuses an unknown KDF type when it validates the JSON. Failed."""
    meta = json.loads(dump(hdr.json))
    next(iter(meta["keyslots"].values()))["kdf"]["type"] = "scrypt"
    rewrite(hdr, meta)
    hdr.write(part)


def kdf_pbkdf2_forged(part, hdr):
    """The keyslot claims pbkdf2 (its key material was made with argon2id): cryptsetup loads the
    header, but the passphrase derives another key, so the digest does not match (-EPERM, a
    rejected key) before 1.12.7; from 1.12.7 go-blockdevice refuses pbkdf2 first."""
    meta = json.loads(dump(hdr.json))
    slot = next(iter(meta["keyslots"].values()))
    slot["kdf"] = {"type": "pbkdf2", "hash": "sha256", "iterations": 1000,
                   "salt": slot["kdf"]["salt"]}
    rewrite(hdr, meta)
    hdr.write(part)


def same_seqid_different_json(part, hdr):
    """Both headers valid with the same seqid; the secondary's JSON says the same with other
    bytes (keys in another order). cryptsetup takes the primary (equal seqids: no conflict it
    checks); go-blockdevice compares the JSON areas byte for byte and refuses."""
    meta = hdr.json
    reordered = {k: meta[k] for k in reversed(list(meta))}
    hdr.set_json(1, dump(reordered))
    hdr.set_seqid(1, hdr.seqid(0))
    hdr.seal(1)
    hdr.write(part)


def secondary_only(part, hdr):
    """The primary binary header and JSON area zeroed, the secondary intact. cryptsetup alone
    would recover from the secondary, but Talos never gets there: go-blockdevice's luks prober
    (blkid/internal/filesystems/luks/luks.go) needs the magic at offset 0, so the volume probes
    as empty and Talos formats it (docs/talos/luks2.md#recognising-luks). Reformatted."""
    part.write(0, b"\0" * hdr.hdr_size)


def luks1(part, hdr):
    """A LUKS1 header where the LUKS2 one was: the prober needs version 2, so the volume probes
    as empty and is formatted. Reformatted."""
    h = bytearray(592)
    h[0:6] = b"LUKS\xba\xbe"
    struct.pack_into(">H", h, 6, 1)
    h[8:11] = b"aes"
    h[40:51] = b"xts-plain64"
    h[72:78] = b"sha256"
    struct.pack_into(">II", h, 104, 4096, 64)
    part.write(0, bytes(h) + b"\0" * (2 * hdr.hdr_size - len(h)))


def header_larger_than_partition(part, hdr):
    """Both binary headers claim a 1 TiB header (checksums valid): cryptsetup accepts only the
    seven sizes from 16 KiB to 4 MiB (hdr_disk_sanity_check_pre), go-blockdevice cannot read that
    far. Failed."""
    huge = 1 << 40
    for i in (0, 1):
        hdr.bins[i][8:16] = struct.pack(">Q", huge)
        hdr.seal(i)
    hdr.write(part)


def truncated(size):
    """The partition shrunk to `size` bytes in the GPT (both copies, CRCs valid), as a partition
    resized under its LUKS2 volume: the headers are intact, so the probe still says LUKS2, but
    what lies beyond the new end is gone. Failed, with the other volumes ready."""
    def run(part, hdr):
        shrink_partition(part, size)
    run.__doc__ = truncated.__doc__
    return run


def convert_kdf(kdf):
    """The keyslot converted to another KDF by cryptsetup itself (a genuine header, written
    while the node is on): cryptsetup opens it in every version; go-blockdevice's validation
    refuses pbkdf2 from 1.12.7, and argon2i in 1.12.7 and 1.12.8 only (go-blockdevice v2.0.30,
    in 1.12.9, accepts argon2i again: siderolabs/go-blockdevice#156)."""
    def run(dev):
        args = ["cryptsetup", "luksConvertKey", "--batch-mode", "--key-file=-", "--pbkdf", kdf,
                "--key-slot", "0", dev]
        args += (["--pbkdf-force-iterations", "1000"] if kdf == "pbkdf2" else
                 ["--pbkdf-force-iterations", "4", "--pbkdf-memory", "32"])
        r = subprocess.run(args, input=PASSPHRASE.encode(), capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr
    return run


def kdf_refused(kdf):
    return VALIDATION + f'keyslot 0 has unexpected KDF type "{kdf}"'


def every(outcome, versions=ALL):
    return {v: outcome for v in versions}


# name -> (mutation while off | ("online", mutation of the device while on), {version: outcome})
CASES = {
    "bad_checksum_primary": (bad_checksum_primary, every("opened")),
    "bad_checksum_secondary": (bad_checksum_secondary, every("opened")),
    "bad_checksums_both": (bad_checksums_both, every("failed", CURRENT)),
    "json_not_json": (json_not_json, every("failed", CURRENT)),
    "json_oversized": (json_oversized, every("failed", CURRENT)),
    "json_deeply_nested": (json_deeply_nested, every("failed", CURRENT)),
    "overlapping_segments": (overlapping_segments, every("failed", CURRENT)),
    "keyslot_area_outside_device": (keyslot_area_outside, every("failed", CURRENT)),
    "kdf_unknown": (kdf_unknown, every("failed", CURRENT)),
    "kdf_pbkdf2_forged": (kdf_pbkdf2_forged, {
        "1.12.6": "failed", "1.12.11": kdf_refused("pbkdf2")}),
    "kdf_pbkdf2_genuine": (("online", convert_kdf("pbkdf2")), {
        "1.12.6": "opened", "1.12.7": kdf_refused("pbkdf2"), "1.12.9": kdf_refused("pbkdf2"),
        "1.12.11": kdf_refused("pbkdf2")}),
    "kdf_argon2i_genuine": (("online", convert_kdf("argon2i")), {
        "1.12.6": "opened", "1.12.7": kdf_refused("argon2i"), "1.12.9": "opened",
        "1.12.11": "opened"}),
    "same_seqid_different_json": (same_seqid_different_json, {
        "1.12.6": "opened",
        "1.12.11": "LUKS2 headers have the same seqid but different JSON areas"}),
    "primary_zeroed_secondary_intact": (secondary_only, every("reformatted", CURRENT)),
    "luks1": (luks1, every("reformatted", CURRENT)),
    "header_larger_than_partition": (header_larger_than_partition, every("failed", CURRENT)),
    # Cut inside keyslot 0's area (32 KiB + 256000 bytes of stripes): its key material is cut off.
    "truncated_in_keyslot_area": (truncated(128 << 10), every("failed", CURRENT)),
    # Cut after the keyslots, before the data segment (16 MiB in): the key opens nothing.
    "truncated_before_data": (truncated(4 << 20), every("failed", CURRENT)),
}
PARAMS = [(case, version) for case, (_, outcomes) in CASES.items() for version in outcomes]
assert set(KDF_VERSIONS) == set(CASES["kdf_argon2i_genuine"][1])


# --- the GPT, to shrink a partition (the simulated disks use 512-byte sectors) ----------------

SECTOR = 512


def _gpt_header(f, lba):
    f.seek(lba * SECTOR)
    h = bytearray(f.read(SECTOR))
    assert h[:8] == b"EFI PART", f"no GPT header at LBA {lba}"
    return h


def _gpt_write(f, lba, h, entries):
    entries_lba, n, size = struct.unpack_from("<QII", h, 72)
    f.seek(entries_lba * SECTOR)
    f.write(entries)
    struct.pack_into("<I", h, 88, zlib.crc32(entries))
    hsize = struct.unpack_from("<I", h, 12)[0]
    struct.pack_into("<I", h, 16, 0)
    struct.pack_into("<I", h, 16, zlib.crc32(bytes(h[:hsize])))
    f.seek(lba * SECTOR)
    f.write(h)


def shrink_partition(part: Partition, size: int) -> None:
    """Rewrites the GPT entry of `part` (found by its start) to end `size` bytes after its start,
    in the primary and the backup table."""
    assert size % SECTOR == 0 and size < part.size
    first = part.offset // SECTOR
    with open(part.image, "r+b") as f:
        primary = _gpt_header(f, 1)
        backup_lba = struct.unpack_from("<Q", primary, 32)[0]
        entries_lba, n, esize = struct.unpack_from("<QII", primary, 72)
        f.seek(entries_lba * SECTOR)
        entries = bytearray(f.read(n * esize))
        for i in range(n):
            if struct.unpack_from("<Q", entries, i * esize + 32)[0] == first:
                struct.pack_into("<Q", entries, i * esize + 40, first + size // SECTOR - 1)
                break
        else:
            raise AssertionError(f"no GPT entry starts at LBA {first}")
        _gpt_write(f, 1, primary, bytes(entries))
        _gpt_write(f, backup_lba, _gpt_header(f, backup_lba), bytes(entries))
        f.flush()
        os.fsync(f.fileno())


def ours(before):
    """Loop devices and mounts of this test left after the node was closed."""
    return leftovers(before, snapshot())


@pytest.mark.slow
@pytest.mark.parametrize("case,version", PARAMS)
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
        print(f"{case} on {version}: {st.error_message}")
        if want != "failed":
            assert want in st.error_message, (case, st.error_message)
        if version == "1.12.6":
            assert VALIDATION not in st.error_message, st.error_message
    # The node still shuts down cleanly, and leaves nothing behind.
    node.shutdown()
    node.close()
    assert not ours(before), ours(before)
