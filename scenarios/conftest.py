import os
import sys

sys.path.insert(0, os.path.dirname(__file__))  # scenarios/configs.py


def pytest_configure(config):
    # The plugin is also an entry point of the installed package: load it only once.
    pm = config.pluginmanager
    if not pm.has_plugin("cryptnode") and not pm.has_plugin("cryptnode.pytest_plugin"):
        pm.import_plugin("cryptnode.pytest_plugin")
