"""Machine configs as Python data, rendered to YAML text: the one config builder of cryptnode (used
by the scenarios, the demo and its flows).

    from cryptnode.configs import config, volume_config, static, node_id
    text = config(volume_config("EPHEMERAL", keys=[static("x", slot=0),
                                                   node_id(slot=1, lock_to_state=True)]))

Field names are Talos' (pkg/machinery/config/types/block/volume_config.go, encryption.go and
user_volume_config.go, release-1.12): `lockToState`, `nodeID`, `checkSecurebootStatusOnEnroll`... A document is a
dict; `config()` joins documents into one multi-document text, a v1alpha1 machine document first.
The renderer is deterministic (keys in insertion order) so a config compares equal to itself after a
round trip through a node (`node.active_config() == text`). Strings that YAML would read as
something else (true, 1.12, "!system_disk", a NUL, a newline) are double-quoted with YAML escapes.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Dict, Iterable, List, Optional, Union

Document = Dict[str, Any]
Key = Dict[str, Any]

__all__ = [
    "machine", "volume_config", "user_volume_config", "raw_volume_config", "encryption", "key",
    "static", "node_id", "kms", "tpm", "config", "gen_config_with", "patch", "delete",
    "render",
    "USER_DISK_SELECTOR",
]

# The seed document's user volumes: on a disk that is not the system disk, 100-200 MiB.
USER_DISK_SELECTOR = '!system_disk'


# --- keys -------------------------------------------------------------------------------------

def key(slot: int, kind: Dict[str, Any], lock_to_state: bool = False) -> Key:
    """One entry of `encryption.keys`: {"slot": N, <kind>: {...}[, "lockToState": true]}. `kind`
    is a kind's body ({"nodeID": {}}) or another entry, moved to `slot`: key(1, node_id())."""
    out: Key = {"slot": slot, **{k: v for k, v in kind.items() if k != "slot"}}
    if lock_to_state:
        out["lockToState"] = True
    return out


def static(passphrase: str, slot: int = 0, lock_to_state: bool = False) -> Key:
    """A static key: the passphrase verbatim (str; any Unicode, NUL included, is kept exactly)."""
    if isinstance(passphrase, (bytes, bytearray)):
        passphrase = bytes(passphrase).decode("utf-8")
    return key(slot, {"static": {"passphrase": passphrase}}, lock_to_state)


def node_id(slot: int = 0, lock_to_state: bool = False) -> Key:
    """A nodeID key: derived from the machine UUID and the volume ID."""
    return key(slot, {"nodeID": {}}, lock_to_state)


def kms(endpoint: str, slot: int = 0, lock_to_state: bool = False) -> Key:
    """A KMS key: 32 random bytes sealed by the KMS at `endpoint` (grpc://host:port)."""
    return key(slot, {"kms": {"endpoint": endpoint}}, lock_to_state)


def tpm(slot: int = 0, pcrs: Optional[List[int]] = None,
        check_secureboot_status_on_enroll: Optional[bool] = None,
        lock_to_state: bool = False) -> Key:
    """A TPM key: 32 random bytes sealed to the TPM. pcrs=None leaves `options` out (Talos'
    default: PCR 7); [] is an explicit empty list (no PCR binding)."""
    body: Dict[str, Any] = {}
    if pcrs is not None:
        body["options"] = {"pcrs": list(pcrs)}
    if check_secureboot_status_on_enroll is not None:
        body["checkSecurebootStatusOnEnroll"] = check_secureboot_status_on_enroll
    return key(slot, {"tpm": body}, lock_to_state)


def encryption(keys: Iterable[Key], provider: str = "luks2", **fields: Any) -> Dict[str, Any]:
    """An `encryption:` block; extra fields (cipher, keySize, blockSize, options...) as given."""
    return {"provider": provider, **fields, "keys": list(keys)}


# --- documents --------------------------------------------------------------------------------

def machine(type: str = "worker", **fields: Any) -> Document:  # noqa: A002 - Talos' field name
    """The v1alpha1 document: `version: v1alpha1` and `machine: {type: ...}`."""
    return {"version": "v1alpha1", "machine": {"type": type, **fields}}


def _volume(kind: str, name: str, keys: Optional[Iterable[Key]], provider: str,
            fields: Dict[str, Any]) -> Document:
    doc: Document = {"apiVersion": "v1alpha1", "kind": kind, "name": name, **fields}
    if keys is not None:
        doc["encryption"] = encryption(keys, provider)
    return doc


