"""Helpers shared by the VM tests: machine configs with the key kinds, a node's disk images as
guest disks, parsing what the guest printed."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re

from vmtier.boot import Disk
from vmtier.kms_client import unseal

# A UUID that passes Talos' entropy check (no character more than 18 times).
UUID = "6d1f4c2a-9b3e-4f7a-8c5d-2e1b0a9f8e7d"


BASE = "version: v1alpha1\nmachine:\n  type: worker\n"
NODEID = "nodeID: {}"


def config(*docs) -> str:
    """A multi-document machine config (YAML text): the v1alpha1 document, then the volumes."""
    return "---\n".join([BASE] + list(docs))


def key(slot, body, lock=False):
    """One `encryption.keys` entry; body is YAML of one kind ('nodeID: {}', static(...))."""
    return f"    - slot: {slot}\n      {body}\n" + ("      lockToState: true\n" if lock else "")


def static(passphrase):
    return f"static:\n        passphrase: {passphrase}"


def user_disk(min_size="100MiB", max_size="120MiB"):
    return (f'provisioning:\n  diskSelector:\n    match: "!system_disk"\n'
            f"  minSize: {min_size}\n  maxSize: {max_size}\n")


def volume_doc(kind, name, keys=None, extra="", block_size=None):
    """A volume document like configs.doc, optionally with encryption.blockSize."""
    text = f"apiVersion: v1alpha1\nkind: {kind}\nname: {name}\n{extra}"
    if keys is not None:
        text += "encryption:\n  provider: luks2\n"
        if block_size:
            text += f"  blockSize: {block_size}\n"
        text += "  keys:\n" + "".join(keys)
    return text


def kms_key(slot, endpoint, lock=False):
    return key(slot, f"kms:\n        endpoint: {endpoint}", lock=lock)


def node_disks(node_path, readonly=True):
    """The node's disk images as guest disks, serial = the disk's name in node.json (system,
    disk1, ...)."""
    with open(os.path.join(node_path, "node.json")) as f:
        settings = json.load(f)
    return [Disk(os.path.join(node_path, "disks", d["image"]), d["name"], readonly)
            for d in settings["disks"]]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def salt_from_yaml(text: str) -> bytes:
    """Talos' encryption-salt.yaml (diskSalt: a sequence of byte values) to bytes."""
    return bytes(int(n) for n in re.findall(r"^\s*-\s*(\d+)\s*$", text, re.MULTILINE))


def kms_passphrase(node, volume_id, slot, endpoint, uuid=UUID) -> str:
    """The passphrase of a kms slot, recovered on the host with the KMS (Unseal of the token's
    sealedData): base64 of the 32 key bytes."""
    token = node.luks_dump(volume_id)["tokens"][str(slot)]
    sealed = base64.b64decode(token["UserData"]["sealedData"])
    return base64.b64encode(unseal(endpoint, uuid, sealed)).decode()


def fields(line: str) -> dict:
    """"A k=v k2=v2" -> {"k": "v", ...} (bare words are ignored)."""
    return dict(w.split("=", 1) for w in line.split() if "=" in w)


def sums(result) -> dict:
    """{(volume, path): sha256} from the guest's "VMT: SUM vol path sha" lines."""
    out = {}
    for ln in result.lines("SUM"):
        vol, path, digest = ln.split()
        out[(vol, path)] = digest
    return out


def mappings(result) -> dict:
    """{volume: {cipher, keysize, sector, target, kernel_dm}} from "VMT: MAPPED" lines (last
    one per volume)."""
    out = {}
    for ln in result.lines("MAPPED"):
        out[ln.split()[0]] = fields(ln)
    return out


def hexkey(passphrase: str) -> str:
    return passphrase.encode().hex()


def status(st, name):
    """A VolumeStatus field by its current name (encryption_failed_syncs,
    encryption_locked_to_state), falling back to the older short name on older builds."""
    if hasattr(type(st), name) or hasattr(st, name):
        return getattr(st, name)
    return getattr(st, name[len("encryption_"):])
