# Everything a fresh machine needs: `make demo` and `make test` create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test clean

$(BIN)/.installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/inspection-app demo

test: install
	$(BIN)/python -m pytest

# Mutation testing (mutmut 3) of the modules that decide and store, in a copy under var/mutation: docs/mutation.md.
.PHONY: mutation
mutation: install
	$(BIN)/python tools/mutation.py

clean:
	rm -rf $(VENV) var build *.egg-info
