"""talos#9820: a key that cannot be synced failed the whole open.

Report: a volume with more than one key (static + KMS here) did not open while the KMS was
unreachable, although the static key opens it: Handler.Open returned syncKeys' error for the KMS
slot (internal/pkg/encryption/encryption.go).
Releases: lived up to 1.8.4; fixed in 1.9.0 by fc3b31575 (PR #9830): a failed sync is recorded in
VolumeStatus encryptionFailedSyncs and the volume opens (version table: failed_syncs_non_fatal).
What the user sees on 1.8.4: EPHEMERAL failed at every retry, "error opening encrypted volume:
error adding key slot 1 *keys.KMSKeyHandler: failed to seal KMS passphrase, slot 1: ..."; on
1.9.0: EPHEMERAL ready, opened with slot 0, encryptionFailedSyncs names slot 1.
Configs are machine.systemDiskEncryption, as on those releases."""

import os

import pytest

from bug_helpers import bug, cases, encrypted
from cryptnode.configs import kms as kms_key, node_id, static

BUG = bug("talos#9820")
DATA = os.urandom(4096)
SYNC_ERROR = ("error adding key slot 1 *keys.KMSKeyHandler: failed to seal KMS passphrase, "
              "slot 1: ")


@pytest.mark.parametrize("version,lives", cases(BUG))
def test_kms_down_while_its_slot_is_added(node_factory, kms, version, lives):
    node = node_factory(talos_version=version)
    node.boot(config=encrypted(version, state=[node_id()], ephemeral=[static("s3cret")]))
    node.write_file("EPHEMERAL", "data.bin", DATA)

    kms.set_fault("down")
    both = encrypted(version, state=[node_id()],
                     ephemeral=[static("s3cret"), kms_key(kms.endpoint, slot=1)])
    node.apply_config(both, mode="staged")
    node.reboot()
    st = node.volume_status("EPHEMERAL")
    if lives:
        assert st.phase == "failed" and st.retryable, st.error_message
        assert st.error_message.startswith("error opening encrypted volume: " + SYNC_ERROR), \
            st.error_message
        node.advance(30)  # the retry ticker: the same failure while the KMS is down
        assert node.volume_status("EPHEMERAL").phase == "failed"
    else:
        assert st.phase == "ready", st.error_message
        assert st.encryption_slot == 0
        assert len(st.encryption_failed_syncs) == 1 and st.encryption_failed_syncs[0].startswith(SYNC_ERROR)
        assert node.read_file("EPHEMERAL", "data.bin") == DATA

    # With the KMS back, the next boot opens the volume and enrols the KMS slot.
    kms.set_fault(None)
    node.reboot()
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "ready" and st.encryption_failed_syncs == [], st.error_message
    assert sorted(node.luks_dump("EPHEMERAL")["keyslots"]) == ["0", "1"]
    assert node.read_file("EPHEMERAL", "data.bin") == DATA
