# evacops: two commands on a fresh machine with Python 3.11 and make.
#   make demo   set up .venv, plan the bundled Kabul 2021 scenario into out/, then build a demo
#               operation (2,000 generated people) in out/demo and serve it on
#               http://127.0.0.1:8000 with one login per role printed; Ctrl-C stops it
#   make test   set up .venv and run the test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_PORT ?= 8000

.PHONY: demo test lint bench clean setup

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,parquet]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/evacops validate scenarios/kabul-2021.yaml
	$(BIN)/evacops plan scenarios/kabul-2021.yaml --out out/kabul-2021
	$(BIN)/evacops demo --people 2000 --folder out/demo --port $(DEMO_PORT) --plan out/kabul-2021

# on every core, a test file to a worker (its module fixtures, e.g. the Kabul plan, built once)
# (bytecode compiled first: where PYTHONDONTWRITEBYTECODE is set, every command line the tests
# start would otherwise compile evacops again, about 0.2 s each)
test: $(STAMP)
	$(BIN)/python -m compileall -q evacops tests >/dev/null
	$(BIN)/python -m pytest -q -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy evacops
	$(BIN)/python tools/check_size.py

bench: $(STAMP)
	$(BIN)/python benchmarks/plan_kabul.py
	$(BIN)/python benchmarks/plan_vs_pulp.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
