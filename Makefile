# cryptnode: the two commands of the README are `make test` and `make demo`.
PY      ?= /usr/bin/python3
BUILD   ?= _build/default
JOBS    ?= 2
CMAKE_FLAGS ?=
PYPATH  := $(CURDIR)/bindings/python

.PHONY: all setup configure build test test-cpp test-py test-exhaustive test-vm test-vm-smoke demo bench format clean help

all: build

help:
	@echo "make test    set-up if needed, build, run every test suite (ctest + pytest)"
	@echo "make demo    set-up if needed, build, run the demo"
	@echo "make build   build only;  make bench  run the benchmarks;  make format  clang-format"
	@echo "make test-exhaustive  the tests make test leaves out (the rest of the crash matrix)"

setup:
	@scripts/setup

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPython3_EXECUTABLE=$(PY) $(CMAKE_FLAGS)

configure: setup $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j$(JOBS)

test-cpp: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) --timeout 600

# The scenarios run under pytest-xdist, one worker per job (each worker's nodes and leak check
# isolated: bindings/python/cryptnode/pytest_plugin.py; docs/performance.md#parallel-test-runs).
# `make test PYTEST_ARGS=` (or PYTEST_ARGS="-n 0") runs them serially.
PYTEST_ARGS ?= -n $(JOBS)
# `make test` runs the crash matrix's representative subset; `make test-exhaustive` runs the tests
# marked `exhaustive` (the whole crash matrix, scenarios/test_crash_matrix.py).
test-py: build
	cd scenarios && PYTHONPATH=$(PYPATH) $(PY) -m pytest -q -p no:cacheprovider -m "not exhaustive" $(PYTEST_ARGS) .

test-exhaustive: build
	cd scenarios && PYTHONPATH=$(PYPATH) $(PY) -m pytest -q -p no:cacheprovider -m exhaustive $(PYTEST_ARGS) .

test-vm: build
	cd vmtests && PYTHONPATH=$(PYPATH) $(PY) -m pytest -q -p no:cacheprovider -m vm .

# The bounded VM subset `make test` runs (two guest boots); `make test-vm` runs them all.
test-vm-smoke: build
	cd vmtests && PYTHONPATH=$(PYPATH) $(PY) -m pytest -q -p no:cacheprovider -m vm_smoke .

test: test-cpp test-py test-vm-smoke

demo: build
	PYTHONPATH=$(PYPATH) $(PY) -m cryptnode demo

bench: setup
	cmake -S . -B _build/bench -DCMAKE_BUILD_TYPE=Release -DCRYPTNODE_BENCH=ON -DPython3_EXECUTABLE=$(PY)
	cmake --build _build/bench -j$(JOBS)
	scripts/bench _build/bench

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf _build build dist bindings/python/cryptnode/_core*.so

# Fuzzing (fuzz/README.md): clang + libFuzzer under ASan/UBSan in _build/fuzz, every target one
# after the other; a crash, leak, OOM or timeout fails the run and is kept under
# _build/fuzz/artifacts/<target>/. `make fuzz` gives each target FUZZ_SECONDS, `make fuzz-smoke`
# builds them and runs each for FUZZ_SMOKE_SECONDS.
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 5
.PHONY: fuzz fuzz-smoke

fuzz:
	@scripts/setup --fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(JOBS) fuzz/run

fuzz-smoke:
	@scripts/setup --fuzz
	FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) FUZZ_JOBS=$(JOBS) fuzz/run
