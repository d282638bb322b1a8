#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: make_seeds.py <source dir> <output dir>.

Every seed comes from the project's own test vectors (engine/tests/data/**, the ADV and token
vectors of engine/tests/*.cpp) or is generated here in the shapes Talos writes; nothing is copied
from elsewhere. <output dir>/<target>/<name> holds one input each, in the input format the target's
header comment describes.
"""
import hashlib
import json
import os
import re
import shutil
import struct
import sys

import yaml

SRC, OUT = sys.argv[1], sys.argv[2]
DATA = os.path.join(SRC, "engine", "tests", "data")
TESTS = os.path.join(SRC, "engine", "tests")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def blocks(path, opener):
    """The expressions of a '%% <opener> ...' record file, with the words after the opener."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out, i = [], 0
    while i < len(lines):
        if lines[i].startswith("%% " + opener):
            words = lines[i].split()[2:]
            j = i + 1
            while j < len(lines) and not lines[j].startswith("%%"):
                j += 1
            out.append((words, "\n".join(lines[i + 1:j])))
            i = j
        else:
            i += 1
    return out


# --- fuzz_config: the config vectors, and every case of Talos' validation tables -----------------
for name in sorted(os.listdir(os.path.join(DATA, "config"))):
    path = os.path.join(DATA, "config", name)
    if name == "talos_validation_cases.yaml":
        cases = yaml.safe_load(open(path, encoding="utf-8"))["cases"]
        for n, case in enumerate(cases):
            write("fuzz_config", "case_%03d.yaml" % n, case["config"])
    else:
        write("fuzz_config", name, open(path, "rb").read())

# --- fuzz_cel: every expression of the check, eval and cel-go parser vectors ---------------------
n = 0
for fname, opener in (("check.txt", "check"), ("eval.txt", "eval"), ("parse_celgo.txt", "parse")):
    for words, expr in blocks(os.path.join(DATA, "cel", fname), opener):
        prefix = b"\x01" if words and words[0] == "volume" else b""
        write("fuzz_cel", "%s_%04d" % (opener, n), prefix + expr.encode())
        n += 1

# --- fuzz_meta_adv: the ADV records of engine/tests/meta_adv_test.cpp -----------------------------
TAGS = {"kUpgrade": 0x06, "kStagedUpgradeImageRef": 0x07, "kStagedUpgradeInstallOptions": 0x08,
        "kStateEncryptionConfig": 0x09, "kUUIDOverride": 0x0f}
adv_test = open(os.path.join(TESTS, "meta_adv_test.cpp"), encoding="utf-8").read()
tags = []
for m in re.finditer(r'\.set\((0x[0-9a-fA-F]+|\d+|k\w+),\s*"([^"]*)"\)', adv_test):
    t = m.group(1)
    tags.append((TAGS[t] if t in TAGS else int(t, 0), m.group(2).encode()))


def records(pairs):
    return b"".join(struct.pack(">II", t, len(v)) + v for t, v in pairs)


state_json = re.findall(r'R"\((\{"Encryption.*?\})\)"', adv_test)
write("fuzz_meta_adv", "empty", b"\x00")
for i, (t, v) in enumerate(tags):
    write("fuzz_meta_adv", "tag_%02d" % i, b"\x00" + records([(t, v)]))
write("fuzz_meta_adv", "all_tags", b"\x08" + records(sorted(dict(tags).items())))
write("fuzz_meta_adv", "state_0x09",
      b"\x0a" + records([(0x09, state_json[0].encode()), (0x0f, b"12345678-1234-5678-1234-567812345678")]))
write("fuzz_meta_adv", "overrun", b"\x00" + struct.pack(">II", 0x09, 0xFFFFFFF0) + b"x")
write("fuzz_meta_adv", "bad_checksum", b"\x09" + records([(0x08, b"install-fast")]))

# --- fuzz_state_encryption: tag 0x09 in both shapes, and every key kind --------------------------
for i, j in enumerate(state_json):
    write("fuzz_state_encryption", "test_%d.json" % i, j)
write("fuzz_state_encryption", "null.json", "null")
key = {"KeySlot": 0, "KeyStatic": None, "KeyNodeID": None, "KeyKMS": None, "KeyTPM": None,
       "KeyLockToSTATE": None}
kinds = [dict(key, KeySlot=1, KeyNodeID={}, KeyLockToSTATE=True),
         dict(key, KeySlot=2, KeyKMS={"KMSEndpoint": "grpc://127.0.0.1:4050"}),
         dict(key, KeySlot=3, KeyTPM={"TPMOptions": {"PCRs": [0, 7]},
                                      "TPMCheckSecurebootStatusOnEnroll": True}),
         dict(key, KeySlot=4, KeyTPM={"TPMOptions": None, "TPMCheckSecurebootStatusOnEnroll": None})]
spec = {"EncryptionProvider": "luks2", "EncryptionKeys": kinds,
        "EncryptionCipher": "xchacha12,aes-adiantum-plain64", "EncryptionKeySize": 256,
        "EncryptionBlockSize": 4096, "EncryptionPerfOptions": ["no_read_workqueue"],
        "EncryptionAllowDiscards": True}
write("fuzz_state_encryption", "kinds.json", json.dumps(spec, separators=(",", ":")))

# --- fuzz_salt: encryption-salt.yaml as Talos writes it (yaml.v3's []byte) -----------------------
write("fuzz_salt", "salt.yaml", "diskSalt:\n" + "".join("    - %d\n" % ((i * 37 + 11) % 256)
                                                       for i in range(32)))
write("fuzz_salt", "zero.yaml", "diskSalt:\n" + "    - 0\n" * 32)
write("fuzz_salt", "short.yaml", "diskSalt:\n    - 1\n")

# --- fuzz_token: the token vectors of engine/tests/tpm_token_test.cpp, and a sideroKMS token -----
tok_test = open(os.path.join(TESTS, "tpm_token_test.cpp"), encoding="utf-8").read()
n = 0
for m in re.finditer(r'((?:\s*R"\([^\n]*?\)"\s*)+)[;,)]', tok_test):
    parts = re.findall(r'R"\((.*?)\)"', m.group(1))
    s = "".join(parts)
    if s.startswith("{"):
        write("fuzz_token", "test_%02d.json" % n, s)
        n += 1
write("fuzz_token", "kms.json",
      '{"UserData":{"sealedData":"' + "QUJD" * 20 + '"},"type":"sideroKMS","keyslots":[]}')

# --- fuzz_luks2_header: the JSON area Talos' luksFormat leaves (cryptsetup 2.6 defaults) ---------
def luks2_json(kdf="argon2id", flags=None, segments=1, token=None):
    ks = {"type": "luks2", "key_size": 64,
          "af": {"type": "luks1", "stripes": 4000, "hash": "sha256"},
          "area": {"type": "raw", "offset": "32768", "size": "258048",
                   "encryption": "aes-xts-plain64", "key_size": 64},
          "kdf": ({"type": kdf, "time": 4, "memory": 1048576, "cpus": 2,
                   "salt": "c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0c2FsdHNhbHQ="}
                  if kdf.startswith("argon2") else
                  {"type": kdf, "hash": "sha256", "iterations": 1000,
                   "salt": "c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0c2FsdHNhbHQ="})}
    seg = {"type": "crypt", "offset": "16777216", "size": "dynamic", "iv_tweak": "0",
           "encryption": "aes-xts-plain64", "sector_size": 512}
    if flags:
        seg["flags"] = flags
    segs = {str(i): dict(seg) for i in range(segments)}
    return json.dumps({
        "keyslots": {"0": ks},
        "tokens": {"0": token} if token else {},
        "segments": segs,
        "digests": {"0": {"type": "pbkdf2", "keyslots": ["0"], "segments": ["0"], "hash": "sha256",
                          "iterations": 1000, "salt": "c2FsdA==", "digest": "ZGlnZXN0"}},
        "config": {"json_size": "12288", "keyslots_size": "16744448"}}, separators=(",", ":"))


def structured(mode, text, version=2, seq1=1, seq2=1):
    return bytes([mode, version, seq1, seq2]) + text.encode()


kms_token = {"type": "sideroKMS", "keyslots": [], "UserData": {"sealedData": "QUJD"}}
write("fuzz_luks2_header", "talos", structured(1, luks2_json(token=kms_token)))
write("fuzz_luks2_header", "argon2i", structured(1, luks2_json("argon2i")))
write("fuzz_luks2_header", "pbkdf2", structured(1, luks2_json("pbkdf2")))
write("fuzz_luks2_header", "flags", structured(1, luks2_json(flags=["allow-discards"])))
write("fuzz_luks2_header", "two_segments", structured(1, luks2_json(segments=2)))
write("fuzz_luks2_header", "secondary_newer",
      structured(2, luks2_json() + "\0" + luks2_json("pbkdf2"), seq2=2))
write("fuzz_luks2_header", "same_seqid_differ",
      structured(2, luks2_json() + "\0" + luks2_json("argon2i")))
write("fuzz_luks2_header", "primary_only", structured(3, luks2_json(), seq2=0))
write("fuzz_luks2_header", "luks1", structured(1, luks2_json(), version=1))


def raw_image(text, hdr=16384):
    """A device image with a LUKS2 header pair and valid SHA-256 header checksums."""
    img = bytearray(2 * hdr + 16384)
    for off, magic, seq in ((0, b"LUKS\xba\xbe", 1), (hdr, b"SKUL\xba\xbe", 1)):
        h = bytearray(4096)
        h[0:6] = magic
        struct.pack_into(">HQQ", h, 6, 2, hdr, seq)
        h[72:78] = b"sha256"
        h[104:104 + 64] = b"\x5a" * 64
        h[168:168 + 36] = b"0c3b2a1e-7f3e-4d6a-9b1c-2d3e4f5a6b7c"
        struct.pack_into(">Q", h, 256, off)
        area = bytearray(hdr - 4096)
        area[:len(text)] = text.encode()
        h[448:448 + 32] = hashlib.sha256(bytes(h) + bytes(area)).digest()
        img[off:off + 4096] = h
        img[off + 4096:off + hdr] = area
    return bytes(img)


write("fuzz_luks2_header", "raw_talos", b"\x00" + raw_image(luks2_json()))
write("fuzz_luks2_header", "raw_small", b"\x00" + raw_image(luks2_json())[:9000])

# --- fuzz_blkid: a LUKS2 header pair, a LUKS1 header, a protective MBR with an empty GPT ----------
write("fuzz_blkid", "luks2", raw_image(luks2_json())[:32768])
write("fuzz_blkid", "luks1", b"LUKS\xba\xbe\x00\x01" + b"\0" * 4096)
mbr = bytearray(1024)
mbr[446 + 4] = 0xEE
mbr[510:512] = b"\x55\xaa"
mbr[512:520] = b"EFI PART"
write("fuzz_blkid", "gpt", bytes(mbr))

# --- fuzz_kms_response: sidero.kms.Response (field 1, bytes) ------------------------------------
def response(data):
    n, varint = len(data), b""
    while True:
        b, n = n & 0x7F, n >> 7
        varint += bytes([b | (0x80 if n else 0)])
        if not n:
            break
    return b"\x0a" + varint + data


write("fuzz_kms_response", "empty", b"")
write("fuzz_kms_response", "key", response(bytes(range(32))))
write("fuzz_kms_response", "sealed", response(bytes(range(60))))
write("fuzz_kms_response", "unknown_field", response(b"k" * 32) + b"\x12\x03abc")
