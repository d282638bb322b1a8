"""TPM: volumes sealed to the node's TPM (talos-tpm2 tokens) opened in the guest with the node's
swtpm state attached as the guest's TPM (libvirt's external swtpm backend, docs/vm-tier.md)."""

import pytest

pytestmark = [pytest.mark.vm, pytest.mark.tpm]


@pytest.mark.skip(reason="waits for TPM keys in the simulation (the TPM key handler and the node's "
                         "swtpm are being built): then the guest unseals a talos-tpm2 token with "
                         "tpm2-tools against the same swtpm state and opens the volume")
def test_guest_opens_a_tpm_sealed_volume_with_the_nodes_tpm():
    pass
