"""talos#9415: a TPM key with a static fallback, on a machine without a TPM, loops on "mapped
device is still in use".

Report (1.8.0): STATE and EPHEMERAL with `tpm: {}` in slot 0 and a static passphrase in slot 1,
on a machine without a TPM. The static key opened the volume, the sync of the TPM slot failed,
and Open returned that error with the volume left mapped; every retry ran luksOpen again on the
open mapping and failed with go-blockdevice's ErrDeviceBusy.
Releases: lived in 1.8.0; fixed in 1.8.1 (4d279c65f) and 1.9.0 (0a2b4556c, PR #9442): an open
volume is only re-synced (version table: open_handles_open_volume).
What the user sees on 1.8.0: "mapped device is still in use" at every retry, the boot never
finishes; on 1.8.1 the failed TPM sync (fatal before 1.9, talos#9820) without the loop."""

import pytest

from bug_helpers import bug, cases

BUG = bug("talos#9415")


@pytest.mark.skip(reason=BUG.skip)
@pytest.mark.parametrize("version,lives", cases(BUG))
def test_tpm_and_static_on_a_machine_without_tpm(node_factory, version, lives):
    """node_factory(talos_version=version, tpm=False); legacy config with tpm: {} in slot 0 and a
    static key in slot 1 for STATE and EPHEMERAL; 1.8.0: the second pass fails "mapped device is
    still in use"; 1.8.1/1.9.0: no such loop, data written earlier survives a reboot."""
