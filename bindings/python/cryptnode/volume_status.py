"""One name per VolumeStatus field: snake_case in Python, Talos' camelCase in `-o json|yaml` (the
YAML names of VolumeStatusSpec, pkg/machinery/resources/block/volume_status.go, release-1.12).

FIELDS is the one table: the node process, the CLI and the docs (`markdown_table()`) all read it.
Rows marked `talos=False` are cryptnode's own (the resource ID, whether the error is retried, where
the simulator mounted the volume)."""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, NamedTuple


class Field(NamedTuple):
    python: str  # attribute of cryptnode.VolumeStatus
    talos: str  # name in -o json|yaml; "a.b" nests b under a
    description: str
    in_talos: bool = True


FIELDS: List[Field] = [
    Field("id", "id", "resource ID: STATE, EPHEMERAL, u-NAME (metadata.id in Talos)", False),
    Field("phase", "phase", "waiting, missing, located, provisioned, prepared, ready, failed, "
          "closed"),
    Field("pre_fail_phase", "preFailPhase", "the phase the volume failed in (while failed)"),
    Field("error_message", "errorMessage", "Talos' text of the last error"),
    Field("retryable", "retryable", "the last error is retried on the 30 s ticker", False),
    Field("type", "type", "partition, disk (a whole disk) or directory (under /var/mnt)"),
    Field("location", "location", "the partition (/dev/loopNpM), the disk of a disk volume"),
    Field("mount_location", "mountLocation", "what is mounted: the mapper or the partition"),
    Field("parent_location", "parentLocation", "the disk of the partition"),
    Field("partition_index", "partitionIndex", "1-based GPT index"),
    Field("size", "size", "bytes"),
    Field("filesystem", "filesystem", "xfs, ..."),
    Field("mount_point", "mountPoint", "where the simulator mounted the volume", False),
    Field("encryption_provider", "encryptionProvider", "luks2, or empty when not encrypted"),
    Field("encryption_slot", "encryptionSlot", "the keyslot that opened the volume"),
    Field("encryption_failed_syncs", "encryptionFailedSyncs",
          "keys that could not be added or updated (syncKeys)"),
    Field("encryption_locked_to_state", "encryptionLockedToState",
          "the opening key is locked to STATE's salt"),
    Field("configured_encryption_keys", "configuredEncryptionKeys",
          "kinds of the configured keys: static, nodeID, kms, tpm"),
    Field("pcrs", "tpmEncryptionOptions.pcrs", "PCRs of the TPM key that opened the volume"),
    Field("pub_key_pcrs", "tpmEncryptionOptions.pubKeyPcrs",
          "PCRs of the signed policy of that TPM key"),
]

# Old Python names, kept working with a DeprecationWarning.
DEPRECATED: Dict[str, str] = {
    "failed_syncs": "encryption_failed_syncs",
    "locked_to_state": "encryption_locked_to_state",
    "configured_keys": "configured_encryption_keys",
}


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def to_talos(status) -> Dict[str, Any]:
    """A VolumeStatus as a JSON-able dict in Talos' names (every field present; nested
    tpmEncryptionOptions is None unless the volume was opened by a TPM key)."""
    out: Dict[str, Any] = {}
    for f in FIELDS:
        value = _plain(getattr(status, f.python))
        if "." in f.talos:
            outer, inner = f.talos.split(".", 1)
            group = out.setdefault(outer, {})
            if group is not None:
                group[inner] = value
        else:
            out[f.talos] = value
    for name, value in list(out.items()):
        if isinstance(value, dict) and all(v is None for v in value.values()):
            out[name] = None
    return out


def talos_name(python_name: str) -> str:
    for f in FIELDS:
        if f.python == python_name:
            return f.talos
    raise KeyError(python_name)


def markdown_table() -> str:
    """The table for the docs: Python attribute | -o json/yaml name | meaning."""
    rows = ["| Python (`VolumeStatus.`) | `-o json` / `-o yaml` | meaning |",
            "|---|---|---|"]
    for f in FIELDS:
        note = "" if f.in_talos else " (cryptnode)"
        rows.append(f"| `{f.python}` | `{f.talos}` | {f.description}{note} |")
    return "\n".join(rows) + "\n"


def _deprecated_property(old: str, new: str) -> property:
    def get(self):
        warnings.warn(f"VolumeStatus.{old} is deprecated: use VolumeStatus.{new}",
                      DeprecationWarning, stacklevel=2)
        return getattr(self, new)
    get.__doc__ = f"Deprecated alias of {new}."
    return property(get)


def install_deprecated_aliases(cls) -> None:
    """Makes the old names of `cls` (the native VolumeStatus) warn and forward to the new ones."""
    for old, new in DEPRECATED.items():
        setattr(cls, old, _deprecated_property(old, new))


if __name__ == "__main__":  # python3 -m cryptnode.volume_status > the docs' table
    print(markdown_table(), end="")
