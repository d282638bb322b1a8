"""TPM keys on a node with a real TPM (swtpm) and a simulated measured boot: the seed document's
TPM examples, Talos' TrustedBootSuite.TestEncryptionConfigRotate, SecureBoot changes with a static
fallback (talos#8995, #8100), a cleared TPM, a TPM-keyed volume added after start-the-world
(talos#13827's message), a node without a TPM (#9415), upgrades that re-sign PCR 11, damaged
tokens. Every scenario ends with a reboot and a check of data written before."""

import json
import subprocess

import pytest

import cryptnode
from cryptnode import configs as c

pytestmark = pytest.mark.tpm

DATA = b"tpm-protected data\n" * 64


def boot_with(node, *docs):
    node.boot(config=c.config(*docs))
    return node


def settled(node):
    """Asserts the boot settled; a volume that did not names itself (phase, Talos' error)."""
    assert node.running, [(v.id, v.phase, v.error_message) for v in node.volumes()]


def status(node, vid):
    return node.volume_status(vid)


def tpm_token(node, vid, slot):
    return node.luks_dump(vid)["tokens"][str(slot)]


def test_seed_tpm_example_state_and_ephemeral(node_factory):
    """The seed document's TPM example: STATE and EPHEMERAL sealed to the TPM (PCR 7 + the
    signed PCR 11 policy), unlocking at every boot."""
    node = node_factory(tpm=True)
    boot_with(node, c.volume_config("STATE", [c.tpm(slot=0)]),
              c.volume_config("EPHEMERAL", [c.tpm(slot=0)]))
    for vid in ("STATE", "EPHEMERAL"):
        st = status(node, vid)
        assert st.phase == "ready" and st.encryption_slot == 0
        assert st.configured_encryption_keys == ["tpm"]
        assert st.pcrs == [7] and st.pub_key_pcrs == [11]
    tok = tpm_token(node, "EPHEMERAL", 0)
    assert tok["type"] == "talos-tpm2" and tok["keyslots"] == []
    ud = tok["UserData"]
    assert list(ud) == ["keyslots", "sealed_blob_private", "sealed_blob_public", "pcrs",
                        "pubkey_pcrs", "alg", "encryption_version", "policy_hash", "key_name"]
    assert ud["pcrs"] == [7] and ud["pubkey_pcrs"] == [11] and ud["alg"] == "sha256"
    assert ud["encryption_version"] == "1" and ud["keyslots"] == [0]
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.reboot()
    assert status(node, "STATE").phase == "ready"
    assert node.read_file("EPHEMERAL", "data.bin") == DATA


def _tpm(slot, lock=False, pcrs=None):
    return c.tpm(slot=slot, pcrs=pcrs, lock_to_state=lock)


def test_trusted_boot_encryption_config_rotate(node_factory):
    """api.TrustedBootSuite.TestEncryptionConfigRotate: six patch+reboot steps on EPHEMERAL; after
    each, the TPM options and lockedToState of the slot that opened the volume."""
    node = node_factory(tpm=True)
    existing = c.node_id(slot=0)
    state = c.volume_config("STATE", [c.node_id(slot=0)])
    boot_with(node, state, c.volume_config("EPHEMERAL", [existing]))
    node.write_file("EPHEMERAL", "data.bin", DATA)
    n = status(node, "EPHEMERAL").encryption_slot + 1
    steps = [
        ([existing, _tpm(n, lock=True)], (None, None, False)),  # unlock still via the lower slot
        ([_tpm(n, lock=True)], ([7], [11], True)),
        ([_tpm(n, lock=True), _tpm(n + 1, pcrs=[])], ([7], [11], True)),
        ([_tpm(n + 1, pcrs=[])], (None, [11], False)),
        ([_tpm(n + 1, pcrs=[]), _tpm(n + 2, lock=True, pcrs=[0, 7])], (None, [11], False)),
        ([_tpm(n + 2, lock=True, pcrs=[0, 7])], ([0, 7], [11], True)),
    ]
    for i, (keys, (pcrs, pub, locked)) in enumerate(steps, 1):
        node.apply_config(c.config(state, c.volume_config("EPHEMERAL", keys)), mode="no-reboot")
        node.reboot()
        st = status(node, "EPHEMERAL")
        assert st.phase == "ready", (i, st.error_message)
        assert st.encryption_failed_syncs == [], (i, st.encryption_failed_syncs)
        assert (st.pcrs, st.pub_key_pcrs, st.encryption_locked_to_state) == (pcrs, pub, locked), i
    assert node.read_file("EPHEMERAL", "data.bin") == DATA


