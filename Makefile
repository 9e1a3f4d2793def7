# Two commands for a newcomer:  `make demo`  and  `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA ?= cifar

.PHONY: demo test up install chromium
demo: $(VENV)/.installed  ## set up, start the embedded stack, run the CIFAR10 -> CIFAR100 chain
	$(BIN)/flashjobs demo --data $(DATA)

test: $(VENV)/.installed chromium  ## set up, lint, check the format and run the whole test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# The dashboard's tests drive Debian's Chromium (Playwright's own browser download needs the internet).
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

up: $(VENV)/.installed  ## set up and run the service (API, worker, Redis) in the foreground
	$(BIN)/flashjobs up

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed (set PYTHON=/path/to/python3.11)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@
