"""docs/conformance.md is enforced: every row names a test, every named test exists (and is not
skipped unconditionally), and every row of the version table (`cryptnode versions -o json`,
engine/src/versions/table.cpp) has a row of the page's "Version rules" section with the same rule
id and range — and that section has no other row.

Test names: pytest node ids as `pytest --collect-only -q` lists them (the parameters may be left
off: any case of a parametrised test counts), GoogleTest names `Suite.Name` as declared with
TEST(, TEST_F( or TEST_P( in engine/tests/ and sim/tests/ (read from the sources: no build)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "conformance.md"
RULES_SECTION = "Version rules"
STATUSES = ("reproduced", "newest everywhere", "boundary only")

GTEST_DECL = re.compile(r"^[ \t]*TEST(?:_F|_P)?\(\s*(\w+)\s*,\s*(\w+)\s*\)", re.M)
GTEST_NAME = re.compile(r"^[A-Za-z_]\w*\.[A-Za-z_]\w*$")
PYTEST_NAME = re.compile(r"^[\w./-]+\.py::[\w\[\]:.-]+$")
RANGE = re.compile(r"^since (\S+)(?: until (\S+))?$")


# --- parsing the page -----------------------------------------------------------------------

@dataclass
class Row:
    line: int
    section: str
    cells: Dict[str, str]

    def where(self) -> str:
        return f"docs/conformance.md:{self.line}"


def split_cells(line: str) -> List[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") else body
    return [c.strip() for c in body.split("|")]


def parse_rows(text: str) -> List[Row]:
    """Every body row of every Markdown table, keyed by its table's header names (lower case)."""
    rows: List[Row] = []
    section, header = "", None
    lines = text.splitlines()
    for i, line in enumerate(lines, 1):
        if line.startswith("#"):
            section, header = line.lstrip("#").strip(), None
            continue
        if not line.lstrip().startswith("|"):
            header = None
            continue
        cells = split_cells(line)
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if all(re.fullmatch(r":?-+:?", c) for c in cells):
            continue
        rows.append(Row(i, section, dict(zip(header, cells))))
    return rows


def names_in(cell: str) -> List[str]:
    return [t for t in re.findall(r"`([^`]+)`", cell)]


def rule_rows_of_doc(rows: Iterable[Row]) -> List[Row]:
    return [r for r in rows if r.section == RULES_SECTION]


# --- what exists ----------------------------------------------------------------------------

def cpp_tests(root: Path) -> Set[str]:
    """Suite.Name of every GoogleTest declared in engine/tests and sim/tests."""
    found: Set[str] = set()
    for d in ("engine/tests", "sim/tests"):
        for path in sorted((root / d).rglob("*")):
            if path.suffix in (".cpp", ".cc", ".h") and path.is_file():
                for suite, name in GTEST_DECL.findall(path.read_text(errors="replace")):
                    found.add(f"{suite}.{name}")
    return found


# Loaded into `pytest --collect-only -q` (written to a temporary directory on PYTHONPATH): records
# each collected item's id, relative to the repository, and whether a skip mark that holds at
# collection time (skip, or skipif with a true condition) skips it unconditionally.
COLLECT_PLUGIN = textwrap.dedent("""
    import json, os

    def pytest_collection_finish(session):
        from _pytest.skipping import evaluate_skip_marks
        root = os.environ["CONFORMANCE_ROOT"]
        out = {}
        for item in session.items:
            rel = os.path.relpath(str(item.path), root).replace(os.sep, "/")
            nodeid = rel + "::" + item.nodeid.split("::", 1)[1]
            out[nodeid] = evaluate_skip_marks(item) is not None
        with open(os.environ["CONFORMANCE_OUT"], "w") as f:
            json.dump(out, f)
""")


