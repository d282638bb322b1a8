"""The seed document's flows run on a throwaway node, for `cryptnode demo`.

Each flow takes a Talos user's path: `talosctl gen config`, VolumeConfig documents appended, the
config applied, later changes made with `talosctl patch mc` (a strategic merge: patched key lists
are appended to, so dropping a key deletes the document and adds it again). Each prints its steps as
they happen (progress), then a line per volume (phase, keyslots, unlocking slot) and its result.
Nothing secret is printed: keys are shown by kind only."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from typing import List

from ._core import gen_config
from .configs import (delete, gen_config_with, kms, node_id, patch, static, user_volume_config,
                      volume_config)
from .node import Node


class Report:
    def __init__(self, out=sys.stdout):
        self.out = out
        self.ok = 0
        self.failed = 0

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def step(self, text: str) -> None:
        self.say(f"  - {text}")

    def volumes(self, node: Node) -> None:
        for st in node.volumes():
            slots = ""
            if st.encryption_provider:
                try:
                    slots = ",".join(sorted(node.luks_dump(st.id)["keyslots"], key=int))
                except Exception:  # noqa: BLE001 - a failed volume may have no readable header
                    slots = "?"
            enc = (f"luks2 keyslots [{slots}] opened by slot {st.encryption_slot}"
                   f"{' lockToState' if st.encryption_locked_to_state else ''}"
                   if st.encryption_provider else "")
            one_line = " ".join(st.error_message.split())
            err = f"error: {one_line}" if one_line else ""
            enc = enc or ("" if err else "unencrypted")
            self.say(f"      {st.id:<10} {st.phase:<9} {enc}{'  ' if enc and err else ''}{err}")


def flow_state_ephemeral_nodeid(node: Node, r: Report) -> None:
    cfg = gen_config_with(volume_config("STATE", keys=[node_id()]),
                          volume_config("EPHEMERAL", keys=[node_id()]))
    r.step("gen config + STATE and EPHEMERAL VolumeConfigs (nodeID keys); boot")
    node.boot(config=cfg)
    node.write_file("EPHEMERAL", "demo.txt", b"hello")
    r.step("reboot and read back")
    node.reboot()
    assert node.read_file("EPHEMERAL", "demo.txt") == b"hello"
    assert node.volume_status("STATE").encryption_provider == "luks2"


def flow_user_volume(node: Node, r: Report) -> None:
    r.step("boot with gen config; patch mc --mode=no-reboot: a user volume u-data (nodeID)")
    node.boot(config=gen_config())
    node.patch_config(patch(user_volume_config("data", keys=[node_id()])), mode="no-reboot")
    node.write_file("u-data", "demo.txt", b"user data")
    node.reboot()
    assert node.read_file("u-data", "demo.txt") == b"user data"


def flow_lock_to_state(node: Node, r: Report) -> None:
    cfg = gen_config_with(
        volume_config("STATE", keys=[node_id(slot=1)]),
        volume_config("EPHEMERAL", keys=[static("supersecret", lock_to_state=True)]))
    r.step("STATE nodeID in slot 1; EPHEMERAL static key locked to STATE")
    node.boot(config=cfg)
    assert node.volume_status("EPHEMERAL").encryption_locked_to_state
    node.reboot()


def flow_rotation(node: Node, r: Report) -> None:
    node.boot(config=gen_config_with(volume_config("EPHEMERAL", keys=[static("oldkey", slot=0)])))
    node.write_file("EPHEMERAL", "demo.txt", b"survives rotation")
    r.step("patch mc --mode=reboot: newkey@1 (appended next to oldkey@0)")
    node.patch_config(patch({"apiVersion": "v1alpha1", "kind": "VolumeConfig", "name": "EPHEMERAL",
                             "encryption": {"keys": [static("newkey", slot=1)]}}), mode="reboot")
    assert sorted(node.luks_dump("EPHEMERAL")["keyslots"]) == ["0", "1"]
    r.step("patch mc --mode=reboot: the document deleted and added with newkey@1 only")
    node.patch_config(patch(delete("VolumeConfig", "EPHEMERAL"),
                            volume_config("EPHEMERAL", keys=[static("newkey", slot=1)])),
                      mode="reboot")
    assert sorted(node.luks_dump("EPHEMERAL")["keyslots"]) == ["1"]
    assert node.read_file("EPHEMERAL", "demo.txt") == b"survives rotation"


def flow_ephemeral_migration(node: Node, r: Report) -> None:
    node.boot(config=gen_config())
    node.write_file("EPHEMERAL", "old.txt", b"old")
    r.step("patch mc --mode=staged: EPHEMERAL encryption")
    node.patch_config(patch(volume_config("EPHEMERAL", keys=[node_id()])), mode="staged")
    r.step("reset --system-labels-to-wipe EPHEMERAL --reboot=true")
    node.reset(["EPHEMERAL"], reboot=True)
    assert node.volume_status("EPHEMERAL").encryption_provider == "luks2"


def flow_state_migration(node: Node, r: Report) -> None:
    node.boot(config=gen_config())
    r.step("reset --system-labels-to-wipe STATE --reboot=true")
    node.reset(["STATE"], reboot=True)
    r.step(f"maintenance mode: {node.maintenance}; apply-config --insecure: gen config + STATE")
    node.apply_config(gen_config_with(volume_config("STATE", keys=[node_id()])), insecure=True)
    assert node.volume_status("STATE").encryption_provider == "luks2"


def flow_state_wipe_breaks_locked(node: Node, r: Report) -> None:
    cfg = gen_config_with(volume_config("STATE", keys=[node_id()]),
                          volume_config("EPHEMERAL", keys=[node_id(lock_to_state=True)]))
    node.boot(config=cfg)
    r.step("reset STATE, then apply-config --insecure: EPHEMERAL's lockToState key no longer fits")
    node.reset(["STATE"], reboot=True)
    node.apply_config(cfg, insecure=True)
    assert "encryption key rejected" in node.volume_status("EPHEMERAL").error_message
    r.volumes(node)
    r.step("reset EPHEMERAL too: re-encrypted with the new salt")
    node.reset(["EPHEMERAL"], reboot=True)
    assert node.volume_status("EPHEMERAL").phase == "ready"


def flow_kms(node: Node, r: Report) -> None:
    from .node import KmsServer
    with KmsServer.start() as server:
        cfg = gen_config_with(volume_config("EPHEMERAL", keys=[kms(server.endpoint)]))
        r.step(f"EPHEMERAL sealed by the KMS at {server.endpoint}")
        node.boot(config=cfg)
        server.set_fault("down")
        r.step("KMS down, reboot: EPHEMERAL fails (retryable)")
        node.reboot()
        assert node.volume_status("EPHEMERAL").phase == "failed"
        server.set_fault(None)
        r.step("KMS back; advance the virtual clock 30 s: the retry ticker opens it")
        node.advance(30)
        assert node.volume_status("EPHEMERAL").phase == "ready"


FLOWS: List[tuple] = [
    ("STATE + EPHEMERAL with nodeID keys", flow_state_ephemeral_nodeid),
    ("user volume with a nodeID key", flow_user_volume),
    ("lockToState", flow_lock_to_state),
    ("two-step key rotation", flow_rotation),
    ("EPHEMERAL: unencrypted -> encrypted", flow_ephemeral_migration),
    ("STATE: unencrypted -> encrypted (maintenance)", flow_state_migration),
    ("wiping STATE breaks lockToState volumes", flow_state_wipe_breaks_locked),
    ("KMS key, KMS outage and the 30 s retry", flow_kms),
]


def unavailable_reason():
    """Why this host cannot run simulated nodes (None when it can)."""
    if os.geteuid() != 0:
        return "simulated nodes need root (loop devices, mounts)"
    for path in ("/dev/loop-control", "/dev/fuse"):
        if not os.path.exists(path):
            return f"simulated nodes need {path}"
    return None


def run_flows(out=sys.stdout) -> int:
    r = Report(out)
    root = tempfile.mkdtemp(prefix="cryptnode-demo-")
    try:
        for i, (title, fn) in enumerate(FLOWS, 1):
            r.say(f"\n[{i}/{len(FLOWS)}] {title}")
            t = time.perf_counter()
            try:
                with Node.create(os.path.join(root, f"node{i}")) as node:
                    fn(node, r)
                    r.volumes(node)
                r.ok += 1
                r.say(f"  result: ok ({time.perf_counter() - t:.1f} s)")
            except Exception as e:  # noqa: BLE001 - the report shows every failure
                r.failed += 1
                r.say(f"  result: FAILED: {type(e).__name__}: {e}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    r.say(f"\n{r.ok} flows ok, {r.failed} failed")
    return 0 if r.failed == 0 else 1
