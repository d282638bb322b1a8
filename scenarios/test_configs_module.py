"""cryptnode.configs, the one config builder: documents as Python data, YAML text out, accepted by
Talos' decoder and validation, passphrases kept byte for byte."""

import pytest

import cryptnode
from cryptnode.configs import (config, kms, machine, node_id, raw_volume_config, render, static,
                               tpm, user_volume_config, volume_config)


def test_the_seed_example_renders_as_talos_writes_it():
    text = config(volume_config("STATE", keys=[node_id(slot=1)]),
                  volume_config("EPHEMERAL", keys=[static("supersecret", lock_to_state=True)]))
    assert text == (
        "version: v1alpha1\nmachine:\n  type: worker\n---\n"
        "apiVersion: v1alpha1\nkind: VolumeConfig\nname: STATE\nencryption:\n"
        "  provider: luks2\n  keys:\n    - slot: 1\n      nodeID: {}\n---\n"
        "apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
        "  provider: luks2\n  keys:\n    - slot: 0\n      static:\n"
        "        passphrase: supersecret\n      lockToState: true\n")
    assert cryptnode.validate_config(text) == []
    cfg = cryptnode.parse_config(text)
    eph = cfg.encryption_for("EPHEMERAL")
    assert [(k.slot, k.type, k.lock_to_state) for k in eph.keys] == [(0, "static", True)]


def test_every_key_kind_and_document_kind_is_valid():
    text = config(
        volume_config("STATE", keys=[node_id(), tpm(slot=1, pcrs=[7, 11]),
                                     kms("grpc://127.0.0.1:4050", slot=2)]),
        volume_config("EPHEMERAL", keys=[tpm(pcrs=[], check_secureboot_status_on_enroll=False)]),
        user_volume_config("data", keys=[node_id(lock_to_state=True)]),
        raw_volume_config("raw", keys=[node_id()]),
        user_volume_config("plain"),
    )
    assert cryptnode.validate_config(text) == []
    cfg = cryptnode.parse_config(text)
    assert sorted(cfg.user_volume_ids()) == ["r-raw", "u-data", "u-plain"]
    keys = {k.slot: k for k in cfg.encryption_for("STATE").keys}
    assert keys[1].tpm.pcrs == [7, 11] and keys[2].kms_endpoint == "grpc://127.0.0.1:4050"
    eph = cfg.encryption_for("EPHEMERAL").keys[0]
    assert eph.tpm.pcrs == [] and eph.tpm.check_secureboot_status_on_enroll is False
    assert cfg.encryption_for("u-plain") is None


@pytest.mark.parametrize("passphrase", [
    "true", "1.12", "0x10", "~", "null", "a: b", "- x", "#x", "!tag", "*alias", "&a", "'q'",
    '"dq"', " lead", "trail ", "back\\slash", "tab\there", "new\nline", "nul\0byte",
    "é unicode ✓", "emoji \U0001F510", "line\u2028sep", "bom\ufeff", "del\x7f", "c1\x85",
    "x" * (1 << 20),
])
def test_passphrases_survive_rendering_byte_for_byte(passphrase):
    text = config(volume_config("EPHEMERAL", keys=[static(passphrase)]))
    cfg = cryptnode.parse_config(text)
    got = cfg.encryption_for("EPHEMERAL").keys[0].static_passphrase()
    assert got == passphrase.encode("utf-8")


def test_plain_scalars_stay_readable():
    assert render({"a": "grpc://127.0.0.1:4050", "b": "100MiB", "c": "!system_disk",
                   "d": [], "e": {}, "f": None, "g": False, "h": 3}) == (
        'a: grpc://127.0.0.1:4050\nb: 100MiB\nc: "!system_disk"\nd: []\ne: {}\nf: null\n'
        "g: false\nh: 3\n")


def test_config_with_a_custom_machine_document_and_verbatim_text():
    text = config("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\n",
                  base=machine("controlplane"))
    assert text.startswith("version: v1alpha1\nmachine:\n  type: controlplane\n---\n")
    assert cryptnode.validate_config(text) == []


def test_the_scenarios_and_the_demo_use_this_module():
    import configs  # scenarios/configs.py
    import cryptnode.flows as flows
    assert configs.config is config or configs.config.__module__ == "cryptnode.configs"
    from cryptnode.configs import gen_config_with
    assert flows.gen_config_with is gen_config_with  # the flows start from gen config
