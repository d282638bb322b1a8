"""talos#8995: a TPM key was enrolled while SecureBoot was off.

Report: on a machine with a TPM but SecureBoot disabled Talos sealed the disk key anyway; users
wanted the enrolment to fail instead. PR #9005 added the opt-in `checkSecurebootStatusOnEnroll`
to the tpm key (cf5effabb on main, v1.8.0; d692ab106 in 1.7.6; ddc690d73 in 1.6.8).
Releases: lived before 1.8.0 (1.7.5, 1.6.7), which have no profile here, so the scenario runs
fixed releases only (1.9.0, the first whose failed syncs are not fatal, and 1.12.11): without the
option the key is still sealed with SecureBoot off (the default did not change), with it the
enrolment is refused.
What the user sees from 1.8.0 with the option set: "failed to enroll the TPM2 key, as SecureBoot
is disabled (and checkSecurebootOnEnroll is enabled)" (the format aborts once, then the volume
opens with the other key and lists the TPM slot in encryptionFailedSyncs); once SecureBoot is on
the next boot enrolls it."""

import os

import pytest

from bug_helpers import bug, encrypted
from cryptnode.configs import node_id, static, tpm

BUG = bug("talos#8995")
DATA = os.urandom(4096)
REFUSED = ("failed to enroll the TPM2 key, as SecureBoot is disabled (and checkSecurebootOnEnroll "
           "is enabled)")

pytestmark = pytest.mark.tpm


@pytest.mark.parametrize("version", BUG.fixed)
def test_without_the_option_the_key_is_sealed_with_secureboot_off(node_factory, version):
    node = node_factory(tpm=True, secure_boot=False, talos_version=version)
    node.boot(config=encrypted(version, state=[node_id()],
                               ephemeral=[static("s", slot=0), tpm(slot=1)]))
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "ready" and st.encryption_failed_syncs == [], st.error_message
    assert node.luks_dump("EPHEMERAL")["tokens"]["1"]["type"] == "talos-tpm2"


@pytest.mark.parametrize("version", BUG.fixed)
def test_enrolment_refused_with_secureboot_off(node_factory, version):
    node = node_factory(tpm=True, secure_boot=False, talos_version=version)
    node.boot(config=encrypted(version, state=[node_id()], ephemeral=[
        static("s", slot=0), tpm(slot=1, check_secureboot_status_on_enroll=True)]))
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "failed" and st.retryable, st
    assert st.error_message == "error formatting and encrypting volume: " + REFUSED
    node.advance(30)
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "ready", st.error_message
    assert st.encryption_failed_syncs == ["error adding key slot 1 *keys.TPMKeyHandler: " + REFUSED]
    assert "1" not in node.luks_dump("EPHEMERAL")["keyslots"]
    node.write_file("EPHEMERAL", "data.bin", DATA)

    node.set_firmware(secure_boot=True, setup_mode=False)
    node.reboot()
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "ready" and st.encryption_failed_syncs == [], st.encryption_failed_syncs
    assert node.luks_dump("EPHEMERAL")["tokens"]["1"]["type"] == "talos-tpm2"
    assert node.read_file("EPHEMERAL", "data.bin") == DATA
