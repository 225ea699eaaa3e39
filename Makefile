# Set-up and everyday commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_TRIALS ?= 20
# Where pip finds torch. Empty: the ordinary package index, whose Linux torch wheels are the CUDA build (several GB).
# On a machine without a GPU: make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu (PyTorch's CPU-only wheels).
TORCH_INDEX ?=

.PHONY: install demo test check benchmark clean

install: $(VENV)/.installed

# torch is installed first, pinned and from TORCH_INDEX when given, so that the package's own `torch` requirement
# is already met and pip does not pick another build of it.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(BIN)/tune configs/digits_optuna.jsonnet search_spaces/digits.json --n-trials $(DEMO_TRIALS) --seed 0
	$(BIN)/tune show-trials --sort value

test: install
	$(BIN)/python -m pytest -q

# Lint (ruff check: zero findings; ruff format: one layout of code) and the package's layout properties (tools/check_layout.py prints each one).
check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/check_layout.py

clean:
	rm -rf $(VENV) results tune.db tune.db-wal tune.db-shm best_config.json
