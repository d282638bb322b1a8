"""The tier's own guarantees: a guest that hangs is killed at its time bound and one that panics
ends at once, both reported with the tail of the console; plain QEMU is the fallback when libvirt
cannot be reached, and says so; nothing a boot started survives it."""


import pytest

from vmtier import boot as vmboot
from vmtier.boot import BootSpec, VmFailure
from vmtier.job import Job
from vmtier.libvirt import Libvirt, LibvirtUnavailable
from vmtier.qemu import Qemu
from vmtier.tracking import TRACKER

pytestmark = [pytest.mark.vm, pytest.mark.slow]


def probe(tmp_path, *lines):
    job = Job("hello")
    for ln in lines:
        job.line(*ln.split())
    return job.write(str(tmp_path / "job"))


def test_a_hanging_guest_is_killed_at_the_bound_with_its_console_tail(vm, tmp_path):
    result = vm.boot(BootSpec("hang", [], probe(tmp_path, "hang"), timeout=40,
                                        stretch=False))
    assert result.timed_out, result.describe()
    with pytest.raises(VmFailure) as e:
        result.check()
    text = str(e.value)
    assert "killed at the time bound" in text and result.tail() in text, text
    result.discard()
    assert TRACKER.leftovers(include_session=False) == []


def test_a_panicking_guest_ends_and_is_reported(vm, tmp_path):
    result = vm.boot(BootSpec("panic", [], probe(tmp_path, "panic"), timeout=120))
    assert not result.timed_out and result.exit_status is None, result.describe()
    assert "sysrq: Trigger a crash" in result.console or "Kernel panic" in result.console, \
        result.describe()
    assert "panic or crash" in result.describe()
    result.discard()
    assert TRACKER.leftovers(include_session=False) == []


def test_plain_qemu_is_the_fallback_and_says_so(vm_guest, tmp_path, monkeypatch):
    monkeypatch.setenv("CRYPTNODE_LIBVIRT_URI", "qemu+unix:///system?socket=/nonexistent/sock")
    with pytest.raises(LibvirtUnavailable):
        Libvirt(vm_guest)
    hv = vmboot.choose(vm_guest)
    try:
        assert isinstance(hv, Qemu)
        assert hv.description.startswith("plain QEMU (fallback: libvirt unavailable:"), \
            hv.description
        result = hv.boot(BootSpec("fallback", [], probe(tmp_path, "echo hi"), timeout=120))
        result.check()
        assert result.backend == "qemu" and result.lines("ECHO") == ["hi"]
        assert result.lines("DISKS") == ["vda=vmtjob"]
    finally:
        hv.close()
    assert TRACKER.leftovers(include_session=False) == []
