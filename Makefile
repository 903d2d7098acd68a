# Everything a newcomer needs: `make run` serves on SQLite, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1

.PHONY: install run cluster rolling-restart test lint fuzz dummy bench bench-abuse clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,tools]"
	touch $(STAMP)

# Redocly CLI for the spec lint test; without npm the test skips and says so.
NODE_STAMP := node_modules/.package-lock.json
$(NODE_STAMP): package.json package-lock.json
	if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error; else echo "npm not found: the Redocly lint test will skip"; fi

install: $(STAMP) $(NODE_STAMP)

run: $(STAMP)
	$(BIN)/bucketlist serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

# Two instances behind HAProxy (apt-get install haproxy) on DATABASE_URL, in the foreground:
# make cluster PORT=8000 WORKERS=1; then, from another terminal, make rolling-restart.
cluster: $(STAMP)
	$(BIN)/python tools/cluster.py up --port $(PORT) --workers $(WORKERS)

rolling-restart: $(STAMP)
	$(BIN)/python tools/cluster.py rolling-restart

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check bucketlist tests tools
	$(BIN)/ruff format --check bucketlist tests tools

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis reports

# Demo data: make dummy ARGS="--buckets 100 --items 1000"
dummy: $(STAMP)
	$(BIN)/python tools/dummy.py $(ARGS)

# Schemathesis against a live server that the target starts itself.
fuzz: $(STAMP)
	$(BIN)/python tools/fuzz.py $(ARGS)

# Throughput and latency against two baselines: make bench ARGS="--quick"
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,tools,bench]"
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python tools/bench.py $(ARGS)

# What the worst request bodies (1 MiB built to be slow) cost, in-process: make bench-abuse ARGS="--runs 9"
bench-abuse: $(STAMP)
	$(BIN)/python tools/abuse_bench.py $(ARGS)
