"""siderolabs/omni#988: "volume is encrypted, but no encryption config provided" on STATE.

Report: an Omni-managed node showed this error for STATE for a while during boot. STATE is opened
with the encryption config kept in META tag 0x09 (the machine config lives inside STATE); when
STATE's VolumeConfig is built without it, the volume manager finds a LUKS2 header and answers
this text (internal/app/machined/pkg/controllers/block/internal/volumes/format.go), moving the
volume back to provisioned. Talos' VolumeConfigController uses the META key resource if it exists
without waiting for META to be loaded, so on a fast boot the message shows until the key appears
and the VolumeConfig is rebuilt: transient.
Releases: every release.
What the user sees: STATE "volume is encrypted, but no encryption config provided" while META
holds no STATE encryption config; with the config in META, STATE opens.
The simulated node reads META before STATE (no race), so the scenario shows the condition itself:
META without tag 0x09 at boot, then the tag written back (talosctl meta write 0x09)."""

import os

import pytest

from bug_helpers import bug, encrypted
from cryptnode.configs import node_id

BUG = bug("omni#988")
TEXT = "volume is encrypted, but no encryption config provided"
DATA = os.urandom(4096)


@pytest.mark.parametrize("version", BUG.affected)
def test_state_without_its_meta_encryption_config(node_factory, version):
    node = node_factory(talos_version=version)
    node.boot(config=encrypted(version, state=[node_id()], ephemeral=[node_id()]))
    node.write_file("STATE", "keep.bin", DATA)
    saved = node.meta()["0x09"]

    node.meta_delete(0x09)
    node.reboot()
    st = node.volume_status("STATE")
    assert st.error_message == TEXT, st
    assert st.phase in ("provisioned", "failed"), st
    assert not node.running
    assert any(TEXT in e.message for e in node.events() if e.step == "STATE"), node.events()

    node.meta_write(0x09, saved)
    node.reboot()
    assert node.volume_status("STATE").phase == "ready"
    assert node.running
    assert node.read_file("STATE", "keep.bin") == DATA