@pytest.mark.parametrize("enrolled_with,booted_with", [(False, True), (True, False)],
                         ids=["enrolled-sb-off-then-on", "enrolled-sb-on-then-off"])
def test_secure_boot_change_falls_back_to_static(node_factory, enrolled_with, booted_with):
    """talos#8995 / #8100: a TPM key bound to PCR 7 was enrolled in one SecureBoot state; after
    the state changes, PCR 7 differs, the unseal fails with Talos' policy text, and the static key
    in the next slot opens the volume (fallback in slot order); the TPM slot is a failed sync."""
    node = node_factory(tpm=True, secure_boot=enrolled_with)
    eph = c.volume_config("EPHEMERAL", [c.tpm(slot=0), c.static("fallback", slot=1)])
    boot_with(node, c.volume_config("STATE", [c.node_id(slot=0)]), eph)
    settled(node)
    node.write_file("EPHEMERAL", "data.bin", DATA)
    assert status(node, "EPHEMERAL").encryption_slot == 0
    node.set_firmware(secure_boot=booted_with, setup_mode=False)
    node.reboot()
    st = status(node, "EPHEMERAL")
    assert st.phase == "ready" and st.encryption_slot == 1
    assert len(st.encryption_failed_syncs) == 1
    failed = st.encryption_failed_syncs[0]
    assert failed.startswith("error updating key slot 0 *keys.TPMKeyHandler: "), failed
    assert "sealing policy digest does not match" in failed, failed
    assert node.read_file("EPHEMERAL", "data.bin") == DATA
    # Back to the enrolment state: the TPM slot opens again.
    node.set_firmware(secure_boot=enrolled_with, setup_mode=False)
    node.reboot()
    assert status(node, "EPHEMERAL").encryption_slot == 0


def test_check_secureboot_on_enroll_refuses_with_secure_boot_off(node_factory):
    """checkSecurebootStatusOnEnroll (talos PR #9005): enrolment refuses while SecureBoot is off;
    the static key formats the volume and the TPM slot stays a failed sync."""
    node = node_factory(tpm=True, secure_boot=False)
    boot_with(node, c.volume_config("STATE", [c.node_id(slot=0)]),
              c.volume_config("EPHEMERAL", [c.static("s", slot=0),
                                            c.tpm(slot=1, check_secureboot_status_on_enroll=True)]))
    refused = ("failed to enroll the TPM2 key, as SecureBoot is disabled (and "
               "checkSecurebootOnEnroll is enabled)")
    # FormatAndEncrypt aborts on the failed add (retryable); the next pass opens with the static
    # key and reports the TPM slot as a failed sync.
    st = status(node, "EPHEMERAL")
    assert st.phase == "failed" and st.retryable
    assert st.error_message == "error formatting and encrypting volume: " + refused
    node.advance(30)
    st = status(node, "EPHEMERAL")
    assert st.phase == "ready", st.error_message
    assert st.encryption_failed_syncs == [
        "error adding key slot 1 *keys.TPMKeyHandler: " + refused]
    node.reboot()
    assert status(node, "EPHEMERAL").phase == "ready"


def test_cleared_tpm_breaks_every_tpm_key(node_factory):
    """A cleared TPM has a new storage root key: `srk name does not match`; the static slot opens."""
    node = node_factory(tpm=True)
    boot_with(node, c.volume_config("STATE", [c.node_id(slot=0)]),
              c.volume_config("EPHEMERAL", [c.tpm(slot=0), c.static("fallback", slot=1)]))
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.clear_tpm()
    node.reboot()
    st = status(node, "EPHEMERAL")
    assert st.encryption_slot == 1
    assert "srk name does not match, expected " in st.encryption_failed_syncs[0]
    assert node.read_file("EPHEMERAL", "data.bin") == DATA


