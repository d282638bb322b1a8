"""Placeholder of the VM tier: the guest's dm-crypt opens a volume written by the userspace
backend and reads the same bytes. The guest boot itself is the next issue's work; this test states
the contract and is skipped until then."""

import pytest


@pytest.mark.skip(reason="the QEMU guest image is not built yet (VM tier: next issue)")
def test_guest_dm_crypt_reads_userspace_bytes():
    pass
