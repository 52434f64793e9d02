# tickplant: `make run` starts everything, `make test` runs every test tier.
# Both do all set-up themselves through `make install`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
JARS   := var/jars
POMS   := deploy/jars/pom.xml $(wildcard deploy/jars/*/pom.xml)

.PHONY: install run test test-unit lint check-tools clean-jars browser-deps

install: check-tools $(VENV)/.installed $(JARS)/.resolved

check-tools:
	@command -v java >/dev/null 2>&1 || { echo "tickplant needs a JDK 17 or newer: install it (Debian: apt-get install openjdk-17-jdk-headless)"; exit 1; }
	@java -version 2>&1 | awk -F'"' '/version/ { split($$2, v, "."); if (v[1] < 17) { print "tickplant needs JDK 17 or newer, found " $$2 " (Debian: apt-get install openjdk-17-jdk-headless)"; exit 1 } }'
	@command -v mvn >/dev/null 2>&1 || { echo "tickplant needs Maven to fetch its JVM artifacts: install it (Debian: apt-get install maven)"; exit 1; }
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "tickplant needs Python 3.11 or newer as $(PYTHON)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { echo "tickplant needs Python 3.11 or newer, $(PYTHON) is older"; exit 1; }

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

# copy-dependencies into var/jars/<module>/; re-runs only when a pom changes (then from clean dirs)
$(JARS)/.resolved: $(POMS)
	rm -rf $(JARS)/kafka $(JARS)/cassandra $(JARS)/spark $(JARS)/trino
	mvn -B -q -f deploy/jars/pom.xml dependency:copy-dependencies
	@touch $@

run: install
	$(BIN)/tickplant up

# the browser tier drives Debian's chromium (Playwright uses it; no browser download)
browser-deps:
	command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium)

test: install browser-deps
	$(BIN)/pytest -m "unit or integration or e2e or browser" tests

test-unit: install
	$(BIN)/pytest -m unit tests

lint: install
	$(BIN)/ruff check .