def test_tpm_volume_added_after_start_the_world_waits_for_a_reboot(node_factory):
    """A TPM-keyed user volume applied at runtime: PCR 11 is locked after start-the-world, so the
    volume fails with Talos' text until the next boot (talos#13827's message)."""
    node = node_factory(tpm=True, disks=["1GiB", "512MiB"])
    state = c.volume_config("STATE", [c.node_id(slot=0)])
    eph = c.volume_config("EPHEMERAL", [c.node_id(slot=0)])
    boot_with(node, state, eph)
    user = c.user_volume_config("data", [c.tpm(slot=0)])
    node.apply_config(c.config(state, eph, user), mode="no-reboot")
    st = status(node, "u-data")
    assert st.phase == "failed"
    assert ("failed to lock PCR 11, as it is in the wrong state, a reboot might be required"
            in st.error_message), st.error_message
    node.reboot()
    assert status(node, "u-data").phase == "ready"
    node.write_file("u-data", "data.bin", DATA)
    node.reboot()
    assert node.read_file("u-data", "data.bin") == DATA


@pytest.mark.parametrize("version,expect", [("1.12.10", "failed"), ("1.12.11", "ready")])
def test_tpm_user_volume_at_first_boot_per_release(node_factory, version, expect):
    """talos#13827 / PR #13833: before 1.12.11 start-the-world is extended before the user
    volumes have a status, so a TPM-keyed user volume fails at the first boot; from 1.12.11 the
    PCRStatus controller waits for every VolumeConfig."""
    node = node_factory(tpm=True, disks=["1GiB", "512MiB"], talos_version=version)
    boot_with(node, c.volume_config("STATE", [c.node_id(slot=0)]),
              c.volume_config("EPHEMERAL", [c.node_id(slot=0)]),
              c.user_volume_config("data", [c.tpm(slot=0)]))
    st = status(node, "u-data")
    assert st.phase == expect, st.error_message
    if expect == "failed":
        assert "failed to lock PCR 11, as it is in the wrong state" in st.error_message


def test_no_tpm_with_tpm_and_static_keys_opens_with_static(node_factory):
    """talos#9415: TPM + static on a machine without a TPM: the static key formats and opens; the
    TPM slot is a failed sync with the device error, and every boot stays healthy."""
    node = node_factory(tpm=False)
    boot_with(node, c.volume_config("STATE", [c.node_id(slot=0)]),
              c.volume_config("EPHEMERAL", [c.tpm(slot=0), c.static("fallback", slot=1)]))
    no_tpm = "open /dev/tpm0: no such file or directory"
    # The TPM key cannot be made: the static key (next slot) formats, adding the TPM key aborts
    # the format (retryable) ...
    st = status(node, "EPHEMERAL")
    assert st.phase == "failed" and st.retryable
    assert st.error_message == "error formatting and encrypting volume: " + no_tpm
    # ... and the 30 s retry opens with the static key: no "mapped device is still in use" loop.
    node.advance(30)
    st = status(node, "EPHEMERAL")
    assert st.phase == "ready" and st.encryption_slot == 1
    assert st.encryption_failed_syncs == [
        "error adding key slot 0 *keys.TPMKeyHandler: " + no_tpm]
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.reboot()
    assert status(node, "EPHEMERAL").phase == "ready"
    assert node.read_file("EPHEMERAL", "data.bin") == DATA


def test_upgrade_resigning_pcr11_keeps_unlocking(node_factory):
    """A Talos upgrade boots another UKI (PCR 11 changes) signed with the same PCR key: the TPM
    key keeps unlocking across upgrade and rollback."""
    node = node_factory(tpm=True, talos_version="1.12.9")
    boot_with(node, c.volume_config("STATE", [c.tpm(slot=0)]),
              c.volume_config("EPHEMERAL", [c.tpm(slot=0)]))
    node.write_file("EPHEMERAL", "data.bin", DATA)
    assert node.upgrade("1.12.11") == "1.12.11"
    assert status(node, "STATE").phase == "ready"
    assert status(node, "EPHEMERAL").encryption_slot == 0
    assert node.upgrade("1.12.9") == "1.12.9"
    assert node.read_file("EPHEMERAL", "data.bin") == DATA