def pytest_items(root: Path, tmp: Path) -> Dict[str, bool]:
    """{pytest node id: skipped unconditionally} for every test under scenarios/."""
    (tmp / "conformance_collect.py").write_text(COLLECT_PLUGIN)
    out = tmp / "items.json"
    import cryptnode
    package_root = str(Path(cryptnode.__file__).resolve().parent.parent)
    env = dict(os.environ, CONFORMANCE_ROOT=str(root), CONFORMANCE_OUT=str(out),
               PYTHONPATH=os.pathsep.join([str(tmp), package_root,
                                           os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                        "-p", "no:cacheprovider", "-p", "conformance_collect", "scenarios"],
                       cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and out.exists(), r.stdout[-4000:] + r.stderr[-4000:]
    return json.loads(out.read_text())


def version_rows() -> List[Tuple[str, str, Optional[str]]]:
    """(rule, since, until) of every row of the version table."""
    import cryptnode
    return [(r["rule"], r["since"], r["until"]) for r in cryptnode.versions()]


# --- the checks -----------------------------------------------------------------------------

def problems(rows: List[Row], cpp: Set[str], py: Dict[str, bool],
             rules: List[Tuple[str, str, Optional[str]]]) -> List[str]:
    out: List[str] = []
    py_bases: Dict[str, List[bool]] = {}
    for nodeid, skipped in py.items():
        py_bases.setdefault(nodeid.split("[", 1)[0], []).append(skipped)

    for row in rows:
        if "tests" not in row.cells:
            out.append(f"{row.where()}: the table has no `tests` column")
            continue
        names = names_in(row.cells["tests"])
        if not names:
            out.append(f"{row.where()}: no test names this behaviour")
        for name in names:
            if "::" in name:
                if not PYTEST_NAME.match(name):
                    out.append(f"{row.where()}: {name!r} is not a pytest node id")
                elif name in py:
                    if py[name]:
                        out.append(f"{row.where()}: {name} is always skipped")
                elif name in py_bases:
                    if all(py_bases[name]):
                        out.append(f"{row.where()}: {name} is always skipped")
                else:
                    out.append(f"{row.where()}: no pytest test {name}")
            elif GTEST_NAME.match(name):
                if name not in cpp:
                    out.append(f"{row.where()}: no GoogleTest {name} in engine/tests or "
                               f"sim/tests")
            else:
                out.append(f"{row.where()}: {name!r} is neither Suite.Name nor a pytest id")
        status = row.cells.get("status", "")
        if not status.startswith(STATUSES):
            out.append(f"{row.where()}: status {status!r} does not start with one of "
                       f"{', '.join(STATUSES)}")

    documented: Dict[Tuple[str, str, Optional[str]], Row] = {}
    for row in rule_rows_of_doc(rows):
        rule = re.findall(r"`([^`]+)`", row.cells.get("rule", ""))
        m = RANGE.match(row.cells.get("versions", ""))
        if len(rule) != 1 or not m:
            out.append(f"{row.where()}: a version rule row needs one `rule` id and "
                       f"versions 'since A [until B]'")
            continue
        key = (rule[0], m.group(1), m.group(2))
        if key in documented:
            out.append(f"{row.where()}: {key} is documented twice")
        documented[key] = row
    for key in rules:
        if key not in documented:
            rng = f"since {key[1]}" + (f" until {key[2]}" if key[2] else "")
            out.append(f"docs/conformance.md: version rule {key[0]} ({rng}) has no row")
    for key, row in documented.items():
        if key not in rules:
            out.append(f"{row.where()}: {key[0]} {row.cells['versions']} is not a row of the "
                       f"version table")
    return out


# --- the tests ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def collected(tmp_path_factory) -> Dict[str, bool]:
    return pytest_items(ROOT, tmp_path_factory.mktemp("collect"))


def test_conformance_table(collected):
    rows = parse_rows(DOC.read_text())
    assert len(rule_rows_of_doc(rows)) >= len(version_rows())
    assert problems(rows, cpp_tests(ROOT), collected, version_rows()) == []


def test_the_collector_sees_both_kinds_of_test(collected):
    assert "scenarios/test_conformance_table.py::test_conformance_table" in collected
    assert not collected["scenarios/test_conformance_table.py::test_conformance_table"]
    assert any(skipped for skipped in collected.values())  # the catalogue's pending scenarios
    cpp = cpp_tests(ROOT)
    assert "EncryptionHandler.HeaderValidationFromTalos1127RejectsPbkdf2Keyslots" in cpp
    assert "UserspaceTest.XfsThroughTheBackend" in cpp  # TEST_P
    assert "VolumeConfigs.ProcessingOrderIsWaveThenSystemVolumesThenId" in cpp


FAKE_DOC = """
# Conformance

## Version rules

| behaviour | Talos source | versions | rule | status | tests |
| --- | --- | --- | --- | --- | --- |
| a | `x.go` | since 1.9.0 | `rule_a` | reproduced | `Suite.Exists`<br>`scenarios/test_a.py::test_ok` |
| b | `x.go` | since 1.8.0 until 1.8.1 | `rule_b` | reproduced | |
| c | `x.go` | since 1.10.0 | `rule_gone` | boundary only | `Suite.Missing` |
| d | `x.go` | since 1.9.0 | `rule_a` | newest everywhere | `scenarios/test_a.py::test_param` |

## Elsewhere

| behaviour | Talos source | versions | status | tests |
| --- | --- | --- | --- | --- |
| e | `y.go` | all | reproduced | `scenarios/test_a.py::test_skipped`<br>`scenarios/test_a.py::test_none` |
| f | `y.go` | all | mostly | `Not a test` |
"""


def test_the_checker_reports_each_kind_of_gap():
    rows = parse_rows(FAKE_DOC)
    py = {"scenarios/test_a.py::test_ok": False, "scenarios/test_a.py::test_param[1]": False,
          "scenarios/test_a.py::test_param[2]": True, "scenarios/test_a.py::test_skipped": True}
    rules = [("rule_a", "1.9.0", None), ("rule_b", "1.8.0", "1.8.1"), ("rule_c", "1.12.0", None)]
    found = problems(rows, {"Suite.Exists"}, py, rules)
    expected = [
        ":9: no test names this behaviour",
        ":10: no GoogleTest Suite.Missing",
        ":17: scenarios/test_a.py::test_skipped is always skipped",
        ":17: no pytest test scenarios/test_a.py::test_none",
        ":18: 'Not a test' is neither Suite.Name nor a pytest id",
        ":18: status 'mostly' does not start with one of",
        ":11: ('rule_a', '1.9.0', None) is documented twice",
        "version rule rule_c (since 1.12.0) has no row",
        ":10: rule_gone since 1.10.0 is not a row of the version table",
    ]
    for text in expected:
        assert any(text in p for p in found), (text, found)
    assert len(found) == len(expected), found
    # A parametrised test counts while one of its cases runs.
    assert not any("test_param" in p for p in found)


def test_a_row_without_a_tests_column_is_reported():
    rows = parse_rows("## Version rules\n\n| behaviour | rule |\n| --- | --- |\n| a | `r` |\n")
    assert any("no `tests` column" in p for p in problems(rows, set(), {}, []))
