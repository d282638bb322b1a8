"""The catalogue (cryptnode.bugs) against its scenarios, the version table and
docs/talos/bugs.md: one place for the data, the others follow it."""

import os
import subprocess
import sys

import pytest

from bug_helpers import rule_ids
from cryptnode import bugs, known_versions, resolve_version

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "docs", "talos", "bugs.md")


def test_every_bug_has_its_scenario_and_the_scenario_names_it():
    assert sorted(f for f in os.listdir(HERE) if f.startswith("test_") and f != "test_catalogue.py") \
        == sorted(b.scenario for b in bugs.CATALOGUE)
    for b in bugs.CATALOGUE:
        with open(os.path.join(HERE, b.scenario)) as f:
            text = f.read()
        assert f'bug("{b.id}")' in text, b.scenario
        assert text.startswith('"""'), b.scenario  # the docstring: report, releases, what shows


def test_tpm_rows_come_last_and_ids_are_unique():
    kinds = [b.tpm for b in bugs.CATALOGUE]
    assert kinds == sorted(kinds)
    assert len({b.id for b in bugs.CATALOGUE}) == len(bugs.CATALOGUE)


def test_releases_are_node_profiles_and_rules_are_table_rows():
    rules = set(rule_ids())
    for b in bugs.CATALOGUE:
        for v in b.affected + b.fixed:
            assert resolve_version(v) == v, (b.id, v)
        assert set(b.rules) <= rules, (b.id, set(b.rules) - rules)
        if b.skip is None:
            # A runnable scenario shows the bug somewhere, unless it lived before every profile
            # (then it shows the fixed behaviour on fixed releases only).
            assert b.affected or (b.lived_in.startswith("before") and b.fixed), b.id
    assert "1.11.0-beta.1" not in known_versions()  # pre-releases are profiles, not releases


def test_docs_carry_the_catalogue_table():
    with open(DOC) as f:
        doc = f.read()
    assert bugs.markdown_table() in doc, "docs/talos/bugs.md: regenerate the table from " \
        "cryptnode.bugs.markdown_table()"


def test_cli_lists_the_catalogue():
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(bugs.__file__)))
    r = subprocess.run([sys.executable, "-m", "cryptnode", "bugs", "-o", "json"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    import json
    rows = json.loads(r.stdout)
    assert [x["bug"] for x in rows] == [b.id for b in bugs.CATALOGUE]
    assert all(x["reproduced"] in (None, "skip") for x in rows)
    assert {x["bug"] for x in rows if x["reproduced"] == "skip"} == \
        {b.id for b in bugs.CATALOGUE if b.skip}
    r = subprocess.run([sys.executable, "-m", "cryptnode", "bugs", "talos#0"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "unknown bug 'talos#0'" in r.stderr


@pytest.mark.parametrize("b", [b for b in bugs.CATALOGUE if b.tpm], ids=lambda b: b.id)
def test_tpm_rows_run(b):
    """TPM keys work on the node (swtpm, measured boot): no TPM row waits any more."""
    assert b.skip is None


def test_only_the_unreproducible_row_is_skipped():
    assert [b.id for b in bugs.CATALOGUE if b.skip] == ["talos#11725"]
