"""talos#10653 (and #7676): switching an existing EPHEMERAL to encrypted stalls, and reset is
refused.

Report: EPHEMERAL was formatted unencrypted; the config was changed to encrypt it and the node
rebooted. Talos has no in-place encryption: the partition holds XFS where a LUKS2 header is
expected, so the volume fails ("block dev type mismatch: xfs != luks") and the boot stalls. The
documented way out, `talosctl reset --system-labels-to-wipe EPHEMERAL`, was refused because the
reset API wanted the volume to be ready.
Releases: lived up to 1.9.5; fixed in 1.9.6 (b9dd6d8d3) and 1.10.0 (9ea205bc9; d60626f01 on main,
PR #10810): any located volume can be reset (version table: reset_not_ready_volume).
What the user sees on 1.9.5: reset fails with "failed to reset: volume \"EPHEMERAL\" is not
ready"; from 1.9.6 the reset wipes EPHEMERAL and the next boot formats it encrypted.
STATE's data survives either way; EPHEMERAL's is wiped by the reset, as Talos does."""

import os

import pytest

import cryptnode
from bug_helpers import bug, cases, encrypted, legacy
from cryptnode.configs import node_id

BUG = bug("talos#10653")
DATA = os.urandom(4096)


@pytest.mark.parametrize("version,lives", cases(BUG))
def test_switch_ephemeral_to_encrypted_then_reset(node_factory, version, lives):
    node = node_factory(talos_version=version)
    node.boot(config=legacy(state=[node_id()]))  # EPHEMERAL unencrypted
    assert node.volume_status("EPHEMERAL").encryption_provider == ""
    node.write_file("STATE", "keep.bin", DATA)

    node.apply_config(encrypted(version, state=[node_id()], ephemeral=[node_id()]),
                      mode="staged")
    node.reboot()
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "failed", st
    assert st.error_message == "block dev type mismatch: xfs != luks"

    if lives:
        with pytest.raises(cryptnode.FailedPreconditionError,
                           match='^failed to reset: volume "EPHEMERAL" is not ready$'):
            node.reset(["EPHEMERAL"], reboot=True)
        assert node.volume_status("EPHEMERAL").phase == "failed"
        node.reboot()
        assert node.volume_status("EPHEMERAL").phase == "failed"
    else:
        node.reset(["EPHEMERAL"], reboot=True)
        st = node.volume_status("EPHEMERAL")
        assert st.phase == "ready", st.error_message
        assert st.encryption_provider == "luks2"
        node.reboot()
        assert node.volume_status("EPHEMERAL").phase == "ready"
    assert node.read_file("STATE", "keep.bin") == DATA
