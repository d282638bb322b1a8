"""The Python face of the config documents: parse_config / validate_config with Talos' strings,
the exception hierarchy, redaction, bad input."""

import pytest

import cryptnode

STATE_TPM_STATIC = """apiVersion: v1alpha1
kind: VolumeConfig
name: STATE
encryption:
  provider: luks2
  keys:
    - slot: 0
      tpm: {}
    - slot: 1
      static:
        passphrase: topsecret
"""


def test_parse_returns_documents():
    cfg = cryptnode.parse_config(STATE_TPM_STATIC)
    assert [d.display_name for d in cfg.documents] == ['VolumeConfig "STATE"']
    doc = cfg.documents[0]
    assert doc.kind == "VolumeConfig" and doc.volume_id == "STATE"
    keys = doc.encryption.keys
    assert [(k.slot, k.type) for k in keys] == [(0, "tpm"), (1, "static")]
    assert keys[0].tpm.pcrs == [7] and keys[0].tpm.pub_key_pcrs == [11]
    assert keys[1].static_passphrase() == b"topsecret"


def test_repr_never_shows_a_passphrase():
    cfg = cryptnode.parse_config(STATE_TPM_STATIC)
    text = repr(cfg) + repr(cfg.documents[0].encryption) + repr(cfg.documents[0].encryption.keys)
    assert "topsecret" not in text
    assert "<redacted>" in text


def test_validate_returns_talos_strings():
    assert cryptnode.validate_config(STATE_TPM_STATIC) == []
    bad = STATE_TPM_STATIC.replace("slot: 1", "slot: 0") + "      lockToSTATE: true\n"
    assert cryptnode.validate_config(bad) == [
        "duplicate key slot 0",
        'state-locked key is not allowed for the "STATE" volume',
    ]


def test_multierror_format():
    assert cryptnode.format_multierror(["a"]) == "1 error occurred:\n\t* a\n\n"
    assert cryptnode.format_multierror(["a", "b"]) == "2 errors occurred:\n\t* a\n\t* b\n\n"


def test_exception_hierarchy():
    with pytest.raises(cryptnode.ConfigParseError) as e:
        cryptnode.parse_config("apiVersion: v1alpha1\nkind: Nope\nname: x\n")
    assert isinstance(e.value, cryptnode.Error)
    assert isinstance(e.value, ValueError)
    assert e.value.code == "config_parse"
    assert e.value.retryable is False
    assert 'unknown document kind "Nope"' in str(e.value)
    assert issubclass(cryptnode.KeyRejectedError, cryptnode.Error)


@pytest.mark.parametrize("text,expect", [
    ("a: [1, 2\n", "invalid YAML"),
    ("apiVersion: v1alpha1\x00\x01", "NUL byte"),
    (b"name: \xff\n", "not valid UTF-8"),
    (" " * (10 << 20), "too large"),
    ("[" * 10000, "nested deeper"),
    ("apiVersion: v1alpha1\nkind: VolumeConfig\nname: STATE\nname: X\n", 'duplicate key "name"'),
])
def test_bad_input_is_a_clear_error(text, expect):
    with pytest.raises(cryptnode.ConfigParseError) as e:
        cryptnode.parse_config(text)
    if expect:
        assert expect in str(e.value)
    # validate_config reports the same error as a string instead of raising
    assert cryptnode.validate_config(text) == [str(e.value)]
