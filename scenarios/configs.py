"""Machine configs used by the scenarios: cryptnode.configs (the one config builder), plus the short
names the scenarios were first written with (key(slot, body, lock), doc(kind, name, keys, extra),
NODEID, USER_DISK), each a thin wrapper over it."""

import yaml

from cryptnode import configs as _configs
from cryptnode.configs import (config, kms, machine, node_id, raw_volume_config,  # noqa: F401
                               render, static, tpm, user_volume_config, volume_config)

NODEID = node_id()

USER_DISK = {"provisioning": {"diskSelector": {"match": "!system_disk"}, "minSize": "100MiB",
                              "maxSize": "200MiB"}}


def key(slot, body, lock=False):
    """A key entry in `slot`: body is an entry (static("x"), NODEID, kms(url)) or YAML text of
    one kind ('nodeID: {}')."""
    if isinstance(body, str):
        body = yaml.safe_load(body)
    return _configs.key(slot, body, lock_to_state=lock)


def doc(kind, name, keys=None, extra=None):
    """One volume document of `kind`; extra: more top-level fields (a dict, or YAML text)."""
    fields = (yaml.safe_load(extra) or {}) if isinstance(extra, str) else dict(extra or {})
    out = {"apiVersion": "v1alpha1", "kind": kind, "name": name, **fields}
    if keys is not None:
        out["encryption"] = _configs.encryption(keys)
    return out


STATE_EPHEMERAL_NODEID = config(
    volume_config("STATE", keys=[node_id()]),
    volume_config("EPHEMERAL", keys=[node_id()]),
)
