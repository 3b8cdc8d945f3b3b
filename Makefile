# Two commands do all the set-up: `make demo` and `make test`.
# Both create .venv and install the package (with its test extra) on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m tf_explainer.demo $(DEMO_FLAGS)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_FLAGS)

clean:
	rm -rf $(VENV) runs
