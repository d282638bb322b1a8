"""talos#10542: a KMS behind a self-signed certificate cannot unlock STATE.

Report: STATE encrypted with a KMS key whose server has a certificate of a private CA. The CA is
trusted through a TrustedRootsConfig document, but that document is part of the machine config,
which lives in STATE: at boot, when STATE has to be opened, the KMS client does not trust the CA
yet and STATE stays locked. EPHEMERAL with the same key opens (the config is known by then).
Releases: every release checked; closed upstream (siderolabs/omni#991 is the same with Omni's
KMS).
What the user sees: STATE failed, the KMS call refused with "x509: certificate signed by unknown
authority", the boot waits for STATE forever; with STATE on nodeID and EPHEMERAL on the KMS key
the node boots.
Waits for the KMS over TLS work (server certificate, TrustedRootsConfig in the KMS client)."""

import pytest

from bug_helpers import bug

BUG = bug("talos#10542")


@pytest.mark.skip(reason=BUG.skip)
def test_state_on_a_kms_with_a_private_ca(node_factory):
    """KmsServer over TLS with a private CA; config: TrustedRootsConfig with that CA, STATE and
    EPHEMERAL on the KMS key. First boot formats both (the config is offered); the reboot leaves
    STATE locked with the unknown-authority error; STATE on nodeID and EPHEMERAL on the KMS key
    boots, its data survives."""
