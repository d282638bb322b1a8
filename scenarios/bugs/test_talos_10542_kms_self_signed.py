"""talos#10542: a KMS behind a certificate of a private CA cannot unlock STATE.

Report (1.9): STATE encrypted with a KMS key whose server has a certificate of a private CA. The
CA is trusted through a TrustedRootsConfig document, but that document is part of the machine
config, which lives in STATE: at boot, when STATE has to be opened, the KMS client (keys/kms.go:
TLS with httpdefaults.RootCAs(), the OS bundle plus the roots of the loaded config, since
8d6884a8e in 1.9.0) does not trust the CA yet, and STATE stays locked. The first boot works (the
config is offered and loaded before STATE is formatted); `talos.config.inline` does not help
either, it is read after STATE. EPHEMERAL with the same key opens once the config is loaded.
Releases: every release, by design: closed with documentation (857779b90, PR #10562, in the
v1.9/v1.10 docs: "custom CA certificates cannot be used for the KMS server [for STATE], as these
are stored in the STATE partition as well"); siderolabs/omni#991 is the same with Omni's KMS.
What the user sees at the first reboot: STATE failed, "error opening encrypted volume: no
handlers available to get encryption keys from: 1 error occurred: * failed to unseal KMS
passphrase, slot 0: rpc error: code = Unavailable desc = connection error: desc = \"transport:
authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by
unknown authority\"", the boot waits for STATE forever. A CA in the OS bundle (a custom image;
Node.create(trusted_cas=...)) opens it."""

import os

import pytest

import cryptnode
from bug_helpers import bug, encrypted
from cryptnode.configs import kms as kms_key, node_id

BUG = bug("talos#10542")
DATA = os.urandom(4096)
UNKNOWN_CA = ("rpc error: code = Unavailable desc = connection error: desc = \"transport: "
              "authentication handshake failed: tls: failed to verify certificate: x509: "
              "certificate signed by unknown authority")

pytestmark = pytest.mark.kms


@pytest.fixture
def tls_kms():
    server = cryptnode.KmsServer.start(tls=True)
    yield server
    server.stop()


def trusted_roots(pem: str) -> str:
    """A TrustedRootsConfig document (pkg/machinery/config/types/security/trusted_roots.go)."""
    body = "\n".join("  " + line for line in pem.strip().splitlines())
    return ("apiVersion: v1alpha1\nkind: TrustedRootsConfig\nname: kms-ca\ncertificates: |-\n"
            + body + "\n")


def with_roots(version: str, pem: str, state, ephemeral) -> str:
    return encrypted(version, state=state, ephemeral=ephemeral) + "---\n" + trusted_roots(pem)


@pytest.mark.parametrize("version", BUG.affected)
def test_state_on_a_kms_with_a_ca_from_the_machine_config(node_factory, tls_kms, version):
    node = node_factory(talos_version=version)
    key = kms_key(tls_kms.endpoint)
    node.boot(config=with_roots(version, tls_kms.ca_pem, [key], [key]))
    assert node.volume_status("STATE").phase == "ready"  # the offered config is loaded
    node.write_file("EPHEMERAL", "data.bin", DATA)

    node.reboot()
    st = node.volume_status("STATE")
    assert st.phase == "failed", st
    assert st.error_message == (
        "error opening encrypted volume: no handlers available to get encryption keys from: "
        "1 error occurred:\n\t* failed to unseal KMS passphrase, slot 0: " + UNKNOWN_CA
        + "\"\n\n"), st.error_message
    assert not node.running


@pytest.mark.parametrize("version", BUG.affected)
def test_ephemeral_on_that_kms_and_state_on_node_id_boots(node_factory, tls_kms, version):
    node = node_factory(talos_version=version)
    node.boot(config=with_roots(version, tls_kms.ca_pem, [node_id()],
                                [kms_key(tls_kms.endpoint)]))
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.reboot()
    assert node.volume_status("EPHEMERAL").phase == "ready"
    assert node.read_file("EPHEMERAL", "data.bin") == DATA


@pytest.mark.parametrize("version", BUG.affected)
def test_ca_in_the_os_bundle_unlocks_state(node_factory, tls_kms, version):
    node = node_factory(talos_version=version, trusted_cas=[tls_kms.ca_pem])
    key = kms_key(tls_kms.endpoint)
    node.boot(config=encrypted(version, state=[key], ephemeral=[key]))
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.reboot()
    assert node.volume_status("STATE").phase == "ready"
    assert node.read_file("EPHEMERAL", "data.bin") == DATA
