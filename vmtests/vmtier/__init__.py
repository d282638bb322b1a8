"""The VM tier's host side: the cached guest (guest.py), hypervisors that boot it under libvirt or
plain QEMU with a bounded run time (libvirt.py, qemu.py, boot.py), the job disk that tells the guest
what to do (job.py), what the tier started and must stop (tracking.py), and a minimal sideroKMS
client for the test keys (kms_client.py). See docs/vm-tier.md."""

import os

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def vm_dir() -> str:
    """Where the guest, the kernel cache and per-boot files live (CRYPTNODE_VM_DIR)."""
    return os.path.abspath(os.environ.get("CRYPTNODE_VM_DIR") or os.path.join(REPO, "_build", "vm"))
