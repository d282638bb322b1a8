"""talos#9415: a TPM key with a static fallback, on a machine without a TPM, loops on "mapped
device is still in use".

Report (1.8.0): STATE and EPHEMERAL with `tpm: {}` in slot 0 and a static passphrase in slot 1,
on a machine without a TPM. The static key opened (mapped) the volume, the sync of the TPM slot
failed, and Open returned that error (a failed sync was fatal before 1.9, talos#9820) with the
volume left mapped; every retry ran luksOpen again on the open mapping and failed with
go-blockdevice's ErrDeviceBusy.
Releases: lived in 1.8.0; fixed in 1.8.1 (4d279c65f) and 1.9.0 (0a2b4556c, PR #9442): Open asks
IsOpen first and an open volume is only re-synced (version table: open_handles_open_volume).
What the user sees on 1.8.0: "mapped device is still in use" at every retry, the boot never
finishes; on 1.8.1 every retry fails on the TPM sync itself (fatal until 1.9.0) without the loop;
on 1.9.0 the volume opens with the static key and lists the TPM slot in encryptionFailedSyncs."""

import os

import pytest

from bug_helpers import bug, cases, encrypted
from cryptnode import rule_applies
from cryptnode.configs import node_id, static, tpm

BUG = bug("talos#9415")
DATA = os.urandom(4096)
NO_TPM = "open /dev/tpm0: no such file or directory"
SYNC = "error adding key slot 0 *keys.TPMKeyHandler: " + NO_TPM


@pytest.mark.parametrize("version,lives", cases(BUG))
def test_tpm_and_static_on_a_machine_without_tpm(node_factory, version, lives):
    node = node_factory(tpm=False, talos_version=version)
    node.boot(config=encrypted(version, state=[node_id()],
                               ephemeral=[tpm(slot=0), static("fallback", slot=1)]))
    # The TPM key cannot be made: the static key formats, adding the TPM key aborts the format
    # (retryable) on every release.
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "failed" and st.retryable, st
    assert st.error_message == "error formatting and encrypting volume: " + NO_TPM

    node.advance(30)  # the retry opens with the static key (mapped), then syncs the TPM slot
    st = node.volume_status("EPHEMERAL")
    if rule_applies("failed_syncs_non_fatal", version):
        assert st.phase == "ready", st.error_message
        assert st.encryption_slot == 1 and st.encryption_failed_syncs == [SYNC]
    else:  # 1.8: the failed sync fails the open, the volume stays mapped
        assert st.phase == "failed", st
        assert st.error_message == "error opening encrypted volume: " + SYNC

    node.advance(30)  # the next retry
    st = node.volume_status("EPHEMERAL")
    if lives:
        assert st.phase == "failed", st
        assert "mapped device is still in use" in st.error_message, st.error_message
    elif rule_applies("failed_syncs_non_fatal", version):
        assert st.phase == "ready"
    else:  # 1.8.1: IsOpen, only the sync runs again, and fails again: no busy loop
        assert st.error_message == "error opening encrypted volume: " + SYNC
    if st.phase == "ready":
        node.write_file("EPHEMERAL", "data.bin", DATA)
        node.reboot()
        assert node.volume_status("EPHEMERAL").phase == "ready"
        assert node.read_file("EPHEMERAL", "data.bin") == DATA
