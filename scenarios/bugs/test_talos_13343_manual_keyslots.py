"""talos#13343: keyslots added by hand are removed at the next sync.

Report: a recovery passphrase added with `cryptsetup luksAddKey` to a Talos volume disappeared
after a reboot. By design: syncKeys (internal/pkg/encryption/encryption.go) removes every keyslot
that no configured key owns ("cleanup deleted key slots"); Talos manages all keyslots of its
volumes. Every release does it; the way to keep a second passphrase is a static key in the config.
What the user sees: `cryptsetup luksDump` lists the added keyslot until the next boot, then only
the configured ones; the passphrase no longer opens the volume."""

import os
import subprocess

import pytest

from bug_helpers import FAST_PBKDF, bug, cryptsetup, encrypted, key_file
from cryptnode.configs import node_id, static

BUG = bug("talos#13343")
DATA = os.urandom(4096)


@pytest.mark.parametrize("version", BUG.affected)
def test_hand_added_keyslot_is_removed_at_the_next_boot(node_factory, tmp_path, version):
    node = node_factory(talos_version=version)
    node.boot(config=encrypted(version, state=[node_id()], ephemeral=[static("configured")]))
    node.write_file("EPHEMERAL", "data.bin", DATA)
    dev = node.devices()["EPHEMERAL"]
    old = key_file(tmp_path, "old", b"configured")
    new = key_file(tmp_path, "new", b"recovery passphrase")
    cryptsetup(["luksAddKey", "--key-file", old, "--key-slot", "5", "--pbkdf", "argon2id",
                *FAST_PBKDF, dev, new])
    assert sorted(node.luks_dump("EPHEMERAL")["keyslots"]) == ["0", "5"]

    node.reboot()
    assert node.volume_status("EPHEMERAL").phase == "ready"
    assert sorted(node.luks_dump("EPHEMERAL")["keyslots"]) == ["0"]
    dev = node.devices()["EPHEMERAL"]
    r = subprocess.run(["cryptsetup", "open", "--test-passphrase", "--key-file", new, dev],
                       capture_output=True)
    assert r.returncode == 2, r  # "No key available with this passphrase."
    node.reboot()
    assert node.read_file("EPHEMERAL", "data.bin") == DATA