def volume_config(name: str, keys: Optional[Iterable[Key]] = None, provider: str = "luks2",
                  **fields: Any) -> Document:
    """A VolumeConfig (STATE, EPHEMERAL...); keys=None leaves the volume unencrypted."""
    return _volume("VolumeConfig", name, keys, provider, fields)


def user_volume_config(name: str, keys: Optional[Iterable[Key]] = None,
                       match: str = USER_DISK_SELECTOR, min_size: Optional[str] = "100MiB",
                       max_size: Optional[str] = "200MiB", provider: str = "luks2",
                       **fields: Any) -> Document:
    """A UserVolumeConfig (volume ID u-<name>) provisioned on a disk matched by `match` (a CEL
    expression), between min_size and max_size (None leaves a bound out)."""
    prov: Dict[str, Any] = {"diskSelector": {"match": match}}
    if min_size is not None:
        prov["minSize"] = min_size
    if max_size is not None:
        prov["maxSize"] = max_size
    return _volume("UserVolumeConfig", name, keys, provider, {"provisioning": prov, **fields})


def raw_volume_config(name: str, keys: Optional[Iterable[Key]] = None,
                      match: str = USER_DISK_SELECTOR, min_size: Optional[str] = "100MiB",
                      max_size: Optional[str] = "200MiB", provider: str = "luks2",
                      **fields: Any) -> Document:
    """A RawVolumeConfig (volume ID r-<name>): like a user volume, without a filesystem."""
    doc = user_volume_config(name, keys, match, min_size, max_size, provider, **fields)
    doc["kind"] = "RawVolumeConfig"
    return doc


def config(*docs: Union[Document, str], base: Optional[Document] = None) -> str:
    """The multi-document config text: `base` (default: machine()) first, then each document. A
    str document is used verbatim (for deliberately odd YAML)."""
    parts = [render(machine() if base is None else base)]
    parts.extend(d if isinstance(d, str) else render(d) for d in docs)
    return "---\n".join(parts)


def gen_config_with(*docs: Union[Document, str], machine_type: str = "worker") -> str:
    """What a Talos user applies: `talosctl gen config`'s machine config (cryptnode.gen_config)
    with the documents appended, as `cat worker.yaml volumes.yaml` would."""
    from ._core import gen_config
    parts = [gen_config(machine_type)]
    parts.extend(d if isinstance(d, str) else render(d) for d in docs)
    return "---\n".join(parts)


def patch(*docs: Union[Document, str]) -> str:
    """A `talosctl patch mc --patch @file` file: the documents alone, no v1alpha1 base. A document
    {"apiVersion": ..., "kind": ..., "name": ..., "$patch": "delete"} deletes that document."""
    return "---\n".join(d if isinstance(d, str) else render(d) for d in docs)


def delete(kind: str, name: str) -> Document:
    """The patch document that removes a document (`$patch: delete`)."""
    return {"apiVersion": "v1alpha1", "kind": kind, "name": name, "$patch": "delete"}


# --- rendering --------------------------------------------------------------------------------

_PLAIN = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_./=+@~:-]*|[0-9]+[KMGT]i?B)(?<!:)")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf"}
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _quote(s: str) -> str:
    out = []
    for c in s:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") or \
                c == "\u0085":
            out.append(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    s = str(v)
    if _PLAIN.fullmatch(s) and s.lower() not in _RESERVED:
        return s
    return _quote(s)


def _lines(v: Any, indent: int) -> List[str]:
    pad = " " * indent
    out: List[str] = []
    if isinstance(v, dict):
        for k, val in v.items():
            name = _scalar(k)
            if isinstance(val, dict) and val:
                out.append(f"{pad}{name}:")
                out.extend(_lines(val, indent + 2))
            elif isinstance(val, (list, tuple)) and val:
                out.append(f"{pad}{name}:")
                out.extend(_lines(list(val), indent + 2))
            else:
                out.append(f"{pad}{name}: {_inline(val)}")
    else:
        for item in v:
            if isinstance(item, (dict, list, tuple)) and item:
                inner = _lines(item, indent + 2)
                out.append(f"{pad}- {inner[0][indent + 2:]}")
                out.extend(inner[1:])
            else:
                out.append(f"{pad}- {_inline(item)}")
    return out


def _inline(v: Any) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, (list, tuple)):
        return "[]"
    return _scalar(v)


def render(doc: Document) -> str:
    """One document as block-style YAML text (ends with a newline)."""
    return "\n".join(_lines(doc, 0)) + "\n"
