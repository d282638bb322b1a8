"""The crash matrix (bindings/python/cryptnode/crash_matrix.py, docs/fault-points.md): the power is
cut at every fault point of a first boot, of each step of a key rotation, of a STATE key change
applied without a reboot, of a reset of two volumes and of a STATE migration unencrypted ->
encrypted; the next boot must do what Talos does there (open with the old or the new key, or fail
with Talos' error and recover as Talos would), with the data written before the operation intact
wherever Talos keeps it. Each row is a test of its own; the rows selected for the session run once
for the module.

`make test` runs a representative subset (SUBSET: every registered fault point and every flow at
least once); the other rows carry the `exhaustive` marker, which `make test` deselects and
`make test-exhaustive` runs (the whole matrix, every counted instance)."""

import os

import pytest

from cryptnode import crash_matrix, fault_points

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="simulated nodes need root"),
              pytest.mark.kms, pytest.mark.slow]

ROWS = [(s.flow, c.point) for s in crash_matrix.steps(None) for c in s.cases]


def _subset(rows):
    """The first row of each registered point and of each flow, in the matrix's order."""
    points, flows, out = set(), set(), []
    for flow, point in rows:
        name = point.split("#")[0]
        if name not in points or flow not in flows:
            out.append((flow, point))
        points.add(name)
        flows.add(flow)
    return out


SUBSET = _subset(ROWS)


def _id(flow, point):
    return f"{flow.split(':')[0].split(' (')[0]}:{point}"


@pytest.fixture(scope="module")
def matrix(request, tmp_path_factory):
    """The rows whose test_crash_point this session runs (after -m / -k deselection; the subset
    when none does), run once."""
    wanted = {(item.callspec.params["flow"], item.callspec.params["point"])
              for item in request.session.items
              if item.module is request.module and getattr(item, "originalname", "") ==
              "test_crash_point"} or set(SUBSET)
    root = tmp_path_factory.mktemp("crash-matrix")  # beneath the session: the leak check sees it
    rows = crash_matrix.run(root=str(root), only=lambda r: (r.flow, r.point) in wanted)
    return {(r.flow, r.point): r for r in rows}


@pytest.mark.parametrize("flow,point", [
    pytest.param(f, p, id=_id(f, p), marks=() if (f, p) in SUBSET else pytest.mark.exhaustive)
    for f, p in ROWS])
def test_crash_point(matrix, flow, point):
    row = matrix[(flow, point)]
    assert row.ok, f"{flow}: {point} ({row.where}): {row.result}; Talos: {row.expect}"


def test_every_registered_fault_point_is_driven():
    assert {p.split("#")[0] for _, p in ROWS} == {name for name, _ in fault_points()}


def test_the_default_subset_drives_every_point_and_every_flow():
    assert {p.split("#")[0] for _, p in SUBSET} == {name for name, _ in fault_points()}
    assert {f for f, _ in SUBSET} == {f for f, _ in ROWS}
    assert len(SUBSET) < len(ROWS)


def test_rows_are_unique_and_counted_instances_are_well_formed():
    assert len(set(ROWS)) == len(ROWS)
    for _, point in ROWS:
        if "#" in point:
            assert int(point.split("#")[1]) >= 2, point  # "#1" is the bare name


def test_table_lists_every_row_and_the_totals(matrix):
    assert matrix, "no row ran"
    text = crash_matrix.table(list(matrix.values()))
    for flow, point in matrix:
        assert flow in text and point in text
    bad = sum(not r.ok for r in matrix.values())
    assert text.splitlines()[-1] == (f"{len(matrix)} crash points, {len(matrix) - bad} as Talos "
                                     f"would, {bad} not")


def test_cli_runs_a_selection_as_json(cli):
    r = cli("crash-matrix", "--only", "rotation 3/3", "after_kill#2", "-o", "json")
    assert r.returncode == 0, r
    rows = r.json()
    assert [(x["point"], x["ok"]) for x in rows] == [("encryption.after_kill#2", True)]
    assert "token 2 stays" in rows[0]["expect"]
    r = cli("crash-matrix", "--only", "no such flow")
    assert r.returncode == 1 and "no row matches" in r.stderr
