"""talos#13827: PCR 11 was locked before the user volumes had statuses.

Report: a UserVolumeConfig with a TPM key failed at boot. Talos extends PCR 11 with
"start-the-world" (after which no TPM key can be unsealed or sealed until the next boot) once the
volumes it knows about are ready; user volumes whose VolumeStatus did not exist yet were not
waited for.
Releases: lived in 1.12.0-1.12.10 and 1.13.0-1.13.7; fixed in 1.12.11 (1c6d69c01) and 1.13.8
(fc757545c; 076c38136 on main, PR #13833) (version table: stw_waits_for_volume_configs).
What the user sees: "failed to lock PCR 11, as it is in the wrong state, a reboot might be
required" for the user volume; from 1.12.11 the volume opens before PCR 11 is locked."""

import pytest

from bug_helpers import bug, cases

BUG = bug("talos#13827")


@pytest.mark.skip(reason=BUG.skip)
@pytest.mark.parametrize("version,lives", cases(BUG))
def test_tpm_user_volume_before_start_the_world(node_factory, version, lives):
    """STATE/EPHEMERAL nodeID, a UserVolumeConfig with tpm(); 1.12.10: the user volume fails
    with Talos' text; 1.12.11: ready; its data survives a reboot."""
