# Two commands do all the set-up: `make demo` and `make test`.
# Both create .venv and install the package (with its test extra) on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint format install clean

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m tf_explainer.cli.demo $(DEMO_FLAGS)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_FLAGS)

# Ruff, with the repository's ruff.toml: lint, and the formatting left as it is.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) runs
