"""What a machine config configures, volume by volume and slot by slot, without secret values
(used by `cryptnode config describe` and the demo)."""

from __future__ import annotations

from typing import Any, Dict, List

from ._core import parse_config

_KINDS = {
    "static": "static passphrase (verbatim)",
    "nodeID": "machine UUID + volume ID",
    "kms": "32 random bytes sealed by the KMS (token sideroKMS)",
    "tpm": "32 random bytes sealed to the TPM (token talos-tpm2)",
}


def _key(k) -> Dict[str, Any]:
    kind = k.type
    d: Dict[str, Any] = {"slot": k.slot, "kind": kind, "lockToState": k.lock_to_state}
    derivation = _KINDS.get(kind, "no key kind: rejected by validation")
    if k.lock_to_state:
        derivation += " ‖ STATE salt (lockToState)"
    d["passphrase"] = derivation
    if kind == "kms":
        d["endpoint"] = k.kms_endpoint
    if kind == "tpm":
        d["pcrs"] = list(k.tpm.pcrs)
        d["pubKeyPcrs"] = list(k.tpm.pub_key_pcrs)
    return d


def _encryption(spec) -> Dict[str, Any]:
    if spec is None:
        return {"encrypted": False, "keys": []}
    return {
        "encrypted": bool(spec.enabled),
        "provider": spec.provider or ("luks2 (legacy default)" if spec.legacy else "none"),
        "cipher": spec.effective_cipher,
        "legacy": spec.legacy,
        "keys": [_key(k) for k in sorted(spec.keys, key=lambda k: k.slot)],
    }


def describe(cfg, talos_version: str = "") -> Dict[str, Any]:
    """A JSON-able description of a config (bytes, str or MachineConfig)."""
    if isinstance(cfg, (bytes, str)):
        cfg = parse_config(cfg, talos_version=talos_version)
    docs: List[Dict[str, Any]] = []
    for d in cfg.documents:
        entry: Dict[str, Any] = {"document": d.display_name, "line": d.line}
        if d.kind == "v1alpha1":
            for label, spec in (("STATE", d.legacy_state), ("EPHEMERAL", d.legacy_ephemeral)):
                if spec is not None:
                    entry.setdefault("volumes", []).append(
                        {"volume": label, **_encryption(spec)})
        elif d.volume_id:
            entry["volumes"] = [{"volume": d.volume_id, **_encryption(d.encryption)}]
        docs.append(entry)
    errors = cfg.validate()
    effective = {}
    for vid in ["STATE", "EPHEMERAL", *cfg.user_volume_ids()]:
        effective[vid] = _encryption(cfg.encryption_for(vid))
    return {"documents": docs, "effective": effective, "valid": not errors, "errors": errors}


def format_table(desc: Dict[str, Any]) -> str:
    lines = []
    for d in desc["documents"]:
        lines.append(f"{d['document']} (line {d['line']})")
        for v in d.get("volumes", []):
            if not v["encrypted"]:
                note = ""
                if v["keys"]:
                    note = f" (provider {v['provider']}: keys are ignored; Talos rejects them)"
                lines.append(f"  {v['volume']:<12} not encrypted{note}")
            else:
                lines.append(f"  {v['volume']:<12} {v['provider']} {v['cipher']}"
                             + (" [legacy systemDiskEncryption]" if v["legacy"] else ""))
            for k in v["keys"]:
                extra = ""
                if "endpoint" in k:
                    extra = f" endpoint {k['endpoint']}"
                if "pcrs" in k:
                    extra = f" pcrs {k['pcrs']} pubKeyPcrs {k['pubKeyPcrs']}"
                lines.append(f"    slot {k['slot']:<3} {k['kind'] or '-':<7} -> {k['passphrase']}"
                             f"{extra}")
    lines.append("effective encryption (what a node would do):")
    for vid, v in desc["effective"].items():
        kinds = ", ".join(f"{k['slot']}:{k['kind']}" for k in v.get("keys", []))
        lines.append(f"  {vid:<12} " + (f"luks2, slots {kinds}" if v["encrypted"] else "none"))
    if desc["errors"]:
        lines.append("validation: INVALID")
        lines.extend(f"  - {e}" for e in desc["errors"])
    else:
        lines.append("validation: valid")
    return "\n".join(lines)
