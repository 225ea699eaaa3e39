# Set-up and everyday commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_TRIALS ?= 20

.PHONY: install demo test benchmark clean

install: $(VENV)/.installed

# torch is installed first and pinned, so that resolving the package never pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(BIN)/tune configs/digits_optuna.jsonnet search_spaces/digits.json --n-trials $(DEMO_TRIALS) --seed 0
	$(BIN)/tune show-trials --sort value

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) results tune.db tune.db-wal tune.db-shm best_config.json
