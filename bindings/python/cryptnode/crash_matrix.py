"""The crash matrix: every fault point (docs/fault-points.md) driven from a real flow — a first boot,
each step of a key rotation, a reset, a STATE migration unencrypted -> encrypted — with the power
cut there, then the next boot, checked against what Talos does next.

    rows = run(progress=print)          # one Row per (flow step, fault point instance)
    print(table(rows))                  # or [r.as_dict() for r in rows] (cryptnode crash-matrix -o json)

A point is armed as `<name>#<N>` when the operation reaches it more than once: the Nth time counted
from the arming (docs/fault-points.md#naming-one-instance). Each row starts from a copy of a node
directory prepared once per flow step (a template: powered off after the steps before), so rows
are independent and the steps before are paid once. Nodes have no TPM (KMS keys carry the tokens),
use the fast PBKDF and live in a temporary directory removed at the end; one KMS server serves
them all."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional

from . import configs as c
from .node import KmsServer, Node

EPH_DATA = b"written to EPHEMERAL before the operation"
USER_DATA = b"written to u-data before the operation"


@dataclass
class Row:
    flow: str     # the flow and its step
    point: str    # as armed: "encryption.after_add_key#2"
    where: str    # the instance, in words
    expect: str   # what Talos does at the next boot
    result: str = ""   # "ok", "not reached", or "FAILED: ..."
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.result == "ok"

    def as_dict(self) -> Dict[str, object]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class Case:
    point: str
    where: str
    expect: str
    check: Callable[["Ctx", Node], None]


@dataclass
class Step:
    flow: str
    start: Callable[["Ctx"], str]             # a template directory (node powered off)
    operation: Callable[["Ctx", Node], None]  # runs on the node, armed
    cases: List[Case] = field(default_factory=list)
    power_on: bool = True                     # boot the copy before arming


class Ctx:
    """What the rows share: the KMS server, the temporary root and the templates."""

    def __init__(self, root: str, kms: KmsServer):
        self.root, self.kms = root, kms
        self._templates: Dict[str, str] = {}
        self._n = 0

    @property
    def kms_endpoint(self) -> str:
        return self.kms.endpoint

    def new_dir(self, name: str) -> str:
        self._n += 1
        return os.path.join(self.root, f"{self._n:03d}-{name}")

    def template(self, name: str, build: Callable[[str], None]) -> str:
        """A node directory built once by build(dir) (which leaves it powered off)."""
        if name not in self._templates:
            d = self.new_dir("template-" + name.replace("/", "-"))
            build(d)
            self._templates[name] = d
        return self._templates[name]

    def clone(self, template: str, name: str) -> str:
        d = self.new_dir(name)
        subprocess.run(["cp", "-a", "--sparse=always", "--", template, d], check=True)
        return d


def create(d: str) -> Node:
    return Node.create(d, tpm=False, pbkdf="fast")


# --- checks -----------------------------------------------------------------------------------

def _status(node: Node, vol: str):
    for st in node.volumes():
        if st.id == vol:
            return st
    raise AssertionError(f"{vol}: no volume status")


def slots(node: Node, vol: str) -> List[int]:
    return sorted(int(k) for k in node.luks_dump(vol)["keyslots"])


def tokens(node: Node, vol: str) -> List[int]:
    return sorted(int(k) for k in node.luks_dump(vol).get("tokens", {}))


def ready(node: Node, vol: str, keyslots: Optional[List[int]] = None,
          opened_by: Optional[int] = None, encrypted: bool = True) -> None:
    st = _status(node, vol)
    assert st.phase == "ready", f"{vol} is {st.phase}: {st.error_message}"
    assert bool(st.encryption_provider) == encrypted, \
        f"{vol}: encrypted is {bool(st.encryption_provider)}, expected {encrypted}"
    if keyslots is not None:
        got = slots(node, vol)
        assert got == keyslots, f"{vol}: keyslots {got}, expected {keyslots}"
    if opened_by is not None:
        assert st.encryption_slot == opened_by, \
            f"{vol}: opened by slot {st.encryption_slot}, expected {opened_by}"


def failed(node: Node, vol: str, text: str) -> None:
    st = _status(node, vol)
    assert st.phase == "failed", f"{vol} is {st.phase}, expected failed ({text})"
    assert text in st.error_message, f"{vol}: error {st.error_message!r} lacks {text!r}"


def has(node: Node, vol: str, name: str, data: bytes) -> None:
    got = node.read_file(vol, name)
    assert got == data, f"{vol}/{name}: {len(got)} bytes differ from what was written"


def lacks(node: Node, vol: str, name: str) -> None:
    try:
        node.read_file(vol, name)
    except Exception:  # noqa: BLE001 - absent is the expectation
        return
    raise AssertionError(f"{vol}/{name} is still there")


def writable(node: Node, *vols: str) -> None:
    for vol in vols:
        node.write_file(vol, "after.txt", b"after")
        has(node, vol, "after.txt", b"after")


# --- flow 1: first boot (FormatAndEncrypt, the salt, META) ------------------------------------

def first_boot_config(ctx: Ctx) -> str:
    return c.config(
        c.volume_config("STATE", keys=[c.node_id()]),
        c.volume_config("EPHEMERAL", keys=[c.static("eph-slot0"), c.kms(ctx.kms_endpoint, 1)]),
        c.user_volume_config("data", keys=[c.kms(ctx.kms_endpoint, 0),
                                           c.static("data-slot1", 1, lock_to_state=True)]))


def _first_boot_done(ctx: Ctx, node: Node) -> None:
    """The interrupted first boot, completed by the next one (the platform offers the config
    again, as a cmdline/platform config would be)."""
    node.boot(config=first_boot_config(ctx))
    ready(node, "STATE", [0], 0)
    ready(node, "EPHEMERAL", [0, 1], 0)
    ready(node, "u-data", [0, 1], 0)
    assert tokens(node, "EPHEMERAL") == [1] and tokens(node, "u-data") == [0]
    writable(node, "EPHEMERAL", "u-data")


def _udata_lost(ctx: Ctx, node: Node) -> None:
    """u-data's only keyslot is the KMS key's, without its token: Talos cannot open it, retries
    every 30 s, and only a wipe brings it back."""
    node.boot(config=first_boot_config(ctx))
    ready(node, "STATE", [0], 0)
    ready(node, "EPHEMERAL", [0, 1], 0)
    msg = "error opening encrypted volume: no handlers available to get encryption keys from"
    failed(node, "u-data", msg)
    failed(node, "u-data", "invalid token")
    node.advance(30)
    failed(node, "u-data", msg)
    node.reset(["u-data"], reboot=True)
    ready(node, "u-data", [0, 1], 0)
    writable(node, "u-data")


RECOVERS = "recovers: the next boot finishes the format and syncs every key"


def first_boot(ctx: Ctx) -> Step:
    return Step(
        flow="first boot",
        start=lambda ctx: ctx.template("fresh", lambda d: create(d).close()),
        operation=lambda ctx, node: node.boot(config=first_boot_config(ctx)),
        power_on=False,
        cases=[
            Case("meta.mid_copy", "META 0x09 (STATE's encryption), copy 1 torn",
                 "copy 2 (no 0x09) is used; STATE is formatted as the config says", _first_boot_done),
            Case("meta.between_copies", "META 0x09, copy 2 not written",
                 "copy 1 is used; recovers", _first_boot_done),
            Case("luks2.after_format", "STATE: header and slot 0 (nodeID)",
                 "opens with slot 0, mkfs: " + RECOVERS, _first_boot_done),
            Case("volume.before_mkfs", "STATE: encrypted and open, no filesystem",
                 "mkfs on the next boot; recovers", _first_boot_done),
            Case("salt.before_write", "the salt is not written",
                 "a new salt is made; recovers (nothing used the lost one)", _first_boot_done),
            Case("salt.after_write", "encryption-salt.yaml written",
                 "the same salt; recovers", _first_boot_done),
            Case("luks2.after_format#2", "EPHEMERAL: slot 0 (static), slot 1 not added",
                 "opens with slot 0, adds slot 1 (KMS); recovers", _first_boot_done),
            Case("encryption.before_add_key", "EPHEMERAL slot 1 (KMS): sealed, nothing written",
                 "adds slot 1 again with a new seal; recovers", _first_boot_done),
            Case("encryption.after_token_write", "EPHEMERAL slot 1: token 1 without keyslot 1",
                 "opens with slot 0; addKey replaces token 1 and adds slot 1; recovers",
                 _first_boot_done),
            Case("encryption.after_add_key", "EPHEMERAL slot 1 added, no filesystem",
                 "mkfs on the next boot; recovers", _first_boot_done),
            Case("volume.before_mkfs#2", "EPHEMERAL: both slots, no filesystem",
                 "mkfs on the next boot; recovers", _first_boot_done),
            Case("luks2.after_format#3", "u-data: slot 0 (KMS) without its token",
                 "fails for good (invalid token; slot 1 absent), retried every 30 s; a reset "
                 "of u-data formats it again", _udata_lost),
            Case("encryption.after_format_token", "u-data: slot 0 and token 0, no slot 1",
                 "opens with slot 0, adds slot 1 (lockToState), mkfs; recovers",
                 _first_boot_done),
            Case("encryption.before_add_key#2", "u-data slot 1 (static, lockToState)",
                 "adds slot 1 at the next boot; recovers", _first_boot_done),
            Case("encryption.after_add_key#2", "u-data slot 1 added, no filesystem",
                 "mkfs on the next boot; recovers", _first_boot_done),
            Case("volume.before_mkfs#3", "u-data: both slots, no filesystem",
                 "mkfs on the next boot; recovers", _first_boot_done),
        ])


# --- flow 2: the two-step key rotation on EPHEMERAL, with an update in between -----------------

def rotation_config(ctx: Ctx, stage: int) -> str:
    eph = {0: [c.static("old", 0), c.kms(ctx.kms_endpoint, 2)],
           1: [c.static("old", 0), c.static("new", 1), c.kms(ctx.kms_endpoint, 2)],
           2: [c.static("old", 0), c.static("newer", 1), c.kms(ctx.kms_endpoint, 2)],
           3: [c.static("newer", 1)]}[stage]
    return c.config(c.volume_config("STATE", keys=[c.node_id()]),
                    c.volume_config("EPHEMERAL", keys=eph))


def _rotation_template(ctx: Ctx, stage: int) -> str:
    """The rotation node after stage `stage` was applied (and booted), powered off."""
    def build(d: str) -> None:
        if stage == 0:
            with create(d) as node:
                node.boot(config=rotation_config(ctx, 0))
                node.write_file("EPHEMERAL", "before.txt", EPH_DATA)
            return
        src = _rotation_template(ctx, stage - 1)
        shutil.rmtree(d, ignore_errors=True)
        subprocess.run(["cp", "-a", "--sparse=always", "--", src, d], check=True)
        with Node.open(d) as node:
            node.boot()
            node.apply_config(rotation_config(ctx, stage), mode="reboot")
    return ctx.template(f"rotation-{stage}", build)


def _rotated(stage: int, keyslots: List[int], opened_by: int, toks: List[int]):
    def check(ctx: Ctx, node: Node) -> None:
        node.boot()
        ready(node, "EPHEMERAL", keyslots, opened_by)
        assert tokens(node, "EPHEMERAL") == toks, \
            f"EPHEMERAL: tokens {tokens(node, 'EPHEMERAL')}, expected {toks}"
        has(node, "EPHEMERAL", "before.txt", EPH_DATA)
        st = _status(node, "EPHEMERAL")
        assert not st.encryption_failed_syncs, f"failed syncs: {st.encryption_failed_syncs}"
        if stage == 2:
            # The updated slot 1 holds the new passphrase: with only that key configured, slot 1
            # opens the volume.
            node.apply_config(rotation_config(ctx, 3), mode="reboot")
            ready(node, "EPHEMERAL", [1], 1)
            has(node, "EPHEMERAL", "before.txt", EPH_DATA)
    return check


def rotation_steps(ctx: Ctx) -> List[Step]:
    def apply(stage: int):
        return lambda ctx, node: node.apply_config(rotation_config(ctx, stage), mode="reboot")

    add = _rotated(1, [0, 1, 2], 0, [2])
    update = _rotated(2, [0, 1, 2], 0, [2])
    removed = _rotated(3, [1], 1, [])
    return [
        Step("rotation 1/3: add new@1 (apply-config --mode=reboot)",
             lambda ctx: _rotation_template(ctx, 0), apply(1), [
                 Case("apply_config.after_persist", "config.yaml written, no reboot yet",
                      "the new config loads at the next boot; slot 1 is added", add),
                 Case("encryption.before_add_key", "EPHEMERAL slot 1, nothing written",
                      "opens with slot 0, adds slot 1", add),
                 Case("encryption.after_add_key", "EPHEMERAL slot 1 added",
                      "opens with slot 0, nothing left to sync", add),
             ]),
        Step("rotation 2/3: update slot 1 in place (new -> newer)",
             lambda ctx: _rotation_template(ctx, 1), apply(2), [
                 Case("encryption.before_kill", "EPHEMERAL slot 1 (stale)",
                      "the same update runs again; slot 1 then opens with the new key", update),
                 Case("encryption.after_kill", "EPHEMERAL slot 1 killed (static: no token)",
                      "slot 1 missing: syncKeys takes the add path", update),
                 Case("encryption.between_kill_and_add", "EPHEMERAL slot 1 and its token gone",
                      "opens with slot 0; slot 1 is added", update),
                 Case("encryption.before_add_key", "EPHEMERAL slot 1: killed, new key not written",
                      "opens with slot 0; slot 1 is added", update),
                 Case("encryption.after_add_key", "EPHEMERAL slot 1 re-added with the new key",
                      "opens with slot 0; nothing left to sync", update),
             ]),
        Step("rotation 3/3: keep newer@1 only", lambda ctx: _rotation_template(ctx, 2), apply(3), [
            Case("encryption.before_kill", "EPHEMERAL slot 0 (static, unconfigured)",
                 "opens with slot 1; slots 0 and 2 are removed", removed),
            Case("encryption.after_kill", "EPHEMERAL slot 0 killed, no token",
                 "opens with slot 1; slot 2 is removed", removed),
            Case("encryption.after_remove", "EPHEMERAL slot 0 removed",
                 "opens with slot 1; slot 2 is removed", removed),
            Case("encryption.before_kill#2", "EPHEMERAL slot 2 (KMS, unconfigured)",
                 "opens with slot 1; slot 2 and token 2 are removed", removed),
            Case("encryption.after_kill#2", "EPHEMERAL slot 2 killed, token 2 still there",
                 "opens with slot 1; syncKeys walks keyslots, not tokens: token 2 stays for good",
                 _rotated(3, [1], 1, [2])),
            Case("encryption.after_remove#2", "EPHEMERAL slot 2 and token 2 removed",
                 "opens with slot 1; nothing left to sync", removed),
        ]),
    ]


# --- flow 3: a STATE key change applied without a reboot (META 0x09) ---------------------------

def state_rotation_config(stage: int) -> str:
    keys = [c.static("state-old", 0)] + ([c.static("state-new", 1)] if stage else [])
    return c.config(c.volume_config("STATE", keys=keys),
                    c.volume_config("EPHEMERAL", keys=[c.node_id()]))


def _state_rotation_template(ctx: Ctx) -> str:
    def build(d: str) -> None:
        with create(d) as node:
            node.boot(config=state_rotation_config(0))
            node.write_file("EPHEMERAL", "before.txt", EPH_DATA)
    return ctx.template("state-rotation", build)


def _state_keys(boots_until_synced: int):
    def check(ctx: Ctx, node: Node) -> None:
        node.boot()
        ready(node, "STATE", [0] if boots_until_synced > 1 else [0, 1], 0)
        has(node, "EPHEMERAL", "before.txt", EPH_DATA)
        if boots_until_synced > 1:
            node.reboot()  # META now holds the new config: STATE's slot 1 is added
            ready(node, "STATE", [0, 1], 0)
        assert "state-new" in str(node.meta().get("0x09")), \
            "META 0x09 does not hold the new STATE key"
    return check


def state_rotation(ctx: Ctx) -> Step:
    return Step(
        "STATE key added (apply-config --mode=no-reboot)", _state_rotation_template,
        lambda ctx, node: node.apply_config(state_rotation_config(1), mode="no-reboot"), [
            Case("apply_config.after_persist", "config.yaml written, META 0x09 old",
                 "STATE opens with META's old keys, META is rewritten; slot 1 one boot later",
                 _state_keys(2)),
            Case("apply_config.before_meta", "new config active, META 0x09 old",
                 "as after_persist", _state_keys(2)),
            Case("meta.mid_copy", "META 0x09: copy 1 torn",
                 "copy 2 (old 0x09) is used; slot 1 one boot later", _state_keys(2)),
            Case("meta.between_copies", "META 0x09: copy 1 new, copy 2 old",
                 "copy 1 (new 0x09) is used: STATE gets slot 1 at this boot", _state_keys(1)),
        ])


# --- flow 4: reset of two volumes --------------------------------------------------------------

def reset_config() -> str:
    return c.config(c.volume_config("STATE", keys=[c.node_id()]),
                    c.volume_config("EPHEMERAL", keys=[c.static("eph")]),
                    c.user_volume_config("data", keys=[c.node_id()]))


def _reset_template(ctx: Ctx) -> str:
    def build(d: str) -> None:
        with create(d) as node:
            node.boot(config=reset_config())
            node.write_file("EPHEMERAL", "before.txt", EPH_DATA)
            node.write_file("u-data", "before.txt", USER_DATA)
    return ctx.template("reset", build)


def _after_reset(user_wiped: bool):
    def check(ctx: Ctx, node: Node) -> None:
        node.boot()
        ready(node, "STATE", [0])
        ready(node, "EPHEMERAL", [0])
        ready(node, "u-data", [0])
        lacks(node, "EPHEMERAL", "before.txt")
        if user_wiped:
            lacks(node, "u-data", "before.txt")
        else:
            has(node, "u-data", "before.txt", USER_DATA)
        writable(node, "EPHEMERAL", "u-data")
    return check


def reset(ctx: Ctx) -> Step:
    return Step(
        "reset --system-labels-to-wipe EPHEMERAL,u-data --reboot", _reset_template,
        lambda ctx, node: node.reset(["EPHEMERAL", "u-data"], reboot=True), [
            Case("reset.after_wipe", "EPHEMERAL wiped, still in the GPT",
                 "EPHEMERAL is formatted again in place; u-data untouched", _after_reset(False)),
            Case("reset.before_gpt_delete", "EPHEMERAL wiped, its GPT entry not deleted",
                 "as after_wipe", _after_reset(False)),
            Case("reset.after_wipe#2", "EPHEMERAL gone, u-data wiped and listed",
                 "both are formatted again", _after_reset(True)),
            Case("reset.before_gpt_delete#2", "u-data wiped, its GPT entry not deleted",
                 "both are formatted again", _after_reset(True)),
        ])


# --- flow 5: STATE unencrypted -> encrypted (reset STATE, maintenance, apply --insecure) --------

def migration_config(encrypted: bool) -> str:
    return c.config(c.volume_config("STATE", keys=[c.node_id()])) if encrypted else c.config()


def _migration_template(ctx: Ctx, stage: int) -> str:
    def build(d: str) -> None:
        if stage == 0:
            with create(d) as node:
                node.boot(config=migration_config(False))
                node.write_file("EPHEMERAL", "before.txt", EPH_DATA)
            return
        src = _migration_template(ctx, 0)
        shutil.rmtree(d, ignore_errors=True)
        subprocess.run(["cp", "-a", "--sparse=always", "--", src, d], check=True)
        with Node.open(d) as node:
            node.boot()
            node.reset(["STATE"], reboot=False)
    return ctx.template(f"migration-{stage}", build)


def _migrated(maintenance: bool):
    def check(ctx: Ctx, node: Node) -> None:
        node.boot()
        assert node.maintenance == maintenance, \
            f"maintenance is {node.maintenance} at the next boot, expected {maintenance}"
        if maintenance:
            node.apply_config(migration_config(True), insecure=True)
        ready(node, "STATE", [0], 0)
        ready(node, "EPHEMERAL", encrypted=False)
        has(node, "EPHEMERAL", "before.txt", EPH_DATA)
        node.reboot()
        assert not node.maintenance, "maintenance mode after the migration"
        ready(node, "STATE", [0], 0)
    return check


def migration_steps(ctx: Ctx) -> List[Step]:
    return [
        Step("STATE migration 1/2: reset --system-labels-to-wipe STATE",
             lambda ctx: _migration_template(ctx, 0),
             lambda ctx, node: node.reset(["STATE"], reboot=True), [
                 Case("reset.after_wipe", "STATE wiped, still in the GPT",
                      "STATE is missing: maintenance mode; apply --insecure encrypts it",
                      _migrated(True)),
                 Case("reset.before_gpt_delete", "STATE wiped, GPT entry not deleted",
                      "as after_wipe", _migrated(True)),
             ]),
        Step("STATE migration 2/2: apply-config --insecure with STATE encrypted",
             lambda ctx: _migration_template(ctx, 1),
             lambda ctx, node: node.apply_config(migration_config(True), insecure=True), [
                 Case("meta.mid_copy", "META 0x09: copy 1 torn",
                      "no 0x09, no STATE: maintenance again; apply --insecure", _migrated(True)),
                 Case("meta.between_copies", "META 0x09 new in copy 1",
                      "STATE has no config yet: maintenance again; apply --insecure",
                      _migrated(True)),
                 Case("luks2.after_format", "STATE: slot 0, no filesystem",
                      "STATE opens through META 0x09 and is formatted; no config.yaml in it: "
                      "maintenance again; apply --insecure", _migrated(True)),
                 Case("volume.before_mkfs", "STATE encrypted and open, no filesystem",
                      "as after_format", _migrated(True)),
                 Case("salt.before_write", "config.yaml in STATE, no salt",
                      "boots from STATE's config; a new salt is made", _migrated(False)),
                 Case("salt.after_write", "config.yaml and salt in STATE",
                      "boots from STATE's config", _migrated(False)),
             ]),
    ]


# --- running -----------------------------------------------------------------------------------

def steps(ctx: Ctx) -> List[Step]:
    return [first_boot(ctx), *rotation_steps(ctx), state_rotation(ctx), reset(ctx),
            *migration_steps(ctx)]


def _one(ctx: Ctx, step: Step, case: Case) -> str:
    d = ctx.clone(step.start(ctx), case.point.replace("#", "-"))
    try:
        with Node.open(d) as node:
            if step.power_on:
                node.boot()
            node.crash_at(case.point)
            step.operation(ctx, node)
            if node.last_crash != case.point or node.powered_on:
                node.crash_at("")
                return "not reached" + (f" (last crash: {node.last_crash})"
                                        if node.last_crash else "")
            case.check(ctx, node)
        return "ok"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run(progress: Optional[Callable[[Row], None]] = None,
        only: Optional[Callable[[Row], bool]] = None, root: Optional[str] = None) -> List[Row]:
    """Runs the matrix (as root: loop devices, mounts); each finished row is passed to
    progress(row). only(row) -> bool selects rows (by flow and point); root: where the nodes live
    (a temporary directory by default, removed at the end)."""
    rows: List[Row] = []
    tmp = tempfile.mkdtemp(prefix="cryptnode-crash-matrix-", dir=root)
    kms = KmsServer.start()
    try:
        ctx = Ctx(tmp, kms)
        for step in steps(ctx):
            for case in step.cases:
                row = Row(step.flow, case.point, case.where, case.expect)
                if only is not None and not only(row):
                    continue
                t = time.perf_counter()
                try:
                    row.result = _one(ctx, step, case)
                except AssertionError as e:
                    row.result = f"FAILED: {e}"
                except Exception as e:  # noqa: BLE001 - a row reports whatever broke it
                    row.result = f"FAILED: {type(e).__name__}: {e}"
                row.seconds = round(time.perf_counter() - t, 2)
                rows.append(row)
                if progress:
                    progress(row)
    finally:
        kms.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def table(rows: List[Row]) -> str:
    """The rows as a text table, grouped by flow, with a last line of totals."""
    out: List[str] = []
    flow = None
    for r in rows:
        if r.flow != flow:
            flow = r.flow
            out.append(f"\n{flow}")
        mark = "ok " if r.ok else "!! "
        out.append(f"  {mark}{r.point:<36} {r.where}")
        out.append(f"      next boot: {r.expect}")
        if not r.ok:
            out.append(f"      result: {r.result}")
    bad = sum(not r.ok for r in rows)
    out.append(f"\n{len(rows)} crash points, {len(rows) - bad} as Talos would, {bad} not")
    return "\n".join(out).lstrip("\n")
