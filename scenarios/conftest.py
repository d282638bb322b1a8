import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # scenarios/configs.py


def pytest_configure(config):
    # The plugin is also an entry point of the installed package: load it only once.
    pm = config.pluginmanager
    if not pm.has_plugin("cryptnode") and not pm.has_plugin("cryptnode.pytest_plugin"):
        pm.import_plugin("cryptnode.pytest_plugin")


def _package_root() -> str:
    import cryptnode
    return os.path.dirname(os.path.dirname(os.path.abspath(cryptnode.__file__)))  # no resolve()


def run_cli(*args, stdin=None, timeout=600):
    """`python3 -m cryptnode ARGS` as a user runs it, with the package this test imported. stdin:
    str or bytes."""
    env = dict(os.environ, PYTHONPATH=_package_root())
    return subprocess.run([sys.executable, "-m", "cryptnode", *map(str, args)],
                          capture_output=True, env=env, timeout=timeout,
                          input=stdin.encode() if isinstance(stdin, str) else stdin,
                          text=False)


class Result:
    """subprocess.CompletedProcess with text stdout/stderr (bytes kept in .raw_*)."""

    def __init__(self, r):
        self.returncode = r.returncode
        self.raw_stdout, self.raw_stderr = r.stdout, r.stderr
        self.stdout = r.stdout.decode(errors="replace")
        self.stderr = r.stderr.decode(errors="replace")

    def json(self):
        return json.loads(self.stdout)

    def __repr__(self):
        return f"Result(rc={self.returncode}, stdout={self.stdout!r}, stderr={self.stderr!r})"


@pytest.fixture
def cli():
    """cli(*args, stdin=None) -> Result (returncode, stdout, stderr, json())."""
    return lambda *args, **kw: Result(run_cli(*args, **kw))


@pytest.fixture
def node_dir(tmp_path, cli):
    """A node directory made by `cryptnode node create`; its node process (if any) is shut down
    at the end of the test, and leftovers of a killed one are cleared."""
    if os.geteuid() != 0:
        pytest.skip("simulated nodes need root")
    d = tmp_path / "n"
    r = cli("node", "create", d)
    assert r.returncode == 0, r
    yield d
    cli("-n", d, "shutdown")
