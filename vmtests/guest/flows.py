"""The seed document's flows as small scenarios over the public Python API (cryptnode.Node), run
inside the VM tier's guest with the kernel activation backend (libcryptsetup -> kernel dm-crypt) and
on the host with the simulation's backend, so the benchmark can compare them. Self-contained: the
guest only has this file and the build tree's package.

Usage: flows.py --dir DIR [--backend kernel|userspace|auto] [--flows a,b|all]
Prints "VMT: FLOW <name> ok seconds=S", "VMT: CHECK <what>" and, on failure, "VMT: FAIL <name>:
<error>"; exits 1 if any flow failed."""

import argparse
import json
import os
import sys
import time
import traceback

import cryptnode

UUID = "6d1f4c2a-9b3e-4f7a-8c5d-2e1b0a9f8e7d"
DATA = os.urandom(256 * 1024) + b"cryptnode"
BASE = "version: v1alpha1\nmachine:\n  type: worker\n"
USER_DISK = ('provisioning:\n  diskSelector:\n    match: "!system_disk"\n'
             "  minSize: 100MiB\n  maxSize: 200MiB\n")


def doc(kind, name, keys=None, extra=""):
    text = f"apiVersion: v1alpha1\nkind: {kind}\nname: {name}\n{extra}"
    if keys is not None:
        text += "encryption:\n  provider: luks2\n  keys:\n" + "".join(keys)
    return text


def key(slot, body, lock=False):
    return f"    - slot: {slot}\n      {body}\n" + ("      lockToState: true\n" if lock else "")


def static(p):
    return f"static:\n        passphrase: {p}"


NODEID = "nodeID: {}"


def config(*docs):
    return "---\n".join([BASE] + list(docs))


def say(*words):
    print("VMT:", *words, flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def ready(node, *ids):
    for i in ids:
        st = node.volume_status(i)
        check(st.phase == "ready", f"{i} is {st.phase}: {st.error_message}")


def slots(node, vol):
    return sorted(int(k) for k in node.luks_dump(vol)["keyslots"])


def mapped_by_kernel(vol):
    """/dev/mapper/luks2-<volumeID> is a kernel dm-crypt device (the userspace backend has none)."""
    name = f"luks2-{vol}"
    for d in os.listdir("/sys/block"):
        try:
            with open(f"/sys/block/{d}/dm/name") as f:
                if f.read().strip() == name:
                    with open(f"/sys/block/{d}/dm/uuid") as u:
                        return u.read().startswith("CRYPT-LUKS2")
        except OSError:
            continue
    return False


# --- flows -------------------------------------------------------------------------------------

def flow_state_ephemeral_nodeid(node, kernel):
    node.boot(config=config(doc("VolumeConfig", "STATE", [key(0, NODEID)]),
                            doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID)])))
    ready(node, "STATE", "EPHEMERAL")
    if kernel:
        check(mapped_by_kernel("STATE") and mapped_by_kernel("EPHEMERAL"),
              "STATE/EPHEMERAL are not kernel dm-crypt mappings")
        say("CHECK kernel-dm STATE EPHEMERAL")
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.reboot()
    ready(node, "STATE", "EPHEMERAL")
    check(node.read_file("EPHEMERAL", "data.bin") == DATA, "EPHEMERAL data changed")


def flow_user_volume_nodeid(node, kernel):
    node.boot(config=config(doc("UserVolumeConfig", "data", [key(0, NODEID)], extra=USER_DISK)))
    ready(node, "u-data")
    if kernel:
        check(mapped_by_kernel("u-data"), "u-data is not a kernel dm-crypt mapping")
    node.write_file("u-data", "d/data.bin", DATA)
    node.reboot()
    check(node.read_file("u-data", "d/data.bin") == DATA, "u-data changed")


def flow_static_locked(node, kernel):
    node.boot(config=config(doc("VolumeConfig", "STATE", [key(1, NODEID)]),
                            doc("VolumeConfig", "EPHEMERAL", [key(0, static("supersecret"),
                                                                  lock=True)])))
    ready(node, "STATE", "EPHEMERAL")
    st = node.volume_status("EPHEMERAL")
    locked = getattr(st, "encryption_locked_to_state", None)
    check(locked if locked is not None else st.locked_to_state, "EPHEMERAL not locked to STATE")
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.reboot()
    check(node.read_file("EPHEMERAL", "data.bin") == DATA, "EPHEMERAL data changed")


