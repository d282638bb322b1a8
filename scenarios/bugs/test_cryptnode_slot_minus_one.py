"""`slot: -1` destroys every keyslot (found here; engine/src/config/lint.cpp warns about it).

Report: Talos accepts `slot: -1` in an encryption key. go-blockdevice passes `--key-slot` to
cryptsetup only when the slot is not encryption.AnyKeyslot (-1), so luksFormat stores the key in
keyslot 0 and luksOpen opens it; syncKeys (internal/pkg/encryption/encryption.go) then finds
keyslot 0 owned by no configured key ("cleanup deleted key slots") and removes it with
`luksKillSlot <dev> 0 --key-file=-`, which cryptsetup allows even for the last keyslot.
Releases: every release (the cryptsetup sequence was replayed with cryptsetup 2.6.1).
What the user sees: the first boot formats, opens and mounts the volume; the volume then has no
keyslot, and the next boot fails with "error opening encrypted volume: no handlers available to
get encryption keys from: ..." (cryptsetup: "No usable keyslot is available.") — the data is
lost."""

import os

import pytest

from bug_helpers import bug, encrypted
from cryptnode import rule_applies
from cryptnode.configs import node_id, static

BUG = bug("cryptnode#slot-1")
DATA = os.urandom(4096)


@pytest.mark.parametrize("version", BUG.affected)
def test_any_keyslot_is_removed_by_the_first_sync(node_factory, version):
    node = node_factory(talos_version=version)
    node.boot(config=encrypted(version, state=[node_id()], ephemeral=[static("p", slot=-1)]))
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "ready", st.error_message
    node.write_file("EPHEMERAL", "data.bin", DATA)
    assert node.read_file("EPHEMERAL", "data.bin") == DATA
    assert node.luks_dump("EPHEMERAL")["keyslots"] == {}

    node.reboot()
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "failed", st
    # 1.8.1-1.8.4 use the first key a handler returns and report cryptsetup's rejection as it is
    # (talos#8100); other releases try every key and say none opened it.
    if rule_applies("open_tries_every_keyslot", version):
        assert st.error_message.startswith(
            "error opening encrypted volume: no handlers available to get encryption keys from:"), \
            st.error_message
    else:
        assert st.error_message == "error opening encrypted volume: encryption key rejected"
    # STATE (slot 0) is not affected; the machine keeps running without its EPHEMERAL data.
    assert node.volume_status("STATE").phase == "ready"
