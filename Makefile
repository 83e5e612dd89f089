# Two commands matter: `make demo` (run the workflows for real) and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTHON ?= python3
REQS   := requirements.txt requirements-dev.txt requirements-torch.txt constraints.txt pyproject.toml
STAMP  := $(VENV)/.installed-$(shell cat $(REQS) | cksum | cut -d' ' -f1)

.PHONY: install env compose-smoke bench soak demo down stack-up stack-down stack-clean test test-fast lint format clean

$(STAMP): $(REQS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "uv==$$(grep -E '^uv==' constraints.txt | cut -d= -f3)"
	$(VENV)/bin/uv pip install --compile-bytecode --python $(PY) -r requirements.txt -r requirements-dev.txt -c constraints.txt -e .
	# the build's in-tree egg-info would be a second copy of the package's metadata for any
	# process with the checkout on sys.path (pytest): the plugin's entry point twice
	rm -rf mlops_pipelines.egg-info
	# torch through pip: pip sees the machine's local CPU wheel (see requirements-torch.txt)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-torch.txt -c constraints.txt
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)  ## create .venv and install the locked environment

compose-smoke: install  ## with a container engine: compose up, one night through it, down (volumes too)
	bash scripts/compose_smoke.sh

env:  ## write .env for docker compose with strong random secrets (keeps the values .env has)
	python3 scripts/make_env.py

demo: install  ## start Airflow + MLflow, replay 14 nights of 2013 through the whole loop, print a summary
	bash scripts/demo.sh

down:  ## stop what `make demo` started
	bash scripts/down.sh

stack-up: install  ## the docker-compose topology without containers (Celery, PostgreSQL, Redis, S3)
	$(PY) scripts/stack.py up

stack-down:  ## stop what `make stack-up` started (its databases stay; its S3 is in memory and goes)
	$(PY) scripts/stack.py down

stack-clean:  ## stop the stack and drop its databases, Redis DB and state folder
	$(PY) scripts/stack.py clean
	rm -rf .state/stack

bench: install  ## the nightly loop at 1M and 10M rows: DAGs vs the raw floor (benchmarks/README.md)
	$(PY) -m benchmarks --rows 1000000 10000000

soak: install  ## replay 2013 (365 nights, both models) with 24 seeded faults; invariants checked (docs/soak.md)
	$(PY) -m benchmarks.soak $(SOAK_ARGS)

test: install  ## the whole test suite (what CI runs)
	$(VENV)/bin/pytest

test-fast: install  ## unit tests only
	$(VENV)/bin/pytest -m unit

lint: install  ## ruff (incl. Airflow AIR rules), format check, import contracts, mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean: down  ## remove local state (lake, MLflow store, Airflow home)
	rm -rf .state
