"""TPM: a key the simulation sealed to the node's TPM (token talos-tpm2) unseals in a real guest
whose TPM is the node's own swtpm state, with tpm2-tools following Talos' Unseal, and the volume
opens with the cryptsetup CLI and kernel dm-crypt (docs/vm-tier.md)."""

import hashlib
import json
import os

import pytest

import cryptnode
from cryptnode import configs as c
from helpers import UUID, mappings, node_disks, sha256, sums
from vmtier import tracking
from vmtier.boot import BootSpec
from vmtier.job import Job
from vmtier.tpm import GuestTpm
from vmtier.tracking import TRACKER

pytestmark = [pytest.mark.vm, pytest.mark.tpm]

ZERO = "0" * 64


def replayed(events, pcr):
    """The PCR value the events give from zero (SHA-256 bank)."""
    value = bytes(32)
    for e in events:
        if e["pcr"] == pcr:
            value = hashlib.sha256(value + bytes.fromhex(e["digest"])).digest()
    return value.hex()


def test_guest_unseals_the_nodes_tpm_key_and_opens_the_volume(vm, node_factory, tmp_path):
    """EPHEMERAL is sealed with `tpm: {options: {pcrs: []}}`: Talos' signed PCR 11 policy only
    (PolicyAuthorize with the release's PCR signing key over PolicyPCR(11)), no PolicyPCR on other
    PCRs. The guest's firmware, SeaBIOS, measures its own boot into PCRs 0-7 of the emulated TPM
    (events in 0, 1, 2 and 4, a separator in each of 0-7; PCR 7 holds only the separator, never
    the node's UEFI SecureBoot variables, so Talos' default, PCR 7, could not unseal there) and the
    guest kernel's IMA extends PCR 10; nothing touches PCR 11 (the test checks it is zero), which
    the guest then fills by replaying the node's PCR 11 events (UKI sections, enter-initrd,
    leave-initrd, enter-machined) exported from the simulation (_core.boot_measurements). The
    guest's TPM is a swtpm the tier starts on a copy of the node's TPM state (QEMU's socket
    backend, libvirt's `external` one; not libvirt's emulator backend), so the storage root key is
    the node's own."""
    node = node_factory(uuid=UUID, tpm=True, backend="userspace")
    node.boot(config=c.config(c.volume_config("STATE", [c.node_id(slot=0)]),
                              c.volume_config("EPHEMERAL", [c.tpm(slot=0, pcrs=[])])))
    st = node.volume_status("EPHEMERAL")
    assert st.phase == "ready", st.error_message
    assert st.configured_encryption_keys == ["tpm"] and st.pub_key_pcrs == [11]
    token = node.luks_dump("EPHEMERAL")["tokens"]["0"]
    assert token["type"] == "talos-tpm2" and "pcrs" not in token["UserData"], token
    data = os.urandom((2 << 20) + 512)
    node.write_file("EPHEMERAL", "vmt/data.bin", data)
    node_path = node.path
    node.close()  # clean power-off: swtpm stopped, its state kept in <node>/tpm

    boot = json.loads(cryptnode._core.boot_measurements(node_path))
    pcr11 = [e for e in boot["events"] if e["pcr"] == 11]
    assert [e["description"] for e in pcr11[-3:]] == [
        "phase enter-initrd", "phase leave-initrd", "phase enter-machined"]
    assert replayed(boot["events"], 11) == boot["pcr11"]

    job = Job("unseal-tpm")
    job.line("tcti", "device:/dev/tpm0")
    job.line("pcrs")  # what the guest's firmware measured, before the replay
    for i, e in enumerate(pcr11):
        # Talos refuses an all-zero PCR 11, and PCR 11 short of enter-machined is not signed.
        if i in (0, len(pcr11) - 1):
            job.line("refused", "EPHEMERAL", "system", "EPHEMERAL")
        job.line("replay", 11, e["digest"], e["description"].replace(" ", "_"))
    job.line("unseal", "EPHEMERAL", "system", "EPHEMERAL")
    job.line("sum", "EPHEMERAL", "vmt/data.bin")
    job.line("close", "EPHEMERAL")
    job.add_file("tpm2-pcr-public-key.pem", boot["pcr_public_key_pem"])
    job.add_file("tpm2-pcr-signature.json", boot["pcr_signature_json"])
    spec = BootSpec("tpm", node_disks(node_path, readonly=True), job.write(str(tmp_path / "job")),
                    tpm_state=os.path.join(node_path, "tpm"))
    result = vm.boot(spec)
    print(result.describe())  # shown with -rP: timings, what the guest saw
    result.check()

    at_boot = dict(ln.split() for ln in result.lines("PCR"))
    assert len(at_boot) == 24, at_boot
    assert at_boot["11"] == ZERO, "the guest's firmware extended PCR 11"
    # TPM2_Startup sets PCRs 17-22 (D-RTM) to all ones; SeaBIOS extends 0-7, the kernel's IMA 10.
    assert all(at_boot[str(p)] == "f" * 64 for p in range(17, 23)), at_boot
    touched = {int(p) for p, v in at_boot.items() if v not in (ZERO, "f" * 64)}
    assert touched == set(range(8)) | {10}, sorted(touched)
    refused = result.lines("REFUSED")
    assert len(refused) == 2, refused
    assert refused[0] == "EPHEMERAL PCR bank 11 is populated with all zeroes", refused
    assert refused[1].startswith(
        "EPHEMERAL no signatures matching PCR SHA256 digest found in signature JSON"), refused
    tok = result.lines("TOKEN")
    assert len(tok) == 3 and ("keyslots=0 pcrs= pubkey_pcrs=11 alg=sha256 encryption_version=1"
                   in tok[0]), tok
    assert len(result.lines("SRK")) == 2  # the refused attempt got as far as the policy
    policy = result.lines("POLICY")
    assert len(policy) == 1 and f"pcr11={boot['pcr11']}" in policy[0], (policy, boot["pcr11"])
    assert result.lines("UNSEALED") == ["EPHEMERAL bytes=32"]
    m = mappings(result)["EPHEMERAL"]
    assert m["cipher"] == "aes-xts-plain64" and m["kernel_dm"] == "yes", m
    assert "fs=xfs" in result.lines("MOUNTED")[0]
    assert sums(result) == {("EPHEMERAL", "vmt/data.bin"): sha256(data)}


