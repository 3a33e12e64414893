# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Always pinned: an unpinned torch pulls the multi-GB CUDA build on a CPU machine.
TORCH := torch==2.13.0

.PHONY: demo test lint system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# What `parse()` needs on a laptop: the core and the classical detector.
$(VENV)/.installed-core: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[classical]"
	touch $@

# Everything the test suite exercises: InternVL on CPU, training (DeepSpeed runs its ZeRO stages
# on its CPU accelerator), data engine, dev tools. DeepSpeed ships as source and builds against the
# torch already here (an isolated build would pull an unpinned, CUDA torch), without its CUDA ops.
$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev,classical,train]"
	$(BIN)/pip install -q "setuptools>=77" wheel
	DS_BUILD_OPS=0 $(BIN)/pip install -q --no-build-isolation -e ".[deepspeed]"
	touch $@ $(VENV)/.installed-core

system-deps:
	@scripts/install-system-deps.sh

# The main job on a bundled chart: parse the image (classical CPU detector), write its graph as
# JSON, Mermaid and an overlay PNG under out/demo, and print the Mermaid.
DEMO_CHART := fixtures/charts/decision-labels.png
demo: $(VENV)/.installed-core
	$(BIN)/flowparse parse $(DEMO_CHART) -o out/demo -f json,mermaid,overlay --no-progress
	@echo "--- out/demo/$(basename $(notdir $(DEMO_CHART))).mmd (overlay: out/demo/*.overlay.png)"
	@cat out/demo/$(basename $(notdir $(DEMO_CHART))).mmd

test: $(VENV)/.installed-dev system-deps
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check flowparse converters training tests benchmarks

clean:
	rm -rf $(VENV) tools/mermaid/node_modules