@pytest.mark.parametrize("damage", ["blob", "missing-field", "key-name"])
def test_damaged_token_is_an_error_on_that_slot_only(node_factory, damage):
    """A damaged talos-tpm2 token (bad blob, missing field, wrong key name): a clear error on that
    slot; the static slot still opens the volume and the data is there."""
    node = node_factory(tpm=True)
    boot_with(node, c.volume_config("STATE", [c.node_id(slot=0)]),
              c.volume_config("EPHEMERAL", [c.tpm(slot=0), c.static("fallback", slot=1)]))
    node.write_file("EPHEMERAL", "data.bin", DATA)
    tok = tpm_token(node, "EPHEMERAL", 0)
    ud = tok["UserData"]
    if damage == "blob":
        ud["sealed_blob_private"] = "AAAA" + ud["sealed_blob_private"][4:]
    elif damage == "missing-field":
        del ud["sealed_blob_public"]
    else:
        ud["key_name"] = "AAsAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
    # `cryptsetup token import --token-replace`, as an administrator (or a bug) would.
    r = subprocess.run(["cryptsetup", "token", "import", "-q", "--token-id", "0",
                        "--token-replace", "--json-file=-", node.devices()["EPHEMERAL"]],
                       input=json.dumps(tok).encode(), capture_output=True)
    assert r.returncode == 0, r.stderr
    node.reboot()
    st = status(node, "EPHEMERAL")
    assert st.phase == "ready" and st.encryption_slot == 1
    assert len(st.encryption_failed_syncs) == 1
    assert st.encryption_failed_syncs[0].startswith(
        "error updating key slot 0 *keys.TPMKeyHandler: "), st.encryption_failed_syncs
    assert node.read_file("EPHEMERAL", "data.bin") == DATA


@pytest.mark.parametrize("version,expect", [("1.13.7", "failed"), ("1.13.8", "ready")])
def test_tpm_user_volume_at_first_boot_on_1_13(node_factory, version, expect):
    """talos#13827 on release-1.13: the start-the-world fix (fc757545c) is in 1.13.8, not in
    1.13.0-1.13.7 although 1.12.11 has it."""
    test_tpm_user_volume_at_first_boot_per_release(node_factory, version, expect)


@pytest.mark.parametrize("version,loops", [("1.8.0", True), ("1.8.1", False)])
def test_no_tpm_tpm_and_static_keys_on_1_8(node_factory, version, loops):
    """talos#9415 (open_handles_open_volume): on a machine without a TPM, TPM + static keys; the
    static key opens, the TPM slot's sync fails (fatal before 1.9) and leaves the volume mapped.
    1.8.0 runs luksOpen again on the open mapping at every retry ("mapped device is still in
    use"); from 1.8.1 an open volume is only re-synced, so the retry fails on the TPM slot."""
    no_tpm = "open /dev/tpm0: no such file or directory"
    node = node_factory(tpm=False, talos_version=version)
    keys = [c.tpm(slot=0), c.static("fallback", slot=1)]
    node.boot(config=c.config(base=c.machine(systemDiskEncryption={
        "state": {"keys": [c.node_id(slot=0)]}, "ephemeral": {"keys": keys}})))
    st = status(node, "EPHEMERAL")
    assert st.phase == "failed" and st.error_message == (
        "error formatting and encrypting volume: " + no_tpm)
    node.advance(30)  # opens with the static key; the TPM slot's sync fails the open
    st = status(node, "EPHEMERAL")
    assert st.phase == "failed" and "error adding key slot 0 *keys.TPMKeyHandler: " + no_tpm \
        in st.error_message, st.error_message
    node.advance(30)
    st = status(node, "EPHEMERAL")
    assert st.phase == "failed"
    assert ("mapped device is still in use" in st.error_message) == loops, st.error_message
    if not loops:
        assert "error adding key slot 0 *keys.TPMKeyHandler: " + no_tpm in st.error_message
