"""talos#13056: a TPM unseal slower than 10 s failed the volume.

Report: on a machine with a slow TPM the volume did not open. tryHandlers runs each key handler
under a 10 s deadline (keyHandlerTimeout, internal/pkg/encryption/encryption.go); the TPM unseal
ignores it and answers, but the PCR 11 lock around it (hardware.LockPCRStatus,
pkg/machinery/resources/hardware/pcr_status.go) then removes its finalizer under the expired
context: "failed to unlock PCR 11: remove finalizer rate limited: context deadline exceeded".
Releases: lived up to 1.12.6 (the PCR 11 lock exists from 1.10.0, d4b8090c1); fixed in 1.12.7
(e16007b44, PR #13059; 1.13.0 has it, 087ced85f on main): 20 s per key handler, the finalizer
removal detached from the deadline (version table: key_handler_timeout_20s).
What the user sees on 1.12.6 with a 15 s unseal: EPHEMERAL failed, "error opening encrypted
volume: no handlers available to get encryption keys from: 1 error occurred: * failed to unlock
PCR 11: remove finalizer rate limited: context deadline exceeded"; on 1.12.7 the TPM key opens it.
The simulated TPM's latency (Node.set_tpm_latency) advances the node's virtual clock per seal and
unseal."""

import os

import pytest

from bug_helpers import bug, cases, encrypted
from cryptnode.configs import node_id, static, tpm

BUG = bug("talos#13056")
DATA = os.urandom(4096)
UNLOCK = "failed to unlock PCR 11: remove finalizer rate limited: context deadline exceeded"

pytestmark = pytest.mark.tpm


@pytest.mark.parametrize("version,lives", cases(BUG))
def test_unseal_taking_fifteen_seconds(node_factory, version, lives):
    node = node_factory(tpm=True, talos_version=version)
    node.boot(config=encrypted(version, state=[node_id()], ephemeral=[tpm(slot=0)]))
    assert node.volume_status("EPHEMERAL").encryption_slot == 0
    node.write_file("EPHEMERAL", "data.bin", DATA)

    node.set_tpm_latency(15)  # the TPM answers each unseal 15 s later
    node.reboot()
    st = node.volume_status("EPHEMERAL")
    if lives:
        assert st.phase == "failed", st
        assert st.error_message == (
            "error opening encrypted volume: no handlers available to get encryption keys from: "
            "1 error occurred:\n\t* " + UNLOCK + "\n\n")
    else:
        assert st.phase == "ready", st.error_message
        assert st.encryption_slot == 0 and st.encryption_failed_syncs == []
        assert node.read_file("EPHEMERAL", "data.bin") == DATA

    node.set_tpm_latency(0)
    node.reboot()
    assert node.volume_status("EPHEMERAL").phase == "ready"
    assert node.read_file("EPHEMERAL", "data.bin") == DATA


@pytest.mark.parametrize("version,lives", cases(BUG))
def test_slow_tpm_falls_back_to_the_static_key(node_factory, version, lives):
    """With a static key in the next slot the node boots on 1.12.6 too, through that key: the
    timed-out TPM key is only a failed handler, and syncKeys (no per-key deadline) keeps it."""
    node = node_factory(tpm=True, talos_version=version)
    node.boot(config=encrypted(version, state=[node_id()],
                               ephemeral=[tpm(slot=0), static("fallback", slot=1)]))
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.set_tpm_latency(15)
    node.reboot()
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "ready", st.error_message
    assert st.encryption_slot == (1 if lives else 0)
    assert st.encryption_failed_syncs == []
    assert node.read_file("EPHEMERAL", "data.bin") == DATA
