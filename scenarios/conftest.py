import os
import sys

sys.path.insert(0, os.path.dirname(__file__))  # scenarios/configs.py

pytest_plugins = ["cryptnode.pytest_plugin"]
