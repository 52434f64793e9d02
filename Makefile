# tickplant: `make run` starts everything, `make test` runs every test tier.
# Both do all set-up themselves through `make install`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
JARS   := var/jars
POMS   := deploy/jars/pom.xml $(wildcard deploy/jars/*/pom.xml)

.PHONY: install install-sql run test test-unit lint check-tools clean-jars test-deps

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
	$(BIN)/pip install --quiet -c constraints.txt uv   # installs the pinned set in about half pip's time
	$(BIN)/uv pip install --python $(BIN)/python --quiet -c constraints.txt -e '.[dev]'
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

# The SQL tier's one-time builds (Trino unpacked from its tarball, Superset's own virtualenv), so that
# no test pays for them; `services start --sql` would otherwise do them on its first start.
install-sql: install
	$(BIN)/python -m tickplant.runtime.install

# The unit tier first and alone (it reports within a couple of minutes); then, while install-sql
# builds beside them (a SQL test that comes before it is done waits on the build's lock), every tier
# that talks to real servers (with the cluster tier: a Spark standalone master and two workers),
# on TEST_WORKERS pytest-xdist workers (0: in one process), each taking
# a whole file or server package at a time (tests/conftest.py).
# Results: var/junit-unit.xml, var/junit.xml; the 20 slowest tests of each run are printed.
PYTEST_REPORT := -p no:cacheprovider --durations=20
TEST_WORKERS ?= 2
test: install test-deps
	@mkdir -p var/logs
	@$(BIN)/pytest -m unit tests/unit $(PYTEST_REPORT) --junitxml=var/junit-unit.xml || exit 1; \
	$(MAKE) --no-print-directory install-sql > var/logs/install-sql.log 2>&1 & sql=$$!; \
	$(BIN)/pytest -m "integration or e2e or browser or cluster" tests -n $(TEST_WORKERS) $(PYTEST_REPORT) \
	  --junitxml=var/junit.xml; status=$$?; \
	wait $$sql || { tail -20 var/logs/install-sql.log; echo "make install-sql failed (var/logs/install-sql.log)"; exit 1; }; \
	exit $$status

test-unit: install
	$(BIN)/pytest -m unit tests/unit

lint: install
	$(BIN)/ruff check .
