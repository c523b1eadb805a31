# sfuctl — the two commands that matter:
#   make serve   set up (first use) and run the server on its defaults
#   make test    set up (first use) and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
VENV_STAMP := $(VENV)/.installed

.PHONY: setup system venv worker native web serve test lint unit bench-control bench-keyframes dist wheel clean

setup: system venv worker native web

system:
	@bash packaging/setup-system.sh

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml constraints.txt | system
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "[setup] installing Python dependencies into $(VENV)"
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev,dist]'
	@touch $@

# Builds (or takes from the cache) mediasoup-worker and generates the FlatBuffers code.
worker: $(VENV_STAMP)
	@$(BIN)/python packaging/worker/build.py

# The channel's native codec (optional: without a compiler the pure-Python codec is used).
native: worker
	@$(BIN)/python packaging/native/build.py

# The browser client: mediasoup-client bundled by esbuild into server/static (pinned in web/).
web: | system
	@cd web && node build.mjs --check 2>/dev/null || { npm ci --no-audit --no-fund --loglevel=error && node build.mjs; }

serve: setup
	$(BIN)/sfuctl serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The conformance suite runs a second time on the pure-Python codec (the fallback path).
test: setup lint
	$(BIN)/python -m pytest -q
	SFUCTL_CODEC=python $(BIN)/python -m pytest -q tests/conformance tests/integration/test_worker.py

unit: setup
	$(BIN)/python -m pytest -q tests/unit

# Control-plane throughput: our controller vs mediasoup's Node library, same worker binary.
bench-control: setup
	$(BIN)/python bench/control_plane.py

# Key-frame requests reaching a video producer while viewers join, by keyFrameRequestDelay.
bench-keyframes: setup
	$(BIN)/python bench/keyframes.py

# One file: Python, dependencies, web page, mediasoup-worker and its libraries in dist/sfuctl.
dist: setup
	$(BIN)/python packaging/pyinstaller/build.py --if-stale

# Wheel + sdist for pipx (the worker comes separately, via SFUCTL_WORKER_BIN).
wheel: setup
	$(BIN)/python -m build --outdir dist .

clean:
	rm -rf $(VENV) build dist server/media/bin server/media/fbs server/media/_codec* server/static web/node_modules .mypy_cache .ruff_cache .pytest_cache
