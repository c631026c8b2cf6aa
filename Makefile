# Fraud Workbench. `make run` starts the app on the embedded default; `make test` runs the suite.
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
PYTHON ?= python3
HOST   ?= 127.0.0.1
PORT   ?= 8501

.PHONY: install run test lint format bench mutation lock clean

install: $(VENV)/.installed

# Re-installs only when the pins or the project metadata change (idempotent).
# Bytecode is compiled at install: this machine (and the image) set PYTHONDONTWRITEBYTECODE=1,
# so without it every command recompiles MLflow, SciPy and pandas (~3 s).
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check uv==0.13.8
	$(UV) pip install -q --compile-bytecode --python $(PY) -r requirements-dev.txt
	$(UV) pip install -q --compile-bytecode --python $(PY) --no-deps -e .
	touch $@

run: install
	$(VENV)/bin/workbench bootstrap --if-allowed
	$(VENV)/bin/streamlit run app/serve.py --server.address $(HOST) --server.port $(PORT)

# pytest runs on two processes (pytest-xdist), each taking a whole test file at a time
# (--dist loadfile), so a file's module-scoped fixtures (trained models, started servers)
# are built once, as in a plain run; each worker has its own session fixtures (its own
# SeaweedFS, mlflow server, PostgreSQL databases and homes). Much of the suite waits on
# servers and browsers, so two workers overlap that waiting. TEST_WORKERS=0 runs it in this
# process alone (see README.md, "Tests").
TEST_WORKERS ?= 2
test: install lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

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

# Mutation testing (slow, not in CI): see [tool.mutmut] in pyproject.toml and
# bench/README.md, "Mutation testing". Verdicts are kept in mutants/: a later run tests only
# new or changed mutants (a new test does not rerun old survivors). MUTANTS='core.explain*'
# reruns the mutants so named; `rm -rf mutants` for a clean run. Survivors are listed, then
# killed / covered per file (covered: at least one test reaches the mutant).
# `.venv/bin/mutmut show <name>` prints one.
MUTANTS ?=
mutation: install
	$(VENV)/bin/mutmut run --max-children 2 $(MUTANTS)
	$(VENV)/bin/mutmut export-cicd-stats
	$(VENV)/bin/mutmut results
	@$(VENV)/bin/mutmut results --all true | awk -F': ' '{ split($$1, a, /\.x(_|ǁ)/); \
		m = a[1]; gsub(/ /, "", m); if ($$2 != "no tests" && $$2 != "not checked") { c[m]++; \
		if ($$2 == "killed" || $$2 == "timeout") k[m]++ } } END { for (m in c) \
		printf "%s: %d / %d = %.1f%%\n", m, k[m], c[m], 100 * k[m] / c[m] }' | sort

# Re-pin after editing requirements*.in: the dev lock resolves everything together and the
# runtime lock (what the Docker image installs) takes the same versions.
lock: install
	$(UV) pip compile requirements-dev.in -o requirements-dev.txt --python-version 3.11 -q
	$(UV) pip compile requirements.in -o requirements.txt --python-version 3.11 -q \
		--constraint requirements-dev.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
