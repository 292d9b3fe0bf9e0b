# shopfloor — set-up and checks. Every target creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/shopfloor demo --headless $(DEMO_ARGS)

# The project's own modules compiled once up front: an editable install compiles none, and
# where PYTHONDONTWRITEBYTECODE is set (CI's machine sets it) every process — each test's
# `shopfloor` subprocess, each pytest worker — compiled them from source again (test_interrupt:
# 41 s of CPU, 33 s with them compiled). Python still reads the caches; __pycache__ is ignored.
COMPILED := agents engine gates storage telemetry tui tests bench

# Two pytest workers per core: most of the suite's time is spent waiting — on `shopfloor`
# subprocesses, their writer processes, sandboxed gate runs and simulated model latency — so
# one worker per core left the cores half idle (2 cores: 17:07 with 2 workers, 12:15 with 4,
# the same tests side by side). TEST_WORKERS=N overrides it.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) * 2 )))

test: $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 $(COMPILED) > /dev/null
	@$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests were collected"; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	@for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
