# Fraud Workbench. `make run` starts the app on the embedded default; `make test` runs the suite.
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
PYTHON ?= python3
HOST   ?= 127.0.0.1
PORT   ?= 8501

.PHONY: install run test lint format bench clean

install: $(VENV)/.installed

# Re-installs only when the pins or the project metadata change (idempotent).
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check uv==0.13.8
	$(UV) pip install -q --python $(PY) -r requirements.txt
	$(UV) pip install -q --python $(PY) --no-deps -e .
	touch $@

run: install
	$(VENV)/bin/workbench bootstrap
	$(VENV)/bin/streamlit run app/main.py --server.address $(HOST) --server.port $(PORT)

test: install lint
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) bench/train_quality.py --runs 5
	$(PY) bench/score_throughput.py --runs 5
	$(PY) bench/explain_latency.py

clean:
	rm -rf $(VENV) .workbench .pytest_cache .ruff_cache
