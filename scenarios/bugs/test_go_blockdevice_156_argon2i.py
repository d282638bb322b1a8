"""go-blockdevice#156 (talos PR #13548): header validation rejects argon2i keyslots.

Report: after upgrading to 1.12.7 a node installed long ago did not open its volumes. Talos
before 1.3 ran cryptsetup <= 2.3, whose default PBKDF for LUKS2 was argon2i; 1.12.7 brought
go-blockdevice v2.0.28, which validates both LUKS2 headers before each unlock and accepted only
argon2id (and pbkdf2 nowhere). go-blockdevice PR #157 accepts argon2i again (cd429e9e4 in 1.12.9;
765f0a1dc in 1.13.5) (version table: luks2_header_validation, luks2_header_rejects_argon2i).
Releases: lived in 1.12.7-1.12.8 and 1.13.0-1.13.4; fixed in 1.12.9 and 1.13.5.
What the user sees on 1.12.7: "error opening encrypted volume: no handlers available to get
encryption keys from: ... LUKS2 header validation error: keyslot 0 has unexpected KDF type
\"argon2i\""; the upgrade to 1.12.9 opens the volume with its data.
The node cannot run Talos < 1.3, so the keyslot is converted to argon2i with the cryptsetup CLI
(`luksConvertKey --pbkdf argon2i`), which leaves the same header a cryptsetup 2.3 luksFormat
leaves."""

import os

import pytest

from bug_helpers import FAST_PBKDF, bug, cases, cryptsetup, encrypted, key_file
from cryptnode.configs import node_id, static

BUG = bug("go-blockdevice#156")
DATA = os.urandom(4096)
PASSPHRASE = b"installed-with-talos-1.2"


@pytest.mark.parametrize("version,lives", cases(BUG))
def test_upgrade_through_header_validation(node_factory, tmp_path, version, lives):
    node = node_factory(talos_version="1.12.6")
    node.boot(config=encrypted("1.12.6", state=[node_id()],
                               ephemeral=[static(PASSPHRASE.decode())]))
    node.write_file("EPHEMERAL", "data.bin", DATA)
    key = key_file(tmp_path, "key", PASSPHRASE)
    cryptsetup(["luksConvertKey", "--key-file", key, "--key-slot", "0", "--pbkdf", "argon2i",
                *FAST_PBKDF, node.devices()["EPHEMERAL"]])
    assert node.luks_dump("EPHEMERAL")["keyslots"]["0"]["kdf"]["type"] == "argon2i"
    node.reboot()  # 1.12.6 does not validate the header
    assert node.volume_status("EPHEMERAL").phase == "ready"

    node.upgrade(version)
    st = node.volume_status("EPHEMERAL")
    if lives:
        assert st.phase == "failed", st
        assert st.error_message.startswith(
            "error opening encrypted volume: no handlers available to get encryption keys "
            "from:"), st.error_message
        assert 'keyslot 0 has unexpected KDF type "argon2i"' in st.error_message
        node.upgrade(BUG.fixed[0])
        st = node.volume_status("EPHEMERAL")
    assert st.phase == "ready", st.error_message
    assert node.luks_dump("EPHEMERAL")["keyslots"]["0"]["kdf"]["type"] == "argon2i"
    node.reboot()
    assert node.read_file("EPHEMERAL", "data.bin") == DATA
