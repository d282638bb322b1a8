"""talos#8100: no fallback to the next key when the first one fails.

Report (1.6.0): with TPM, nodeID and static keys, a failing TPM key meant none of the others was
tried. Talos 1.9.0 fixed the open path with PR #9830 ("when opening, correctly try all key
slots", fc3b31575). In Talos' history the window this replays is 1.8.1-1.8.4: 4d279c65f (the
talos#9415 fix) moved luksOpen out of tryHandlers, so the first key a handler returns is used and
a key cryptsetup rejects fails the open, while the keys after it are never tried (version table:
open_tries_every_keyslot).
Releases: lived in 1.8.1-1.8.4 (and before 1.8 for TPM, as reported); fixed in 1.9.0.
What the user sees on 1.8.4: a KMS that answers with a wrong key leaves EPHEMERAL failed with
"error opening encrypted volume: encryption key rejected" although the static key in slot 1 opens
it; on 1.9.0 slot 1 opens it.
The report's TPM flavour (a TPM key whose PCR policy no longer matches, then nodeID and static)
shows on 1.8.4 through talos#9820: GetKey errors did fall back in 1.8.1-1.8.4, but syncKeys then
fails updating the TPM slot, fatal before 1.9.0, so the volume stays failed although nodeID opened
it; on 1.9.0 it opens with nodeID and lists the TPM slot in encryptionFailedSyncs."""

import os

import pytest

from bug_helpers import bug, cases, encrypted
from cryptnode.configs import kms as kms_key, node_id, static, tpm

BUG = bug("talos#8100")
DATA = os.urandom(4096)


@pytest.mark.parametrize("version,lives", cases(BUG))
def test_rejected_first_key_falls_back_to_the_next(node_factory, kms, version, lives):
    node = node_factory(talos_version=version)
    cfg = encrypted(version, state=[node_id()],
                    ephemeral=[kms_key(kms.endpoint, slot=0), static("fallback", slot=1)])
    node.boot(config=cfg)
    assert node.volume_status("EPHEMERAL").encryption_slot == 0
    node.write_file("EPHEMERAL", "data.bin", DATA)

    kms.set_fault("garbage")  # the KMS answers Unseal with bytes that are not the key
    node.reboot()
    st = node.volume_status("EPHEMERAL")
    if lives:
        assert st.phase == "failed", st
        assert st.error_message == "error opening encrypted volume: encryption key rejected"
    else:
        assert st.phase == "ready", st.error_message
        assert st.encryption_slot == 1
        assert node.read_file("EPHEMERAL", "data.bin") == DATA

    kms.set_fault(None)
    node.reboot()
    assert node.volume_status("EPHEMERAL").phase == "ready"
    assert node.read_file("EPHEMERAL", "data.bin") == DATA


@pytest.mark.tpm
@pytest.mark.parametrize("version,lives", cases(BUG))
def test_tpm_policy_failure_falls_back_to_the_next_key(node_factory, version, lives):
    """The report's key set: TPM, nodeID, static. SecureBoot changes (PCR 7), the TPM key no
    longer unseals."""
    node = node_factory(tpm=True, secure_boot=True, talos_version=version)
    node.boot(config=encrypted(version, state=[node_id()], ephemeral=[
        tpm(slot=0), node_id(slot=1), static("fallback", slot=2)]))
    assert node.volume_status("EPHEMERAL").encryption_slot == 0
    node.write_file("EPHEMERAL", "data.bin", DATA)

    node.set_firmware(secure_boot=False, setup_mode=False)
    node.reboot()
    st = node.volume_status("EPHEMERAL")
    failed = "error updating key slot 0 *keys.TPMKeyHandler: "
    if lives:
        assert st.phase == "failed", st
        assert st.error_message.startswith("error opening encrypted volume: " + failed), \
            st.error_message
        assert "sealing policy digest does not match" in st.error_message
    else:
        assert st.phase == "ready", st.error_message
        assert st.encryption_slot == 1
        assert len(st.encryption_failed_syncs) == 1
        assert st.encryption_failed_syncs[0].startswith(failed)
        assert node.read_file("EPHEMERAL", "data.bin") == DATA

    node.set_firmware(secure_boot=True, setup_mode=False)
    node.reboot()
    assert node.volume_status("EPHEMERAL").encryption_slot == 0
    assert node.read_file("EPHEMERAL", "data.bin") == DATA
