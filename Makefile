# tickplant: `make run` starts everything, `make test` runs every test tier.
# Both do all set-up themselves through `make install`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
JARS   := var/jars
POMS   := deploy/jars/pom.xml $(wildcard deploy/jars/*/pom.xml)

.PHONY: install run test test-unit lint check-tools clean-jars test-deps

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

# Debian tools the tests drive: chromium (the browser tier, through Playwright; no browser download),
# systemd-analyze (unit files), docker-compose (the compose file), promtool (alert rules).
TEST_TOOLS := chromium:chromium systemd-analyze:systemd docker-compose:docker-compose promtool:prometheus

test-deps:
	@missing=""; for pair in $(TEST_TOOLS); do command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then apt-get update && apt-get install -y $$missing; fi

test: install test-deps
	$(BIN)/pytest -m "unit or integration or e2e or browser" tests

test-unit: install
	$(BIN)/pytest -m unit tests

lint: install
	$(BIN)/ruff check .
