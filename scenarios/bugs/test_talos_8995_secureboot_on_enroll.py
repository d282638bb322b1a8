"""talos#8995: a TPM key was enrolled while SecureBoot was off.

Report: on a machine with a TPM but SecureBoot disabled Talos sealed the disk key anyway; users
wanted the enrolment to fail instead. PR #9005 added `tpm.checkSecurebootStatusOnEnroll`
(cf5effabb on main, v1.8.0; d692ab106 in 1.7.6; ddc690d73 in 1.6.8).
Releases: lived before 1.8.0 (1.7.5, 1.6.7), which have no profile here; fixed in 1.8.0, so the
scenario shows the fixed behaviour only.
What the user sees from 1.8.0 with the option set: the TPM key is not enrolled while SecureBoot
is off (a failed enrolment), and a key enrolled with SecureBoot on keeps opening the volume."""

import pytest

from bug_helpers import bug

BUG = bug("talos#8995")


@pytest.mark.skip(reason=BUG.skip)
@pytest.mark.parametrize("version", BUG.fixed)
def test_enrolment_refused_with_secureboot_off(node_factory, version):
    """node_factory(talos_version=version, secure_boot=False); EPHEMERAL with
    tpm(check_secureboot_status_on_enroll=True) and a static key: the TPM slot is not enrolled;
    set_firmware(secure_boot=True), reboot: it is; data survives."""
