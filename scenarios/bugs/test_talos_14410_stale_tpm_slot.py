"""talos#14410 (open pull request upstream): a TPM slot sealed against old PCR values is never
re-enrolled.

Report: after a firmware update (or a SecureBoot db/dbx change) the TPM key no longer unseals;
another key (KMS, static) opens the volume, and syncKeys reports the TPM slot in
encryptionFailedSyncs at every boot instead of sealing a new key for the current PCR values
(updateKey replaces a slot only when its token is invalid or its key does not open it, and a
failed unseal is neither: checkKey returns the error). Today's behaviour on every release; the
open PR classifies a PCR policy or SRK mismatch as a stale key and re-enrolls it.
What the user sees: the volume opens with the other key, and encryptionFailedSyncs keeps "error
updating key slot 0 *keys.TPMKeyHandler: ... sealing policy digest does not match" at every boot
until the tpm key is removed from the config and added back."""

import os

import pytest

from bug_helpers import bug
from cryptnode import configs as c

BUG = bug("talos#14410")
DATA = os.urandom(4096)

pytestmark = pytest.mark.tpm


@pytest.mark.parametrize("version", BUG.affected)
def test_pcr_change_leaves_the_tpm_slot_stale(node_factory, version):
    node = node_factory(tpm=True, secure_boot=True, talos_version=version)
    state = c.volume_config("STATE", [c.node_id(slot=0)])
    with_tpm = c.volume_config("EPHEMERAL", [c.tpm(slot=0), c.static("fallback", slot=1)])
    node.boot(config=c.config(state, with_tpm))
    assert node.volume_status("EPHEMERAL").encryption_slot == 0
    node.write_file("EPHEMERAL", "data.bin", DATA)

    node.set_firmware(secure_boot=False, setup_mode=False)  # PCR 7 changes
    for _ in range(2):  # not re-sealed: the same at every boot
        node.reboot()
        st = node.volume_status("EPHEMERAL")
        assert st.phase == "ready" and st.encryption_slot == 1, st.error_message
        assert len(st.encryption_failed_syncs) == 1, st.encryption_failed_syncs
        failed = st.encryption_failed_syncs[0]
        assert failed.startswith("error updating key slot 0 *keys.TPMKeyHandler: "), failed
        assert "sealing policy digest does not match" in failed, failed

    # The workaround: drop the tpm key (its slot is removed), add it back (sealed anew).
    node.apply_config(c.config(state, c.volume_config("EPHEMERAL", [c.static("fallback", slot=1)])),
                      mode="no-reboot")
    node.reboot()
    assert sorted(node.luks_dump("EPHEMERAL")["keyslots"]) == ["1"]
    node.apply_config(c.config(state, with_tpm), mode="no-reboot")
    node.reboot()
    assert node.volume_status("EPHEMERAL").encryption_failed_syncs == []
    node.reboot()
    st = node.volume_status("EPHEMERAL")
    assert st.encryption_slot == 0 and st.encryption_failed_syncs == []
    assert node.read_file("EPHEMERAL", "data.bin") == DATA
