"""The pytest plugin: state in config.stash, the node/node_factory/kms/crash_at fixtures, and a leak
check that reports this session's leftovers only (never fusectl, never another session's)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cryptnode import pytest_plugin
from cryptnode.host import Mount, mounts

ROOT = Path(__file__).resolve().parents[1]


def test_state_lives_in_the_config_stash(request):
    snap = request.config.stash[pytest_plugin.SNAPSHOT]
    assert set(snap) == {"loop devices", "mounts", "swtpm processes"}
    assert not [n for n in vars(pytest_plugin) if n.startswith("_before")]


def test_fusectl_is_never_a_leftover(monkeypatch):
    assert all(m.fstype != "fusectl" for m in mounts())
    fake = "fusectl /sys/fs/fuse/connections fusectl rw 0 0\nfuse /mnt/x fuse.x rw 0 0\n"
    import builtins
    real_open = builtins.open

    def fake_open(path, *a, **kw):
        if path == "/proc/self/mounts":
            import io
            return io.StringIO(fake)
        return real_open(path, *a, **kw)

    monkeypatch.setattr(builtins, "open", fake_open)
    assert mounts() == [Mount("fuse", "/mnt/x", "fuse.x")]


def _session_dir(tmp_path):
    d = tmp_path / "pytest-of-someone" / "pytest-7"
    d.mkdir(parents=True)
    return d


def test_leftovers_of_another_session_are_not_ours(tmp_path):
    theirs = _session_dir(tmp_path / "a")  # a concurrent session's basetemp
    ours = _session_dir(tmp_path / "b")
    before = {"loop devices": {"/dev/loop1": "/old.img"}, "mounts": {}, "swtpm processes": {}}
    after = {
        "loop devices": {"/dev/loop1": "/old.img",
                         "/dev/loop2": f"{theirs}/test_x0/node0/disks/system.img",
                         "/dev/loop3": f"{ours}/test_y0/node0/disks/system.img",
                         "/dev/loop4": "/srv/images/outside.img"},
        "mounts": {f"{theirs}/m": f"{theirs}/m", f"{ours}/m": f"{ours}/m"},
        "swtpm processes": {"99": f"swtpm socket --tpmstate dir={theirs}/tpm",
                            "98": f"swtpm socket --tpmstate dir={ours}/tpm"},
    }
    assert pytest_plugin.leftovers(before, after, roots=[str(ours)]) == {
        "loop devices": ["/dev/loop3"],  # loop4 is another suite's (outside pytest)
        "mounts": [f"{ours}/m"],
        "swtpm processes": ["98"],
    }


def test_a_session_run_by_a_test_shares_its_parents_leftovers(request, tmp_path, monkeypatch):
    """A pytest run inside a test (like test_leak_check) owns what it leaks in its parent's
    temporary directory: it inherits the parent's roots through the environment."""
    assert str(tmp_path).startswith(request.config.stash[pytest_plugin.ROOTS][0])
    inherited = os.environ[pytest_plugin.ROOTS_ENV]  # what a session started now would inherit
    child = pytest_plugin.session_roots("/t/pytest-of-root/pytest-9", inherited, False)
    monkeypatch.setenv(pytest_plugin.ROOTS_ENV, json.dumps(child))
    after = {"loop devices": {"/dev/loop5": f"{tmp_path}/leak.img"}}
    assert pytest_plugin.leftovers({}, after) == {"loop devices": ["/dev/loop5"]}


def test_fixtures_in_a_session_of_their_own(tmp_path):
    """node, kms and crash_at from the plugin, in a pytest run of their own that must pass its
    leak check."""
    if os.geteuid() != 0:
        pytest.skip("simulated nodes need root")
    (tmp_path / "conftest.py").write_text((ROOT / "scenarios" / "conftest.py").read_text())
    (tmp_path / "test_fixtures.py").write_text(textwrap.dedent("""
        import cryptnode
        from cryptnode.configs import config, kms as kms_key, volume_config

        def test_node_and_kms(node, kms):
            node.boot(config=config(volume_config("EPHEMERAL", keys=[kms_key(kms.endpoint)])))
            assert node.volume_status("EPHEMERAL").phase == "ready"
            assert kms.calls >= 1

        def test_crash_at(node, crash_at):
            node.boot(config=config())
            crash_at(node, "apply_config.after_persist", "apply_config",
                     config(volume_config("EPHEMERAL")), mode="no-reboot")
            assert node.last_crash == "apply_config.after_persist"

        def test_node_factory(node_factory):
            a, b = node_factory(), node_factory(talos_version="1.14")
            assert a.path != b.path
    """))
    import cryptnode
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(cryptnode.__file__)))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 passed" in r.stdout and "leak check" not in r.stdout


def test_a_swtpm_run_directory_left_after_close_fails_the_test(tmp_path):
    """node_factory's teardown fails a test whose node left its swtpm run directory behind (here a
    stray file keeps it from being removed at close)."""
    if os.geteuid() != 0:
        pytest.skip("simulated nodes need root")
    (tmp_path / "conftest.py").write_text((ROOT / "scenarios" / "conftest.py").read_text())
    (tmp_path / "test_stray.py").write_text(textwrap.dedent("""
        import os
        from cryptnode.configs import config

        def test_stray_file_in_the_run_directory(node):
            node.boot(config=config())
            with open(os.path.join(node.swtpm_run_dir, "stray"), "w") as f:
                f.write("x")
            print("RUN_DIR=" + node.swtpm_run_dir)
    """))
    import cryptnode
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(cryptnode.__file__)))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                        str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path,
                       timeout=600)
    run_dir = next((line.split("=", 1)[1] for line in r.stdout.splitlines()
                    if line.startswith("RUN_DIR=")), None)
    if run_dir and os.path.isdir(run_dir):
        for name in os.listdir(run_dir):
            os.remove(os.path.join(run_dir, name))
        os.rmdir(run_dir)
    assert run_dir, r.stdout + r.stderr
    assert r.returncode != 0, r.stdout
    assert "swtpm run directory left after close: " + run_dir in r.stdout, r.stdout
