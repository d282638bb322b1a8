"""Architecture checks that need no build and no root.

(a) Layering (docs/design.md#layers): engine/ never includes sim/, pybind11 or Python; sim/ never
    includes pybind11 or Python; nothing includes another area's private src/ files; bindings/src
    uses public headers only; an engine or sim area includes only the public headers of the areas
    it depends on (DEPS in engine/CMakeLists.txt and sim/CMakeLists.txt, transitively); the Python
    package does not import the test suites.
(b) Every path-like reference to docs/... in a tracked file exists (with its #anchor, for
    Markdown files), every relative link inside docs/ resolves, and docs/fault-points.md has one
    section per registered fault point (engine/src/core/fault_points.cpp) and no other.
(c) No tracked file outside docs/ points at material a clone does not have (the old shared notes)
    or at this project's tracker ("issue N", "item N").

Run without a build (the scenarios' conftest loads the cryptnode plugin, which needs _core):
    /usr/bin/python3 -m pytest --noconftest scenarios/test_architecture.py
or  /usr/bin/python3 scenarios/test_architecture.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
# This file quotes the patterns it looks for (in its checkers' own tests): (b) and (c) skip it.
SELF = "scenarios/test_architecture.py"

SOURCE_EXT = {".c", ".cc", ".cpp", ".cxx", ".h", ".hh", ".hpp", ".inc"}
SKIP_DIRS = {".git", "_build", "build", "dist", "__pycache__", ".venv", ".pytest_cache"}


# --- the file set ----------------------------------------------------------------------------

def repo_files(root: Path) -> List[str]:
    """Tracked files (relative, '/'-separated) that exist in the work tree; every file under root
    when it is not a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True,
                             check=True).stdout.decode("utf-8", "replace")
        files = [f for f in out.split("\0") if f]
        if files:
            return sorted(f for f in files if (root / f).is_file())
    except (OSError, subprocess.CalledProcessError):
        pass
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            found.append(os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/"))
    return sorted(found)


def read_text(path: Path) -> Optional[str]:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None  # binary
    return data.decode("utf-8", "replace")


# --- (a) layering ----------------------------------------------------------------------------

Area = Tuple[str, str]  # (layer, area), e.g. ("engine", "keys")

AREA_CALL = re.compile(r"cryptnode_area\s*\(([^)]*)\)", re.S)
INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', re.M)

# Public headers whose owning area cannot be told from their name (see header_owner).
HEADER_OWNER_OVERRIDES: Dict[Tuple[str, str], str] = {
    ("engine", "env.h"): "core",
    ("engine", "error.h"): "core",
    ("engine", "secret.h"): "core",
}


def parse_areas(root: Path, layer: str) -> Dict[str, Set[Area]]:
    """{area: direct dependencies} from <layer>/CMakeLists.txt. `cryptnode_engine` (or
    `cryptnode_sim`) as a dependency stands for every area of that layer."""
    text = read_text(root / layer / "CMakeLists.txt") or ""
    text = re.sub(r"#[^\n]*", "", text)
    raw: Dict[str, List[str]] = {}
    for m in AREA_CALL.finditer(text):
        tokens = m.group(1).split()
        if len(tokens) < 2 or tokens[0] != layer:
            continue
        deps, mode = [], None
        for t in tokens[2:]:
            if t in ("DEPS", "LIBS"):
                mode = t
            elif mode == "DEPS":
                deps.append(t)
        raw[tokens[1]] = deps
    return {area: set(_dep_targets(deps)) for area, deps in raw.items()}


def _dep_targets(deps: Iterable[str]) -> Iterable[Area]:
    for d in deps:
        if d.startswith("cn_"):
            yield ("?", d[3:])  # layer resolved by all_areas()
        elif d.startswith("cryptnode_"):
            yield (d[len("cryptnode_"):], "*")


def all_areas(root: Path) -> Dict[Area, Set[Area]]:
    """Every area of engine/ and sim/ with its transitive dependencies."""
    per_layer = {layer: parse_areas(root, layer) for layer in ("engine", "sim")}
    direct: Dict[Area, Set[Area]] = {}
    for layer, areas in per_layer.items():
        for area, deps in areas.items():
            resolved: Set[Area] = set()
            for dep_layer, dep in deps:
                if dep == "*":
                    resolved |= {(dep_layer, a) for a in per_layer.get(dep_layer, {})}
                elif dep in per_layer[layer]:
                    resolved.add((layer, dep))
                else:
                    resolved |= {(other, dep) for other in per_layer if dep in per_layer[other]}
            direct[(layer, area)] = resolved
    closure: Dict[Area, Set[Area]] = {}

    def visit(a: Area, stack: Tuple[Area, ...] = ()) -> Set[Area]:
        if a in closure:
            return closure[a]
        if a in stack:
            return set()  # a cycle is CMake's to report
        out: Set[Area] = set()
        for d in direct.get(a, ()):
            out.add(d)
            out |= visit(d, stack + (a,))
        closure[a] = out
        return out

    for a in direct:
        visit(a)
    return closure


def header_owner(root: Path, layer: str, rel: str, areas: Iterable[str]) -> Optional[str]:
    """The area a public header (path below include/cryptnode/<layer>/) belongs to: its
    subdirectory; else an area named like it; else the area with a source of the same name
    (or `<name>_*.cpp`); else the area its name starts with; else HEADER_OWNER_OVERRIDES."""
    areas = sorted(areas)
    if (layer, rel) in HEADER_OWNER_OVERRIDES:
        return HEADER_OWNER_OVERRIDES[(layer, rel)]
    parts = rel.split("/")
    if len(parts) > 1 and parts[0] in areas:
        return parts[0]
    stem = Path(rel).stem
    if stem in areas:
        return stem
    for area in areas:
        src = root / layer / "src" / area
        if (src / f"{stem}.cpp").exists() or any(src.glob(f"{stem}_*.cpp")):
            return area
    prefix = stem.split("_")[0]
    if prefix in areas:
        return prefix
    return HEADER_OWNER_OVERRIDES.get((layer, rel))


def _owner_of_file(root: Path, rel: str, areas_by_layer: Dict[str, Set[str]]
                   ) -> Optional[Area]:
    """The area a file of engine/ or sim/ belongs to (src/<area>/... or a public header)."""
    parts = rel.split("/")
    layer = parts[0]
    if layer not in areas_by_layer:
        return None
    if len(parts) > 3 and parts[1] == "src":
        return (layer, parts[2])
    # <layer>/tests/<area>_<what>_test.cpp is built with cn_<area> (cmake/cryptnode_area.cmake):
    # it belongs to that area, private headers included.
    if len(parts) == 3 and parts[1] in ("tests", "bench"):
        area = parts[2].split("_")[0]
        if area in areas_by_layer[layer]:
            return (layer, area)
    prefix = f"{layer}/include/cryptnode/{layer}/"
    if rel.startswith(prefix):
        owner = header_owner(root, layer, rel[len(prefix):], areas_by_layer[layer])
        return (layer, owner) if owner else None
    return None


def _describe(a: Area) -> str:
    return f"{a[0]}/{a[1]}"


def layering_violations(root: Path, files: Optional[List[str]] = None) -> List[str]:
    files = repo_files(root) if files is None else files
    closure = all_areas(root)
    areas_by_layer: Dict[str, Set[str]] = defaultdict(set)
    for layer, area in closure:
        areas_by_layer[layer].add(area)
    out: List[str] = []

    # Every src/<area> folder must be a declared area, or its dependencies are unknown.
    for layer in ("engine", "sim"):
        src = root / layer / "src"
        if src.is_dir():
            for d in sorted(p.name for p in src.iterdir() if p.is_dir()):
                if d not in areas_by_layer[layer]:
                    out.append(f"{layer}/src/{d} is not declared with cryptnode_area in "
                               f"{layer}/CMakeLists.txt")

    for rel in files:
        path = root / rel
        if path.suffix not in SOURCE_EXT:
            continue
        layer = rel.split("/")[0]
        if layer not in ("engine", "sim", "bindings"):
            continue
        text = read_text(path)
        if text is None:
            continue
        own = _owner_of_file(root, rel, areas_by_layer)
        if layer in ("engine", "sim") and own is None and (
                rel.startswith(f"{layer}/include/") or rel.startswith(f"{layer}/src/")):
            out.append(f"{rel}: cannot tell which {layer} area owns it (add it to "
                       "HEADER_OWNER_OVERRIDES in scenarios/test_architecture.py)")
        for m in INCLUDE.finditer(text):
            out.extend(_check_include(root, rel, layer, own, m.group(1), m.group(2).strip(),
                                      closure, areas_by_layer))
    return out


def _check_include(root: Path, rel: str, layer: str, own: Optional[Area], delim: str, inc: str,
                   closure: Dict[Area, Set[Area]], areas_by_layer: Dict[str, Set[str]]
                   ) -> List[str]:
    where = f"{rel} includes {inc}"
    if inc == "Python.h" or inc.startswith("pybind11/"):
        if layer in ("engine", "sim"):
            above = "Python" if inc == "Python.h" else "bindings"
            return [f"{where} ({above} above {layer})"]
        return []
    if inc.startswith("cryptnode/"):
        target_layer = inc.split("/")[1]
        if target_layer == "sim" and layer == "engine":
            return [f"{where} (sim above engine)"]
        if target_layer not in areas_by_layer or own is None:
            return []
        header = root / target_layer / "include" / inc
        if not header.exists():
            return []  # the compiler reports a missing header
        owner = header_owner(root, target_layer, inc.split("/", 2)[2],
                             areas_by_layer[target_layer])
        if owner is None:
            return [f"{where}: cannot tell which {target_layer} area owns it (add it to "
                    "HEADER_OWNER_OVERRIDES in scenarios/test_architecture.py)"]
        target = (target_layer, owner)
        if target == own or target in closure.get(own, set()):
            return []
        if own in closure.get(target, set()):
            return [f"{where} ({_describe(target)} above {_describe(own)})"]
        return [f"{where} ({_describe(target)} is not a dependency of {_describe(own)} in "
                f"{own[0]}/CMakeLists.txt)"]
    if delim == "<":
        return []  # a system or third-party header
    # A quoted include that is not a public header: it must be a file of the includer's own
    # folder (or test support), never another area's private files or a higher layer's.
    resolved = (root / rel).parent / inc
    if resolved.exists():
        target_rel = os.path.relpath(resolved.resolve(), root.resolve()).replace(os.sep, "/")
    else:
        if inc.endswith(".pb.h"):
            return []  # generated into the build tree (sim/proto)
        base = Path(inc).name
        hits = [p for lyr in ("engine", "sim") for p in (root / lyr / "src").rglob(base)
                if (root / lyr / "src").is_dir()]
        if not hits:
            return []
        target_rel = os.path.relpath(hits[0], root).replace(os.sep, "/")
    tparts = target_rel.split("/")
    if tparts[0] == "bindings" and layer in ("engine", "sim"):
        return [f"{where} (bindings above {layer})"]
    if len(tparts) > 3 and tparts[0] in ("engine", "sim") and tparts[1] == "src":
        target = (tparts[0], tparts[2])
        if layer == "bindings":
            return [f"{where} (private header of {_describe(target)}: bindings use public "
                    "headers only and hold no logic)"]
        if own != target:
            return [f"{where} (private header of {_describe(target)}; "
                    f"{_describe(own) if own else rel} may use its public headers only)"]
    return []


PY_IMPORT = re.compile(r"^\s*(?:from|import)\s+(scenarios|vmtests)\b", re.M)


def python_layer_violations(root: Path, files: Optional[List[str]] = None) -> List[str]:
    files = repo_files(root) if files is None else files
    out = []
    for rel in files:
        if rel.startswith("bindings/python/") and rel.endswith(".py"):
            for m in PY_IMPORT.finditer(read_text(root / rel) or ""):
                out.append(f"{rel} imports {m.group(1)} ({m.group(1)} above bindings/python)")
    return out


def test_layering():
    violations = layering_violations(ROOT) + python_layer_violations(ROOT)
    assert not violations, "layering violations:\n" + "\n".join(violations)


def test_layering_checker_reports_violations(tmp_path):
    """The checker itself: a small tree with one violation of each kind."""
    def write(rel, text):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    write("engine/CMakeLists.txt", "cryptnode_area(engine core)\n"
          "cryptnode_area(engine luks2 DEPS cn_core LIBS x)\n"
          "cryptnode_area(engine meta DEPS cn_core)\n"
          "cryptnode_area(engine volume DEPS cn_luks2\n   cn_core)\n")
    write("sim/CMakeLists.txt", "cryptnode_area(sim node DEPS cryptnode_engine)\n")
    write("engine/include/cryptnode/engine/error.h", "")
    write("engine/include/cryptnode/engine/luks2.h", '#include "cryptnode/engine/error.h"\n')
    write("engine/include/cryptnode/engine/meta.h", "")
    write("engine/include/cryptnode/engine/volume.h", '#include "cryptnode/engine/luks2.h"\n')
    write("engine/src/core/error.cpp", '#include "cryptnode/engine/error.h"\n')
    write("engine/src/luks2/device.cpp", '#include "cryptnode/engine/volume.h"\n'
          '#include "cryptnode/sim/node.h"\n#include <pybind11/pybind11.h>\n')
    write("engine/src/meta/adv.cpp", '#include "cryptnode/engine/luks2.h"\n'
          '#include "../volume/private.h"\n')
    write("engine/src/volume/private.h", "")
    write("engine/src/volume/lifecycle.cpp", '#include "private.h"\n'
          '#include "cryptnode/engine/meta.h"\n')
    write("engine/src/stray/x.cpp", "")
    write("sim/include/cryptnode/sim/node.h", '#include "cryptnode/engine/volume.h"\n')
    write("sim/src/node/node.cpp", '#include "cryptnode/sim/node.h"\n#include <Python.h>\n')
    write("bindings/src/module.cpp", '#include "cryptnode/sim/node.h"\n'
          '#include "../../engine/src/volume/private.h"\n')
    write("bindings/python/cryptnode/x.py", "from scenarios import configs\n")

    got = set(layering_violations(tmp_path) + python_layer_violations(tmp_path))
    assert got == {
        "engine/src/stray is not declared with cryptnode_area in engine/CMakeLists.txt",
        "engine/src/luks2/device.cpp includes cryptnode/engine/volume.h "
        "(engine/volume above engine/luks2)",
        "engine/src/luks2/device.cpp includes cryptnode/sim/node.h (sim above engine)",
        "engine/src/luks2/device.cpp includes pybind11/pybind11.h (bindings above engine)",
        "engine/src/meta/adv.cpp includes cryptnode/engine/luks2.h "
        "(engine/luks2 is not a dependency of engine/meta in engine/CMakeLists.txt)",
        "engine/src/meta/adv.cpp includes ../volume/private.h (private header of engine/volume; "
        "engine/meta may use its public headers only)",
        "engine/src/volume/lifecycle.cpp includes cryptnode/engine/meta.h "
        "(engine/meta is not a dependency of engine/volume in engine/CMakeLists.txt)",
        "sim/src/node/node.cpp includes Python.h (Python above sim)",
        "bindings/src/module.cpp includes ../../engine/src/volume/private.h (private header of "
        "engine/volume: bindings use public headers only and hold no logic)",
        "bindings/python/cryptnode/x.py imports scenarios (scenarios above bindings/python)",
    }


# --- (b) docs references ---------------------------------------------------------------------

DOCS_REF = re.compile(r"(?<![\w./-])docs/[\w./#-]*[\w/]")
MD_LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
FENCE = re.compile(r"^\s*(```|~~~)")


def github_slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def markdown_anchors(text: str) -> Set[str]:
    anchors: Set[str] = set()
    seen: Dict[str, int] = defaultdict(int)
    in_fence = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        m = None if in_fence else HEADING.match(line)
        if m:
            base = github_slug(m.group(2))
            anchors.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
            seen[base] += 1
    return anchors


def _check_target(root: Path, target: Path, anchor: Optional[str], where: str) -> List[str]:
    if not target.exists():
        return [f"{where}: {os.path.relpath(target, root)} does not exist"]
    if anchor and target.suffix == ".md":
        if anchor not in markdown_anchors(read_text(target) or ""):
            return [f"{where}: no heading with anchor #{anchor} in "
                    f"{os.path.relpath(target, root)}"]
    return []


def docs_reference_problems(root: Path, files: Optional[List[str]] = None) -> List[str]:
    files = repo_files(root) if files is None else files
    out: List[str] = []
    for rel in files:
        text = None if rel == SELF else read_text(root / rel)
        if text is None:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for m in DOCS_REF.finditer(line):
                path, _, anchor = m.group(0).partition("#")
                out += _check_target(root, root / path, anchor or None,
                                     f"{rel}:{lineno} ({m.group(0)})")
            if rel.startswith("docs/") and rel.endswith(".md"):
                for m in MD_LINK.finditer(line):
                    link = m.group(1)
                    if re.match(r"^[a-z][a-z0-9+.-]*:", link):
                        continue  # http:, https:, mailto:
                    path, _, anchor = link.partition("#")
                    target = (root / rel).parent / path if path else root / rel
                    out += _check_target(root, target, anchor or None,
                                         f"{rel}:{lineno} ({link})")
    return out


FAULT_POINT = re.compile(r'\{\s*"([a-z0-9_]+(?:\.[a-z0-9_]+)+)"\s*,')
FAULT_HEADING = re.compile(r"^#{2,6}\s+`([^`]+)`\s*$", re.M)


def fault_point_doc_problems(root: Path) -> List[str]:
    registry = read_text(root / "engine/src/core/fault_points.cpp")
    doc = read_text(root / "docs/fault-points.md")
    if registry is None:
        return []
    if doc is None:
        return ["docs/fault-points.md is missing"]
    names = FAULT_POINT.findall(registry)
    documented = FAULT_HEADING.findall(doc)
    out = [f"fault point {n} (engine/src/core/fault_points.cpp) has no section in "
           "docs/fault-points.md" for n in names if n not in documented]
    out += [f"docs/fault-points.md describes {n}, which is not in the registry"
            for n in documented if n not in names]
    return out


def test_docs_references_exist():
    problems = docs_reference_problems(ROOT) + fault_point_doc_problems(ROOT)
    assert not problems, "broken docs references:\n" + "\n".join(problems)


def test_docs_checker_reports_broken_references(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/a.md").write_text(
        "# Title\n## Some `code` here\n```\n# not a heading\n```\n"
        "[ok](b.md#b) [bad](b.md#nope) [gone](c.md) [web](https://x)\n")
    (tmp_path / "docs/b.md").write_text("# B\n")
    (tmp_path / "x.cpp").write_text("// see docs/a.md#some-code-here and docs/a.md#not-a-heading,\n"
                                    "// docs/missing.md. siderolabs/docs/ignored.md\n")
    got = docs_reference_problems(tmp_path, ["docs/a.md", "docs/b.md", "x.cpp"])
    assert got == [
        "docs/a.md:6 (b.md#nope): no heading with anchor #nope in docs/b.md",
        "docs/a.md:6 (c.md): docs/c.md does not exist",
        "x.cpp:1 (docs/a.md#not-a-heading): no heading with anchor #not-a-heading in docs/a.md",
        "x.cpp:2 (docs/missing.md): docs/missing.md does not exist",
    ]


# --- (c) no references outside the repository ------------------------------------------------

# Built from pieces so that this file does not match itself.
OUTSIDE_DOCS = ["../" + "shared", "TALOS-" + "SPEC", "TALOS-" + "DISK", "BUILD-" + "NOTES",
                "DESIGN" + ".md", "TPM-" + "NOTES", "VM-" + "NOTES"]
TRACKER = re.compile(r"\b(?:issue|item)s? \d+\b", re.I)


def outside_reference_problems(root: Path, files: Optional[List[str]] = None) -> List[str]:
    files = repo_files(root) if files is None else files
    out: List[str] = []
    for rel in files:
        if rel.startswith("docs/") or rel == SELF:
            continue
        text = read_text(root / rel)
        if text is None:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for word in OUTSIDE_DOCS:
                if word in line:
                    out.append(f"{rel}:{lineno}: cites {word} (see docs/.citation-map.tsv)")
            for m in TRACKER.finditer(line):
                out.append(f"{rel}:{lineno}: cites the project tracker ({m.group(0)})")
    return out


def test_no_references_outside_the_repository():
    problems = outside_reference_problems(ROOT)
    assert not problems, "references to material outside the repository:\n" + "\n".join(problems)


def test_outside_reference_checker(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/x.md").write_text("TALOS-" + "SPEC is fine inside docs/\n")
    (tmp_path / "a.py").write_text('"""Flows (issue 4, item 8)."""\n# siderolabs/talos#13827 ok\n')
    (tmp_path / "b.h").write_text("// see " + "DESIGN" + ".md §2\n")
    got = outside_reference_problems(tmp_path, ["docs/x.md", "a.py", "b.h"])
    assert got == [
        "a.py:1: cites the project tracker (issue 4)",
        "a.py:1: cites the project tracker (item 8)",
        "b.h:1: cites " + "DESIGN" + ".md (see docs/.citation-map.tsv)",
    ]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "--noconftest", "-q"] + sys.argv[1:]))
