# Everything a fresh machine needs: `make demo` and `make test` create .venv and install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test browser clean

$(BIN)/.installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/inspection-app demo

# The web app's browser tests drive Debian's chromium (never a downloaded browser). Installed when missing and
# this machine can (root, apt); otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) \
		|| echo "chromium not installed: the browser tests will skip"; }

test: install browser
	$(BIN)/python -m pytest

# Mutation testing (mutmut 3) of the modules that decide and store, in a copy under var/mutation: docs/mutation.md.
.PHONY: mutation
mutation: install
	$(BIN)/python tools/mutation.py

clean:
	rm -rf $(VENV) var build *.egg-info