def test_guest_tpm_is_stopped_and_its_state_copy_removed_when_no_guest_comes(tmp_path):
    """No boot: the tier's swtpm on a copy of a TPM state, and QEMU never connects (a boot that
    failed before the guest started). stop() ends swtpm and removes the copy; the source state is
    untouched."""
    src = tmp_path / "state"
    src.mkdir()
    (src / "tpm2-00.permall").write_bytes(b"not a real TPM state: swtpm reads it only on init\n")
    run = tmp_path / "run"
    run.mkdir()
    gt = GuestTpm(str(src), str(run), "cnvmt-test")
    sock = gt.start(for_libvirt=False)
    assert os.path.exists(sock) and gt.proc.poll() is None
    pid = gt.proc.pid
    gt.stop()
    assert not tracking.pid_alive(pid) and pid not in TRACKER.pids
    assert not os.path.exists(gt.state) and not os.path.exists(sock)
    assert os.listdir(src) == ["tpm2-00.permall"]
    with pytest.raises(ValueError, match="is not a non-empty directory"):
        GuestTpm(str(tmp_path / "missing"), str(run), "cnvmt-test")


def test_boot_measurements_names_what_is_missing(node_factory, tmp_path):
    """The export refuses, naming the input: not a node directory, a node without a TPM, a node
    that never booted (no PCR signing key yet)."""
    with pytest.raises(cryptnode.NotFoundError, match=f"{tmp_path}/node.json: not a node"):
        cryptnode._core.boot_measurements(str(tmp_path))
    no_tpm = node_factory(tpm=False)
    with pytest.raises(ValueError, match=f"{no_tpm.path}: the node has no TPM"):
        cryptnode._core.boot_measurements(no_tpm.path)
    fresh = node_factory(tpm=True)
    with pytest.raises(cryptnode.NotFoundError, match="no PCR signing key yet"):
        cryptnode._core.boot_measurements(fresh.path)
