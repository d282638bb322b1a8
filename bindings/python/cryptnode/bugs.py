"""The Talos disk-encryption bug catalogue (docs/talos/bugs.md): every bug with the releases where
it lived, the first releases that fixed it, and the scenario in scenarios/bugs/ that replays it on
throwaway nodes. This module is the one place the catalogue lives: `cryptnode bugs` prints it,
docs/talos/bugs.md carries the same table (scenarios/bugs/test_catalogue.py compares them) and
every scenario takes its releases from here (`bug("talos#9820").affected`).

Boundaries come from Talos' history: the fixing commit and the first tag that contains it on each
release branch (`git tag --contains`), recorded as rows of the version table (`cryptnode
versions`; engine/src/versions/table.cpp) under the ids in `rules`."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ["Bug", "CATALOGUE", "bug", "markdown_table", "scenarios_dir", "run"]


@dataclass(frozen=True)
class Bug:
    id: str            # "talos#9820", "go-blockdevice#156", "omni#988", "cryptnode#slot-1"
    title: str
    lived_in: str      # the releases that show it ("1.8.0-1.8.4"; "every release" by design)
    fixed_in: str      # the first fixed release per branch, "-" when none (by design, open)
    scenario: str      # file in scenarios/bugs/
    user_sees: str     # what the user sees, Talos' text where it has one
    affected: Tuple[str, ...] = ()  # releases the scenario runs where the bug must show
    fixed: Tuple[str, ...] = ()     # releases the scenario runs where it must be gone
    upgrade: bool = False           # the bug shows across `node.upgrade(...)`
    tpm: bool = False
    skip: Optional[str] = None      # why the scenario cannot run in this build, when it cannot
    rules: Tuple[str, ...] = ()     # version-table rule ids with the boundaries
    links: Tuple[str, ...] = field(default=())  # upstream threads and commits

    @property
    def command(self) -> str:
        return f"cryptnode bugs --run {self.id}"


CATALOGUE: List[Bug] = [
    Bug("talos#9820", "a key that cannot be synced (KMS down) fails the whole open",
        "1.8.0-1.8.4", "1.9.0", "test_talos_9820_failed_syncs.py",
        "EPHEMERAL failed: \"error opening encrypted volume: error adding key slot 1 "
        "*keys.KMSKeyHandler: failed to seal KMS passphrase, slot 1: ...\"; from 1.9.0 the "
        "volume opens and VolumeStatus encryptionFailedSyncs lists the slot",
        affected=("1.8.4",), fixed=("1.9.0",), rules=("failed_syncs_non_fatal",),
        links=("siderolabs/talos#9820", "PR #9830", "fc3b31575")),
    Bug("talos#8100", "no fallback to the next key when the first one fails",
        "1.8.1-1.8.4 (a rejected key; a failed TPM key through talos#9820); reported on 1.6.0 "
        "with TPM", "1.9.0", "test_talos_8100_key_fallback.py",
        "\"error opening encrypted volume: encryption key rejected\" (a TPM key whose PCR 7 "
        "changed: \"error opening encrypted volume: error updating key slot 0 "
        "*keys.TPMKeyHandler: ...\") although another configured key opens the volume; from "
        "1.9.0 the next key opens it",
        affected=("1.8.4",), fixed=("1.9.0",), rules=("open_tries_every_keyslot",),
        links=("siderolabs/talos#8100", "PR #9830", "fc3b31575", "4d279c65f")),
    Bug("talos#13343", "keyslots added by hand (cryptsetup luksAddKey) are removed",
        "every release (by design)", "-", "test_talos_13343_manual_keyslots.py",
        "the keyslot added with `cryptsetup luksAddKey` is gone after the next boot: syncKeys "
        "removes every keyslot no configured key owns",
        affected=("1.8.4", "1.12.11", "1.14.0"), links=("siderolabs/talos#13343",)),
    Bug("talos#10653", "switching an existing EPHEMERAL to encrypted stalls; reset refused",
        "1.8.0-1.9.5", "1.9.6, 1.10.0", "test_talos_10653_ephemeral_to_encrypted.py",
        "EPHEMERAL failed: \"block dev type mismatch: xfs != luks\"; talosctl reset "
        "--system-labels-to-wipe EPHEMERAL: \"failed to reset: volume \\\"EPHEMERAL\\\" is not "
        "ready\"; from 1.9.6 the reset wipes it and the next boot formats it encrypted",
        affected=("1.9.5",), fixed=("1.9.6", "1.10.0"), rules=("reset_not_ready_volume",),
        links=("siderolabs/talos#10653", "siderolabs/talos#7676", "PR #10810", "b9dd6d8d3",
               "9ea205bc9", "d60626f01")),
    Bug("talos#11502", "upgrade to 1.11 fails on the META value of an older release",
        "1.11.0-beta.1", "1.11.0-beta.2", "test_talos_11502_meta_legacy_json.py",
        "STATE never opens: \"error creating state volume configuration: error unmarshalling "
        "state encryption meta key:  does not belong to EncryptionProviderType values\"",
        affected=("1.11.0-beta.1",), fixed=("1.11.0-beta.2", "1.11.0"), upgrade=True,
        rules=("meta_state_encryption_modern_json", "meta_legacy_json_fallback"),
        links=("siderolabs/talos#11502", "PR #11515", "7eec61993", "85589662a", "ada51ff69")),
    Bug("talos#11725", "1.10 -> 1.11 upgrade loops closing EPHEMERAL",
        "reported on 1.10.7", "not established", "test_talos_11725_close_on_upgrade.py",
        "\"error closing encrypted volume \\\"nvme9n1p4-encrypted\\\": error closing "
        "nvme9n1p4-encrypted: mapped device is still in use\", forever",
        affected=("1.10.7",), fixed=("1.11.0",), upgrade=True,
        skip="not reproducible here: 037801f5f (the close-name fix) is in v1.10.4, before the "
             "reported v1.10.7; it made the close real (1.9.0-1.10.3 closed dm-N, a no-op), and "
             "the loop needs something that still holds the mapping when the 1.10 upgrade "
             "sequence tears the volumes down, which the simulated node has not",
        rules=("close_by_mapper_name", "mapper_name_volume_id"),
        links=("siderolabs/talos#11725", "PR #11181", "037801f5f", "260d1bc9a", "cc768037f")),
    Bug("talos#10542", "a KMS behind a private CA cannot unlock STATE",
        "every release (by design)", "-", "test_talos_10542_kms_self_signed.py",
        "STATE failed at the first reboot: \"error opening encrypted volume: no handlers "
        "available to get encryption keys from: ... tls: failed to verify certificate: x509: "
        "certificate signed by unknown authority\"; the TrustedRootsConfig that trusts the CA "
        "lives in the machine config, inside STATE. A CA in the OS bundle opens it",
        affected=("1.9.0", "1.12.11"),
        links=("siderolabs/talos#10542", "PR #10562", "857779b90", "8d6884a8e",
               "siderolabs/omni#991")),
    Bug("go-blockdevice#156", "header validation rejects argon2i keyslots of Talos < 1.3",
        "1.12.7-1.12.8, 1.13.0-1.13.4", "1.12.9, 1.13.5", "test_go_blockdevice_156_argon2i.py",
        "\"error opening encrypted volume: ... LUKS2 header validation error: keyslot 0 has "
        "unexpected KDF type \\\"argon2i\\\"\" after the upgrade; the upgrade to 1.12.9 opens it",
        affected=("1.12.7", "1.12.8"), fixed=("1.12.9",), upgrade=True,
        rules=("luks2_header_validation", "luks2_header_rejects_argon2i"),
        links=("siderolabs/go-blockdevice#156", "siderolabs/talos PR #13548", "cd429e9e4",
               "765f0a1dc")),
    Bug("omni#988", "transient \"volume is encrypted, but no encryption config provided\"",
        "every release (transient)", "-", "test_omni_988_state_without_meta.py",
        "STATE: \"volume is encrypted, but no encryption config provided\" until the machine "
        "config arrives (META holds no STATE encryption config), then STATE opens",
        affected=("1.8.4", "1.12.11", "1.14.0"), links=("siderolabs/omni#988",)),
    Bug("cryptnode#slot-1", "`slot: -1` destroys every keyslot",
        "every release", "-", "test_cryptnode_slot_minus_one.py",
        "the first boot opens the volume; the next one fails: \"error opening encrypted volume: "
        "no handlers available to get encryption keys from: ... encryption key rejected\" "
        "(cryptsetup: \"No usable keyslot is available.\")",
        affected=("1.8.4", "1.12.11", "1.14.0"),
        links=("go-blockdevice encryption.AnyKeyslot", "engine/src/config/lint.cpp")),
    # TPM rows last: they need TPM keys on the node (swtpm, measured boot).
    Bug("talos#9415", "TPM key + static fallback without a TPM loops on \"mapped device is still "
        "in use\"", "1.8.0", "1.8.1, 1.9.0", "test_talos_9415_tpm_static_fallback.py",
        "the first open fails syncing the TPM slot and leaves the volume mapped; every retry "
        "then fails \"mapped device is still in use\"",
        affected=("1.8.0",), fixed=("1.8.1", "1.9.0"), tpm=True,
        rules=("open_handles_open_volume",),
        links=("siderolabs/talos#9415", "PR #9442", "4d279c65f", "0a2b4556c")),
    Bug("talos#8995", "a TPM key enrolled while SecureBoot is off",
        "before 1.8.0 (1.7.5, 1.6.7)", "1.8.0 (1.7.6, 1.6.8)",
        "test_talos_8995_secureboot_on_enroll.py",
        "before 1.8.0 the TPM key was sealed while SecureBoot was off, with no way to refuse; "
        "from 1.8.0 checkSecurebootStatusOnEnroll: true fails the enrolment: \"failed to enroll "
        "the TPM2 key, as SecureBoot is disabled (and checkSecurebootOnEnroll is enabled)\"",
        fixed=("1.9.0", "1.12.11"), tpm=True,
        links=("siderolabs/talos#8995", "PR #9005", "cf5effabb", "d692ab106", "ddc690d73")),
    Bug("talos#13827", "PCR 11 locked before user-volume statuses exist",
        "1.12.0-1.12.10, 1.13.0-1.13.7", "1.12.11, 1.13.8", "test_talos_13827_pcr11_locked.py",
        "a TPM-keyed user volume fails: \"failed to lock PCR 11, as it is in the wrong state, a "
        "reboot might be required\"",
        affected=("1.12.10", "1.13.7"), fixed=("1.12.11", "1.13.8"), tpm=True,
        rules=("stw_waits_for_volume_configs",),
        links=("siderolabs/talos#13827", "PR #13833", "1c6d69c01", "fc757545c")),
    Bug("talos#13056", "a TPM unseal slower than 10 s fails the volume",
        "1.10.0-1.12.6", "1.12.7, 1.13.0", "test_talos_13056_slow_tpm.py",
        "\"error opening encrypted volume: no handlers available to get encryption keys from: "
        "... failed to unlock PCR 11: remove finalizer rate limited: context deadline "
        "exceeded\"; from 1.12.7 each key handler gets 20 s and the TPM key opens the volume",
        affected=("1.12.6",), fixed=("1.12.7", "1.13.0"), tpm=True,
        rules=("key_handler_timeout_20s",),
        links=("siderolabs/talos#13056", "PR #13059", "e16007b44")),
    Bug("talos#14410", "a TPM slot sealed against old PCR values is never re-enrolled",
        "every release (open upstream)", "-", "test_talos_14410_stale_tpm_slot.py",
        "after a PCR change the TPM slot stays in encryptionFailedSyncs at every boot; only "
        "removing and re-adding the key re-seals it",
        affected=("1.12.11", "1.14.0"), tpm=True,
        links=("siderolabs/talos PR #14410 (open)",)),
]


def bug(bug_id: str) -> Bug:
    """The catalogue entry `bug_id` ("talos#9820"); KeyError names the known ids."""
    for b in CATALOGUE:
        if b.id == bug_id:
            return b
    raise KeyError(f"unknown bug {bug_id!r}: known are {', '.join(b.id for b in CATALOGUE)}")


def markdown_table() -> str:
    """The table of docs/talos/bugs.md: bug, title, lived in, fixed in, reproduced here (yes: the
    scenario runs and passes in this build; skip: it waits, see the bug's section) and the
    command that replays it."""
    rows = ["| bug | title | lived in | fixed in | reproduced here | replay |",
            "| --- | --- | --- | --- | --- | --- |"]
    for b in CATALOGUE:
        title = b.title.replace("|", "\\|")
        here = "skip" if b.skip else "yes"
        rows.append(f"| {b.id} | {title} | {b.lived_in} | {b.fixed_in} | {here} | "
                    f"`{b.command}` |")
    return "\n".join(rows) + "\n"


def scenarios_dir() -> Optional[str]:
    """scenarios/bugs of the source tree this package comes from (the package may be a tree of
    symlinks into it), or None for an installed package."""
    here = os.path.dirname(os.path.realpath(__file__))
    d = os.path.normpath(os.path.join(here, "..", "..", "..", "scenarios", "bugs"))
    return d if os.path.isdir(d) else None


def _outcomes(junit_xml: str) -> Dict[str, List[str]]:
    """scenario file -> outcomes (passed, failed, skipped) of its test cases."""
    out: Dict[str, List[str]] = {}
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")[-1]
        kind = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                kind = "failed"
                break
            if child.tag == "skipped":
                kind = "skipped"
        out.setdefault(module + ".py", []).append(kind)
    return out


def run(bugs: Sequence[Bug], scenarios: Optional[str] = None,
        pytest_args: Sequence[str] = ()) -> Dict[str, str]:
    """Replays each bug's scenario with pytest (throwaway nodes in pytest's temporary directory)
    and returns bug id -> "yes" (every case passed: shown where it lived, gone where fixed),
    "no" (a case failed) or "skip" (no case ran)."""
    where = scenarios or scenarios_dir()
    if not where:
        raise FileNotFoundError("scenarios/bugs not found next to this package: pass --scenarios")
    files = [os.path.join(where, b.scenario) for b in bugs]
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p))
    with tempfile.TemporaryDirectory(prefix="cryptnode-bugs-") as tmp:
        report = os.path.join(tmp, "junit.xml")
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f"--junitxml={report}", *pytest_args, *files],
                       env=env, stdout=sys.stderr, stderr=sys.stderr, check=False)
        outcomes = _outcomes(report) if os.path.exists(report) else {}
    result = {}
    for b in bugs:
        got = outcomes.get(b.scenario, [])
        if any(o == "failed" for o in got) or not got:
            result[b.id] = "no"
        elif all(o == "skipped" for o in got):
            result[b.id] = "skip"
        else:
            result[b.id] = "yes"
    return result
