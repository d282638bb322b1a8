"""VM tests: boot a real kernel under QEMU to prove that what the engine wrote is what kernel
dm-crypt and the cryptsetup CLI read. Marker `vm`; every test here is skipped, with the reason,
where QEMU or a kernel image is absent (`scripts/setup --vm` installs them)."""

import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scenarios"))


def pytest_configure(config):
    pm = config.pluginmanager
    if not pm.has_plugin("cryptnode") and not pm.has_plugin("cryptnode.pytest_plugin"):
        pm.import_plugin("cryptnode.pytest_plugin")  # markers, fixtures, leak check


def vm_unavailable():
    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 is not installed (scripts/setup --vm)"
    if not any(f.startswith("vmlinuz") for f in os.listdir("/boot")):
        return "no kernel image in /boot (scripts/setup --vm)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = vm_unavailable()
    for item in items:
        item.add_marker(pytest.mark.vm)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
