"""talos#14410 (open pull request upstream): a TPM slot sealed against old PCR values is never
re-enrolled.

Report: after a firmware update (or a SecureBoot db/dbx change) the TPM key no longer unseals;
another key (KMS, static) opens the volume, and syncKeys reports the TPM slot in
encryptionFailedSyncs at every boot instead of sealing a new key for the current PCR values
(updateKey replaces a slot only when its token is invalid or its key does not open it, and a
failed unseal is neither). Today's behaviour on every release; the open PR classifies a PCR policy
or SRK mismatch as a stale key and re-enrolls it.
What the user sees: the volume opens with the other key, and encryptionFailedSyncs keeps the TPM
slot's unseal error until the tpm key is removed from the config and added back."""

import pytest

from bug_helpers import bug

BUG = bug("talos#14410")


@pytest.mark.skip(reason=BUG.skip)
@pytest.mark.parametrize("version", BUG.affected)
def test_pcr_change_leaves_the_tpm_slot_stale(node_factory, version):
    """EPHEMERAL with tpm() in slot 0 and a static key in slot 1; set_firmware(secure_boot=False)
    (PCR 7 changes), reboot: opened with slot 1, failed_syncs names slot 0; reboot again: still
    there (the upstream open bug); data survives."""
