# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEPS := $(VENV)/.deps-installed

.PHONY: run test bench lint format e2e-deps migrate clean agent

$(DEPS): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(DEPS)

migrate: $(DEPS)
	$(BIN)/python manage.py migrate --noinput

## The product on embedded defaults (or on DATABASE_URL/REDIS_URL when set), HTTP + WebSocket on 127.0.0.1:$(PORT).
run: migrate
	$(BIN)/python manage.py bootstrap_demo
	$(BIN)/python -m connect.serve --port $(PORT) --embedded-beat

## The whole test suite.
test: $(DEPS)
	$(BIN)/pytest

## Benchmarks against two baseline relays, measured in one run; rewrites docs/performance.md (about 10 minutes on
## 2 cores). Needs PostgreSQL on 127.0.0.1:5432 (BENCH_DATABASE_URL) and redis-server on the PATH.
bench: $(DEPS)
	$(BIN)/python -m bench.run

lint: $(DEPS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEPS)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Debian packages the end-to-end suites drive: headless Chromium, the coturn TURN server, and a virtual screen
## with the X tools the desktop agent's suite reads it back with.
e2e-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium coturn xvfb xdotool xterm xclip

## The desktop agent as the `connect-agent` command (in this virtualenv; `pip install ".[agent]"` elsewhere).
agent: $(DEPS)
	$(BIN)/pip install --quiet ".[agent]"
	@echo "installed: $(BIN)/connect-agent"

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
