"""VM tests: boot a real kernel under libvirt (plain QEMU as the fallback) to prove that kernel
dm-crypt and the cryptsetup CLI read what the simulation wrote, that the simulation reads what they
wrote, and that the engine's kernel backend runs inside the guest (docs/vm-tier.md).

Markers: `vm` (every test here), `vm_smoke` (the bounded subset `make test` runs: at most two
boots). Every test is skipped, with the reason, where QEMU or the guest cannot be had. Settings:
CRYPTNODE_LIBVIRT_URI, CRYPTNODE_VM_BACKEND=auto|libvirt|qemu, CRYPTNODE_VM_DIR,
CRYPTNODE_VM_KERNEL=auto|cloud|generic, CRYPTNODE_VM_OFFLINE=1, CRYPTNODE_VM_TIMEOUT (seconds)."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # vmtier, helpers

from vmtier import boot as vmboot  # noqa: E402
from vmtier import guest as vmguest  # noqa: E402
from vmtier.tracking import TRACKER  # noqa: E402

MARKERS = {
    "vm_smoke": "the VM tier's bounded subset run by `make test` (at most two boots)",
}


def pytest_configure(config):
    pm = config.pluginmanager
    if not pm.has_plugin("cryptnode") and not pm.has_plugin("cryptnode.pytest_plugin"):
        pm.import_plugin("cryptnode.pytest_plugin")  # markers, fixtures, leak check
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def vm_unavailable():
    reason = vmboot.qemu_unavailable()
    if reason:
        return reason
    try:
        subprocess.run(["qemu-system-x86_64", "-version"], capture_output=True, check=True,
                       timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return f"qemu-system-x86_64 does not run: {e}"
    return None


def pytest_collection_modifyitems(config, items):
    reason = vm_unavailable()
    for item in items:
        item.add_marker(pytest.mark.vm)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


def _say(config, text):
    """A line in the test output, also from inside a fixture (output capture suspended)."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    cap = config.pluginmanager.get_plugin("capturemanager")
    if not tr:
        print(text)
        return
    if cap:
        with cap.global_and_fixture_disabled():
            tr.write_line(text)
    else:
        tr.write_line(text)


@pytest.fixture(scope="session")
def vm_guest(pytestconfig):
    """The cached guest (built or confirmed current once per session)."""
    try:
        return vmguest.ensure_guest(log=lambda t: _say(pytestconfig, t))
    except vmguest.GuestUnavailable as e:
        pytest.skip(f"the VM guest cannot be built: {e}")


@pytest.fixture(scope="session")
def hypervisor(pytestconfig, vm_guest):
    """libvirt, or plain QEMU where libvirt cannot start; stopped (with any daemon it started) at
    the end of the session."""
    hv = vmboot.choose(vm_guest, log=lambda t: _say(pytestconfig, t))
    pytestconfig._cryptnode_vm_backend = (
        f"{hv.description}; guest: {vm_guest.flavour} kernel {vm_guest.kver}")
    _say(pytestconfig, f"vm: backend {pytestconfig._cryptnode_vm_backend}")
    try:
        yield hv
    finally:
        hv.close()


@pytest.fixture
def vm(hypervisor, record_property):
    """The session's hypervisor; each test records which backend ran it."""
    record_property("vm_backend", hypervisor.description)
    yield hypervisor
    TRACKER.restore_modes()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    backend = getattr(config, "_cryptnode_vm_backend", None)
    if backend:
        terminalreporter.write_line(f"VM tier backend: {backend}")


def pytest_sessionfinish(session, exitstatus):
    """Nothing the tier started may survive the session: domains, QEMU, virtiofsd, swtpm,
    daemons, opened permissions. Anything found is stopped and fails the run."""
    if hasattr(session.config, "workerinput"):
        return
    left = TRACKER.leftovers()
    if left:
        TRACKER.cleanup()
        _say(session.config, "VM tier leak check: left behind: " + "; ".join(left))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