def flow_rotate_reset(node, kernel):
    """boot -> two-step key rotation -> reset EPHEMERAL -> reboot, with data checks."""
    old = doc("VolumeConfig", "EPHEMERAL", [key(0, static("oldkey"))])
    both = doc("VolumeConfig", "EPHEMERAL", [key(0, static("oldkey")), key(1, static("newkey"))])
    new = doc("VolumeConfig", "EPHEMERAL", [key(1, static("newkey"))])
    state = doc("VolumeConfig", "STATE", [key(0, NODEID)])
    node.boot(config=config(state, old))
    ready(node, "STATE", "EPHEMERAL")
    if kernel:
        check(mapped_by_kernel("EPHEMERAL"), "EPHEMERAL is not a kernel dm-crypt mapping")
        say("CHECK kernel-dm EPHEMERAL")
    node.write_file("EPHEMERAL", "data.bin", DATA)
    node.write_file("STATE", "keep.bin", DATA)
    node.apply_config(config(state, both), mode="reboot")
    ready(node, "EPHEMERAL")
    check(slots(node, "EPHEMERAL") == [0, 1], f"slots after adding: {slots(node, 'EPHEMERAL')}")
    say("CHECK rotate-add slots=0,1")
    node.apply_config(config(state, new), mode="reboot")
    ready(node, "EPHEMERAL")
    check(slots(node, "EPHEMERAL") == [1], f"slots after removing: {slots(node, 'EPHEMERAL')}")
    check(node.volume_status("EPHEMERAL").encryption_slot == 1, "not opened with slot 1")
    check(node.read_file("EPHEMERAL", "data.bin") == DATA, "EPHEMERAL data changed by rotation")
    say("CHECK rotate-remove slots=1")
    node.reset(system_labels_to_wipe=["EPHEMERAL"], reboot=True)
    ready(node, "STATE", "EPHEMERAL")
    try:
        node.read_file("EPHEMERAL", "data.bin")
        raise AssertionError("EPHEMERAL still holds data.bin after the reset")
    except cryptnode.NotFoundError:
        pass
    check(node.read_file("STATE", "keep.bin") == DATA, "STATE lost keep.bin in the reset")
    check(slots(node, "EPHEMERAL") == [1], "EPHEMERAL re-formatted with other slots")
    say("CHECK reset EPHEMERAL wiped, STATE kept")
    node.write_file("EPHEMERAL", "new.bin", DATA)
    node.reboot()
    ready(node, "STATE", "EPHEMERAL")
    check(node.read_file("EPHEMERAL", "new.bin") == DATA, "EPHEMERAL new.bin changed")


def flow_staged_migration(node, kernel):
    node.boot(config=config())
    node.write_file("STATE", "keep.bin", DATA)
    enc = config(doc("VolumeConfig", "EPHEMERAL", [key(0, NODEID)]))
    check(node.apply_config(enc, mode="staged") == "staged", "not staged")
    node.reset(system_labels_to_wipe=["EPHEMERAL"], reboot=True)
    ready(node, "STATE", "EPHEMERAL")
    check(node.volume_status("EPHEMERAL").encryption_provider == "luks2", "not encrypted")
    node.write_file("EPHEMERAL", "new.bin", DATA)
    node.reboot()
    check(node.read_file("EPHEMERAL", "new.bin") == DATA, "EPHEMERAL data changed")


FLOWS = {
    "state_ephemeral_nodeid": flow_state_ephemeral_nodeid,
    "user_volume_nodeid": flow_user_volume_nodeid,
    "static_locked": flow_static_locked,
    "rotate_reset": flow_rotate_reset,
    "staged_migration": flow_staged_migration,
}


def run(names, directory, backend):
    failed = 0
    kernel = backend == "kernel"
    for name in names:
        t = time.perf_counter()
        try:
            with cryptnode.Node.create(os.path.join(directory, name), uuid=UUID, tpm=False,
                                       backend=backend) as node:
                FLOWS[name](node, kernel)
            say(f"FLOW {name} ok seconds={time.perf_counter() - t:.3f}")
        except Exception as e:  # report and go on with the next flow
            failed += 1
            text = f"{type(e).__name__}: {e}".replace("\n", " | ")
            say(f"FAIL {name}: {text}")
            traceback.print_exc(file=sys.stdout)
    return failed


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--backend", default="kernel")
    p.add_argument("--flows", default="all")
    a = p.parse_args(argv)
    names = list(FLOWS) if a.flows == "all" else a.flows.split(",")
    unknown = [n for n in names if n not in FLOWS]
    if unknown:
        print(f"unknown flows: {unknown}", file=sys.stderr)
        return 2
    os.makedirs(a.dir, exist_ok=True)
    say("PYTHON " + json.dumps({"cryptnode": cryptnode.__file__, "backend": a.backend,
                                 "DM_DISABLE_UDEV": os.environ.get("DM_DISABLE_UDEV", "")}))
    return 1 if run(names, a.dir, a.backend) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
