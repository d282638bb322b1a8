"""kms keys against the simulator's gRPC KMS (docs/talos/kms.md): enrolment with a sideroKMS token,
unlock through Unseal, KMS down at boot (failed, retried on the 30 s ticker), and a KMS slot that
fails to sync while another key opens the volume."""

import base64
import json
import os

import pytest

import cryptnode
from configs import NODEID, config, doc, key

DATA = os.urandom(4096)


@pytest.fixture
def kms():
    server = cryptnode.KmsServer.start()
    yield server
    server.stop()


def kms_key(slot, endpoint, lock=False):
    return key(slot, f"kms:\n        endpoint: {endpoint}", lock=lock)


def test_kms_key_enrols_with_a_sidero_token_and_unlocks(node, kms):
    cfg = config(doc("VolumeConfig", "EPHEMERAL", [kms_key(0, kms.endpoint)]))
    node.boot(config=cfg)
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "ready" and st.configured_encryption_keys == ["kms"]
    token = node.luks_dump("EPHEMERAL")["tokens"]["0"]
    assert token["type"] == "sideroKMS" and token["keyslots"] == []
    assert len(base64.b64decode(token["UserData"]["sealedData"])) == 60  # nonce + AES-GCM
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.reboot()
    assert node.read_file("EPHEMERAL", "data.bin") == DATA
    assert kms.calls >= 2  # one Seal, at least one Unseal


def test_kms_down_at_boot_fails_and_the_retry_ticker_recovers(node, kms):
    cfg = config(doc("VolumeConfig", "EPHEMERAL", [kms_key(0, kms.endpoint)]))
    node.boot(config=cfg)
    node.write_file("EPHEMERAL", "data.bin", DATA)
    kms.set_fault("down")
    node.reboot()
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "failed" and st.retryable
    assert st.error_message.startswith(
        "error opening encrypted volume: no handlers available to get encryption keys from:")
    assert "failed to unseal KMS passphrase, slot 0" in st.error_message
    node.advance(29)
    assert node.volume_status("EPHEMERAL").phase == "failed"
    kms.set_fault(None)
    node.advance(1)  # the 30 s tick
    assert node.volume_status("EPHEMERAL").phase == "ready"
    assert node.read_file("EPHEMERAL", "data.bin") == DATA


def test_kms_garbage_is_encryption_key_rejected(node, kms):
    cfg = config(doc("VolumeConfig", "EPHEMERAL", [kms_key(0, kms.endpoint)]))
    node.boot(config=cfg)
    kms.set_fault("garbage")
    node.reboot()
    assert "encryption key rejected" in node.volume_status("EPHEMERAL").error_message


def test_kms_slot_failing_is_a_failed_sync_when_another_key_opens(node, kms):
    node.boot(config=config(doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID)])))
    kms.set_fault("down")
    both = config(doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID), kms_key(1, kms.endpoint)]))
    node.apply_config(both)
    node.reboot()
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "ready" and st.encryption_slot == 0
    assert len(st.encryption_failed_syncs) == 1
    # Talos' addKey returns NewKey's error unwrapped.
    assert st.encryption_failed_syncs[0].startswith(
        "error adding key slot 1 *keys.KMSKeyHandler: failed to seal KMS passphrase, slot 1: ")
    kms.set_fault(None)
    node.reboot()
    assert node.volume_status("EPHEMERAL").encryption_failed_syncs == []
    assert sorted(node.luks_dump("EPHEMERAL")["keyslots"]) == ["0", "1"]


def test_kms_fault_names_are_checked(kms):
    with pytest.raises(cryptnode.InvalidArgumentError):
        kms.set_fault("sometimes")
