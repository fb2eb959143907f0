# Two entry points for a fresh machine: `make demo` (set up + main job) and `make test` (set up + tests).
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first (a CPU build on this machine type), so that the resolver does not pull a large CUDA build.
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test,nir,plot,ray]"  # ray: the sweep test on a local Ray instance
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m sb3_spiking.demo

test: setup
	$(PY) -m ruff check sb3_spiking tests bench
	$(PY) -m ruff format --check sb3_spiking tests bench
	$(PY) -m pytest -q -n 2 -m "slow or not slow" tests  # everything, incl. the slow compile checks

.PHONY: setup demo test
