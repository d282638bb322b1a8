"""`cryptnode demo` / `make demo`: the Talos v1.12 disk-encryption document, run.

Part 1 describes each YAML example of the document: what it configures and, per slot, how the
passphrase is derived (never a secret value). Part 2 (when this host can run simulated nodes) runs
the document's flows on throwaway nodes."""

from __future__ import annotations

import re
import sys
from importlib import resources

from .describe import describe, format_table

# The document's examples are patches: the "Encryption Keys" and "Key Rotation" ones omit
# `provider`, which Talos rejects on its own; merged over an existing luks2 config they are valid.
EXAMPLES = [
    ("seed_state_ephemeral_nodeid.yaml", "Configuration: STATE and EPHEMERAL with nodeID keys"),
    ("seed_user_volume_nodeid.yaml", "Configuration: a user volume with a nodeID key"),
    ("seed_state_slot1_ephemeral_static_locked.yaml",
     "Encryption Keys: STATE nodeID in slot 1, EPHEMERAL static + lockToState"),
    ("seed_rotation_step1.yaml", "Key Rotation, step 1: add a new key next to the old one"),
    ("seed_rotation_step2.yaml", "Key Rotation, step 2: keep only the new key"),
]


def example_text(name: str) -> str:
    return resources.files(__package__).joinpath("examples", name).read_text()


def as_patch(text: str) -> str:
    """A Talos user's reading of an example without `provider`: `talosctl patch mc` over gen config
    whose documents already say `provider: luks2` (the strategic merge appends the keys)."""
    from ._core import gen_config, strategic_merge
    base = [gen_config()]
    for kind, name in re.findall(r"^kind: (\S+)\nname: (\S+)$", text, re.M):
        base.append(f"apiVersion: v1alpha1\nkind: {kind}\nname: {name}\nencryption:\n"
                    "  provider: luks2\n")
    return strategic_merge("---\n".join(base), text)


def show_examples(out=sys.stdout) -> int:
    print("== Part 1: the document's configuration examples", file=out)
    for name, title in EXAMPLES:
        text = example_text(name)
        print(f"\n-- {title}  ({name})", file=out)
        print(format_table(describe(text)), file=out)
        if not re.search(r"^\s+provider:", text, re.M):  # a `provider` key, not a comment
            patched = as_patch(text)
            print("   as `talosctl patch mc` over gen config with `provider: luks2` (how the "
                  "document applies it):", file=out)
            print("\n".join("   " + line for line in format_table(describe(patched)).splitlines()),
                  file=out)
    return 0


def run(flows: bool = True, out=sys.stdout, extras: bool = True) -> int:
    """extras: after the flows, the crash matrix and the bug catalogue replay."""
    status = show_examples(out)
    if not flows:
        return status
    try:
        from .flows import run_flows, unavailable_reason
    except ImportError:
        print("\n== Part 2: flows on a simulated node: not available in this build", file=out)
        return status
    reason = unavailable_reason()
    if reason:
        print(f"\n== Part 2: flows on a simulated node: skipped ({reason})", file=out)
        return status
    print("\n== Part 2: the document's flows on throwaway simulated nodes", file=out)
    status = status or run_flows(out)
    if not extras:
        return status
    return status or crash_matrix_part(out) or bug_catalogue_part(out)


def crash_matrix_part(out=sys.stdout) -> int:
    """Part 3: power lost at every fault point of a real flow, then the next boot (the regression
    record of docs/fault-points.md)."""
    from . import crash_matrix
    print("\n== Part 3: the crash matrix (power cut at each fault point, then a boot)", file=out,
          flush=True)
    rows = crash_matrix.run()
    print(crash_matrix.table(rows), file=out)
    return 0 if all(r.ok for r in rows) else 1


def bug_catalogue_part(out=sys.stdout) -> int:
    """Part 4: `cryptnode bugs --run`: each Talos bug replayed where it lived and where it was
    fixed (docs/talos/bugs.md)."""
    from . import bugs
    print("\n== Part 4: the Talos encryption bug catalogue, replayed", file=out, flush=True)
    try:
        results = bugs.run(list(bugs.CATALOGUE))
    except FileNotFoundError as e:
        print(f"skipped: {e}", file=out)
        return 0
    for b in bugs.CATALOGUE:
        print(f"{b.id:<20} {results.get(b.id, '-'):<5} {b.title}", file=out)
    return 1 if any(v == "no" for v in results.values()) else 0
