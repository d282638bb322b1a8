"""Behaviour that was already right, pinned: argparse's checks of the CLI, a KMS deadline that
fails a volume until the 30 s retry, recovery at the next boot after a power cut mid-operation."""

import os

import pytest

from cryptnode.configs import config, node_id, volume_config
from cryptnode.configs import kms as kms_key


@pytest.mark.parametrize("args,expect", [
    (["apply-config", "-f", "x.yaml", "--mode", "sometimes"], "invalid choice: 'sometimes'"),
    (["advance", "soon"], "invalid float value: 'soon'"),
    (["get", "secrets"], "invalid choice: 'secrets'"),
    (["node", "create", "d", "--pbkdf", "slow"], "invalid choice: 'slow'"),
    (["reset"], "--system-labels-to-wipe"),
    (["apply-config"], "-f/--file"),
])
def test_argparse_checks(cli, args, expect):
    r = cli("-n", "/nonexistent", *args)
    assert r.returncode == 2 and expect in r.stderr, r
    assert "Traceback" not in r.stderr


def test_a_kms_deadline_fails_the_volume_until_the_retry(node, kms):
    """sidero KMS answers DEADLINE_EXCEEDED: the volume fails (retryable) and opens on the first
    30 s retry after the KMS answers again."""
    node.boot(config=config(volume_config("EPHEMERAL", keys=[kms_key(kms.endpoint)])))
    node.write_file("EPHEMERAL", "data.bin", b"kept")
    kms.set_fault("slow")
    node.reboot()
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "failed" and st.retryable
    assert "context deadline exceeded" in st.error_message
    kms.set_fault(None)
    node.advance(30)
    assert node.volume_status("EPHEMERAL").phase == "ready"
    assert node.read_file("EPHEMERAL", "data.bin") == b"kept"


def test_recovery_at_the_next_boot_after_a_crash_mid_format(node, crash_at):
    """Power lost right after luksFormat (one keyslot, no token, no filesystem): a nodeID key
    opens it at the next boot, and the filesystem is made then (docs/fault-points.md,
    luks2.after_format)."""
    cfg = config(volume_config("STATE", keys=[node_id()]),
                 volume_config("EPHEMERAL", keys=[node_id()]))
    crash_at(node, "luks2.after_format", "boot", cfg)
    assert not node.powered_on
    node.boot(config=cfg)  # the platform offers its config again at every boot
    for v in ("STATE", "EPHEMERAL"):
        st = node.volume_status(v)
        assert st.phase == "ready" and st.encryption_provider == "luks2", (v, st)
    node.write_file("EPHEMERAL", "x", os.urandom(64))
