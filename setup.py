"""Builds cryptnode._core through CMake for `pip install .` (the pybind11 cmake_example pattern).
Debian packages only: run pip with --no-build-isolation (PyPI is not reachable)."""

import os
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        out_dir = Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build_dir = ROOT / "_build" / "pip"
        build_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([
            "cmake", "-S", str(ROOT), "-B", str(build_dir),
            f"-DPython3_EXECUTABLE={sys.executable}",
            "-DCMAKE_BUILD_TYPE=Release",
            "-DCRYPTNODE_TESTS=OFF",
            f"-DCRYPTNODE_PYTHON_OUTPUT_DIR={out_dir}",
        ], check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "_core",
                        f"-j{os.environ.get('CMAKE_BUILD_PARALLEL_LEVEL', '2')}"], check=True)


setup(ext_modules=[CMakeExtension("cryptnode._core")], cmdclass={"build_ext": CMakeBuild})
