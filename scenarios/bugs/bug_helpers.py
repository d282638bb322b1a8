"""Shared by the bug scenarios (scenarios/bugs/): the catalogue's releases as pytest parameters,
machine configs as a release of that time carries them, and a few host-side steps (the cryptsetup
CLI on a node's partition, as a user does by hand)."""

from __future__ import annotations

import os
import subprocess
from typing import Iterable, List, Optional, Sequence

import pytest

from cryptnode import versions as _rules
from cryptnode.bugs import Bug, bug  # noqa: F401 - re-exported for the scenarios
from cryptnode.configs import config, machine, volume_config


def cases(b: Bug):
    """pytest parameters (version, lives): the releases where the bug must show (lives=True) and
    those where it must be gone, each with a readable id ("1.8.4-lives", "1.9.0-fixed")."""
    out = [pytest.param(v, True, id=f"{v}-lives") for v in b.affected]
    out += [pytest.param(v, False, id=f"{v}-fixed") for v in b.fixed]
    return out


def skip_unless_runnable(b: Bug):
    """A marker that skips the scenario with the catalogue's reason when it cannot run here."""
    return pytest.mark.skipif(b.skip is not None, reason=b.skip or "")


def _volume_config_era(version: str) -> bool:
    """VolumeConfig documents carry `encryption` from v1.11.0-beta.1 (7eec61993); before, only
    machine.systemDiskEncryption does."""
    from cryptnode import rule_applies
    return rule_applies("meta_state_encryption_modern_json", version)


def encrypted(version: str, state: Optional[Sequence[dict]] = None,
              ephemeral: Optional[Sequence[dict]] = None) -> str:
    """A machine config encrypting STATE and/or EPHEMERAL with `keys` the way a user of `version`
    writes it: machine.systemDiskEncryption (no `provider`: it defaults to luks2) before 1.11,
    VolumeConfig documents after."""
    if not _volume_config_era(version):
        return legacy(state, ephemeral)
    docs = []
    if state is not None:
        docs.append(volume_config("STATE", keys=list(state)))
    if ephemeral is not None:
        docs.append(volume_config("EPHEMERAL", keys=list(ephemeral)))
    return config(*docs)


def legacy(state: Optional[Sequence[dict]] = None,
           ephemeral: Optional[Sequence[dict]] = None) -> str:
    """machine.systemDiskEncryption without `provider`, as configs written before 1.11 have it."""
    sde = {}
    if state is not None:
        sde["state"] = {"keys": list(state)}
    if ephemeral is not None:
        sde["ephemeral"] = {"keys": list(ephemeral)}
    return config(base=machine(systemDiskEncryption=sde) if sde else machine())


def cryptsetup(args: Iterable[str], stdin: bytes = b"") -> subprocess.CompletedProcess:
    """The cryptsetup CLI on the host (secrets on stdin or in key files, never in argv)."""
    r = subprocess.run(["cryptsetup", "--batch-mode", *args], input=stdin,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, (list(args), r.returncode, r.stderr.decode(errors="replace"))
    return r


# A cheap PBKDF for keyslots made by hand (the node's own use its "fast" profile too).
FAST_PBKDF = ["--pbkdf-force-iterations", "4", "--pbkdf-memory", "32"]


def key_file(tmp_path, name: str, secret: bytes) -> str:
    path = os.path.join(str(tmp_path), name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
    return path


def rule_ids() -> List[str]:
    return [r["rule"] for r in _rules()]
