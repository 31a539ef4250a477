# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: lint demo test test-slow test-arm64 test-all docs docs-check firmware-tools clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[tf,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/resnet-tflite demo

# The tests run in TEST_WORKERS processes (pytest-xdist), one file per worker at a time: a file's fixtures (a
# trained model, a firmware library) are made once. Many tests wait on one core (a subprocess starting
# TensorFlow, QEMU, a linker), so two workers keep both cores busy.
TEST_WORKERS ?= 2
test: lint
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow and not arm64" $(PYTEST_ARGS)

# `make lint`: ruff's lint rules and format ([tool.ruff] in pyproject.toml); `ruff format .` writes the format.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The documentation site (mkdocs.yml, docs/): `make docs` serves it at http://127.0.0.1:8000 and rebuilds on
# every edit; `make docs-check` is the strict build that tests/test_docs.py runs in `make test` (a broken link or
# anchor, a page missing from nav, a docstring that does not match its function: each fails it).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve

docs-check: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow $(PYTEST_ARGS)

# The device side in an emulated Raspberry Pi userland (aarch64; root and the package registries, skipped
# with the reason shown otherwise). The userland is built once into $$ARM64_ROOT (/var/cache/arm64-userland).
test-arm64: $(STAMP)
	$(PY) -m pytest -q -rs -m "arm64 and not slow" $(PYTEST_ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Debian's firmware toolchain: the Cortex-M cross compiler, newlib, libstdc++ for it, QEMU's Arm boards
# (`resnet-tflite firmware` and tests/test_firmware.py need them). As root, or through sudo.
FIRMWARE_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
firmware-tools:
	@if command -v arm-none-eabi-g++ >/dev/null && command -v qemu-system-arm >/dev/null && \
	    arm-none-eabi-gcc -print-file-name=libstdc++_nano.a | grep -q /; then echo "firmware tools: installed"; \
	else $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q $(FIRMWARE_PACKAGES); fi

clean:
	rm -rf $(VENV) demo-output .pytest_cache
