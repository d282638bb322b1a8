"""talos#13827: PCR 11 was locked before the user volumes had statuses.

Report: a UserVolumeConfig with a TPM key failed at boot. Talos extends PCR 11 with
"start-the-world" (after which no TPM key can be unsealed or sealed until the next boot) once the
volumes it knows about are ready; user volumes whose VolumeStatus did not exist yet were not
waited for.
Releases: lived in 1.12.0-1.12.10 and 1.13.0-1.13.7; fixed in 1.12.11 (1c6d69c01) and 1.13.8
(fc757545c; 076c38136 on main, PR #13833) (version table: stw_waits_for_volume_configs).
What the user sees: "error formatting and encrypting volume: no handlers available to get
encryption keys from: ... failed to lock PCR 11, as it is in the wrong state, a reboot might be
required" for the user volume, at every boot (the seal is refused, nothing is formatted); from
1.12.11 the volume opens before PCR 11 is locked."""

import os

import pytest

from bug_helpers import bug, cases
from cryptnode import configs as c

BUG = bug("talos#13827")
DATA = os.urandom(4096)
LOCKED = "failed to lock PCR 11, as it is in the wrong state, a reboot might be required"

pytestmark = pytest.mark.tpm


@pytest.mark.parametrize("version,lives", cases(BUG))
def test_tpm_user_volume_before_start_the_world(node_factory, version, lives):
    node = node_factory(tpm=True, disks=["1GiB", "512MiB"], talos_version=version)
    node.boot(config=c.config(c.volume_config("STATE", [c.node_id(slot=0)]),
                              c.volume_config("EPHEMERAL", [c.node_id(slot=0)]),
                              c.user_volume_config("data", [c.tpm(slot=0)])))
    for boot in range(2):  # the first boot formats, the reboot opens: the same on both
        st = node.volume_status("u-data")
        if lives:
            assert st.phase == "failed", st
            # NewKey (the seal) is refused, so nothing is formatted: each boot tries again.
            assert st.error_message == (
                "error formatting and encrypting volume: no handlers available to get encryption "
                "keys from: 1 error occurred:\n\t* " + LOCKED + "\n\n"), st.error_message
        else:
            assert st.phase == "ready", st.error_message
            assert st.encryption_slot == 0
            if boot == 0:
                node.write_file("u-data", "data.bin", DATA)
            assert node.read_file("u-data", "data.bin") == DATA
        node.reboot()
    assert node.volume_status("EPHEMERAL").phase == "ready"
