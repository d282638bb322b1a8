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
    bad = STATE_TPM_STATIC.replace("slot: 1", "slot: 0") + "      lockToState: true\n"
    assert cryptnode.validate_config(bad) == [
        'VolumeConfig/STATE: state-locked key is not allowed for the "STATE" volume\n'
        "duplicate key slot 0",
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
    assert '"Nope" "v1alpha1": not registered' in str(e.value)
    assert issubclass(cryptnode.KeyRejectedError, cryptnode.Error)


@pytest.mark.parametrize("text,expect", [
    ("a: [1, 2\n", "decode error: yaml: line 2: did not find expected ',' or ']'"),
    ("apiVersion: v1alpha1\x00\x01", "control characters are not allowed"),
    (b"name: \xff\n", "invalid leading UTF-8 octet"),
    (" " * (10 << 20), "too large: 10485760 bytes (the limit is 4194304 bytes)"),
    ("[" * 10000, "too deeply nested"),
    ("apiVersion: v1alpha1\nkind: VolumeConfig\nname: STATE\nname: X\n",
     'mapping key "name" already defined at line 3'),
])
def test_bad_input_is_a_clear_error(text, expect):
    with pytest.raises(cryptnode.ConfigParseError) as e:
        cryptnode.parse_config(text)
    if expect:
        assert expect in str(e.value)
    # validate_config reports the same error as a string instead of raising
    assert cryptnode.validate_config(text) == [str(e.value)]


# --- configs are bytes end to end --------------------------------------------------------------

LATIN1 = ("# caf\xe9\n" + STATE_TPM_STATIC).encode("latin-1")


def test_bytes_and_str_parse_the_same():
    a = cryptnode.parse_config(STATE_TPM_STATIC)
    b = cryptnode.parse_config(STATE_TPM_STATIC.encode())
    assert [d.display_name for d in a.documents] == [d.display_name for d in b.documents]
    assert b.documents[0].encryption.keys[1].static_passphrase() == b"topsecret"


def test_invalid_utf8_is_goyamls_error_and_shows_no_secret():
    with pytest.raises(cryptnode.ConfigParseError) as e:
        cryptnode.parse_config(LATIN1)
    assert "UTF-8" in str(e.value) and "topsecret" not in str(e.value)
    errors = cryptnode.validate_config(LATIN1)
    assert errors == [str(e.value)]
    report = cryptnode.check_config(LATIN1)
    assert report["errors"] == errors and "topsecret" not in repr(report)


def test_a_wrong_type_is_a_type_error_without_the_config():
    for bad in (None, 42, ["a"]):
        with pytest.raises(TypeError) as e:
            cryptnode.parse_config(bad)
        assert "topsecret" not in str(e.value)


def test_check_config_warnings_and_hints():
    text = ("apiVersion: v1alpha1\nkind: VolumeConfig\nname: EPHEMERAL\nencryption:\n"
            "  provider: luks2\n  keys:\n    - slot: 0\n      nodeID: {}\n"
            "      lockToSTATE: true\n")
    report = cryptnode.check_config(text)
    assert set(report) == {"errors", "warnings", "hints"}
    assert any("lockToState" in h for h in report["hints"]), report


def test_talos_version_is_an_argument():
    assert cryptnode.validate_config(STATE_TPM_STATIC, talos_version="1.14") == []
    with pytest.raises(cryptnode.InvalidArgumentError):
        cryptnode.validate_config(STATE_TPM_STATIC, talos_version="0.9")
    assert cryptnode.resolve_version("1.12").startswith("1.12.")
    assert cryptnode.known_versions() == sorted(cryptnode.known_versions(),
                                                key=lambda v: tuple(map(int, v.split("."))))


def test_limits_are_kept():
    """4 MiB and nesting limits; passphrases of 1 MiB, Unicode and NUL are kept."""
    with pytest.raises(cryptnode.ConfigParseError, match="too large"):
        cryptnode.parse_config(b"#" * ((4 << 20) + 1))
    with pytest.raises(cryptnode.ConfigParseError, match="too deeply nested"):
        cryptnode.parse_config(b"a: " + b"[" * 5000)
    from cryptnode.configs import config, static, volume_config
    for p in ("x" * (1 << 20), "pässwörd ✓ \U0001F510", "nul\0inside"):
        cfg = cryptnode.parse_config(config(volume_config("EPHEMERAL", keys=[static(p)])))
        assert cfg.encryption_for("EPHEMERAL").keys[0].static_passphrase() == p.encode()


# --- the public names ---------------------------------------------------------------------------

def test_no_public_name_shadows_a_builtin():
    import builtins
    assert not set(cryptnode.__all__) & set(dir(builtins))
    for name in cryptnode.__all__:
        assert hasattr(cryptnode, name), name


def test_io_and_timeout_errors_have_names_of_their_own():
    assert cryptnode.OSEffectError.code == "io"
    assert cryptnode.DeadlineExceededError.code == "timeout"
    assert issubclass(cryptnode.OSEffectError, cryptnode.Error)
    assert not issubclass(cryptnode.OSEffectError, OSError)
    from cryptnode._core import IOError as old_io, TimeoutError as old_timeout  # noqa: A004
    assert old_io is cryptnode.OSEffectError and old_timeout is cryptnode.DeadlineExceededError
    assert "IOError" not in cryptnode.__all__ and "TimeoutError" not in cryptnode.__all__


def test_versions_and_fault_points():
    rows = cryptnode.versions()
    assert rows and all({"rule", "description", "since", "until", "source", "fix"} <= set(r)
                        for r in rows)
    for r in rows:
        assert cryptnode.rule_applies(r["rule"], r["since"])
    points = cryptnode.fault_points()
    assert ("meta.between_copies", dict(points)["meta.between_copies"]) in points
    assert all(isinstance(n, str) and isinstance(d, str) and d for n, d in points)


def test_stub_names_what_the_module_has():
    """_core.pyi lists every public name of cryptnode._core."""
    import ast
    import pathlib
    stub = pathlib.Path(cryptnode.__file__).with_name("_core.pyi")
    tree = ast.parse(stub.read_text())
    stubbed = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    stubbed |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets}
    native = {n for n in dir(cryptnode._core) if not n.startswith("__")}
    assert native - stubbed == set()
