# K1 Song Analysis — every entry point a developer or CI needs.
# The virtual environment is (re)built whenever pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Install output goes to INSTALL_LOG; the terminal gets one line per step (the tail on failure).
INSTALL_LOG := var/install.log
STEP   := @bash tools/install_step.sh $(INSTALL_LOG)

.PHONY: venv run test test-unit test-integration lint fmt eval eval-real bench-analyzer ensure-rabbitmq clean help

help:
	@echo "make run    - start the whole stack on this machine and send the example song through it"
	@echo "make test   - create .venv, run make lint, start what the tests need and run every test"
	@echo "make lint   - ruff format --check, ruff check and mypy (the gate make test runs first)"
	@echo "make fmt    - apply ruff's fixes and ruff format to the tree"
	@echo "make eval   - beat/downbeat/tempo accuracy on a synthetic corpus vs plain librosa (VARIANTS=n: n re-seeded renditions of every song instead)"
	@echo "make eval-real - the same on annotated real recordings (DATA=dir, default ../shared/realeval; CROP_S=s [CROP_STEP=s CROP_START=s MAX_CROPS=n]: excerpts of each instead)"
	@echo "make bench-analyzer - analysis speed, memory and cold start vs plain librosa"
	@echo "make lock   - rewrite the hash-pinned requirements/*.lock from pyproject.toml (UPGRADE=1: newest allowed)"
	@echo "make validate-deploy - compose, Dockerfile and Kubernetes manifests checked offline (images pinned by digest)"
	@echo "make asyncapi - write the AsyncAPI document of the events (OUT=file, default var/asyncapi.json)"

venv: $(STAMP)

# Dependencies come from the hash-pinned lock (requirements/dev.lock: every extra, the same pins
# as the images' locks), never from pyproject's ranges; `make lock` rewrites the locks after a
# change to pyproject.toml, and tests/unit/test_lock.py fails until it has been run.
$(STAMP): pyproject.toml requirements/dev.lock
	@test -x $(PY) || bash tools/install_step.sh $(INSTALL_LOG) "create $(VENV)" $(PYTHON) -m venv $(VENV)
	$(STEP) "upgrade pip" $(PY) -m pip install --upgrade pip
	$(STEP) "install the locked dependencies (requirements/dev.lock) into $(VENV)" $(PY) -m pip install --require-hashes --no-deps -r requirements/dev.lock
	$(STEP) "install the project into $(VENV)" $(PY) -m pip install --no-deps -e .
	@touch $(STAMP)

# Rewrite requirements/{dev,service,analysis}.lock from pyproject.toml with uv (UPGRADE=1: move
# every pin to the newest release the ranges allow). Needs PyPI; the check needs nothing.
UV_VERSION := 0.13.9
.PHONY: lock lock-check
lock:
	@test -x $(PY) || bash tools/install_step.sh $(INSTALL_LOG) "create $(VENV)" $(PYTHON) -m venv $(VENV)
	$(STEP) "install uv $(UV_VERSION)" $(PY) -m pip install "uv==$(UV_VERSION)"
	$(PY) -m tools.lock compile $(if $(UPGRADE),--upgrade,)

lock-check:
	$(PY) -m tools.lock check

ensure-rabbitmq:
	@bash tools/ensure_rabbitmq.sh

lint: venv
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

fmt: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: venv lint ensure-rabbitmq
	@$(MAKE) --no-print-directory e2e-deps || echo "warning: chromium could not be installed; the browser test will say so"
	@$(MAKE) --no-print-directory load-deps || echo "warning: locust could not be installed; tests/unit/test_locustfile.py will say so"
	$(PY) -m pytest -q -p no:cacheprovider

test-unit: venv
	$(PY) -m pytest -q tests/unit

test-integration: venv ensure-rabbitmq
	$(PY) -m pytest -q tests/integration

clean:
	rm -rf $(VENV) var .pytest_cache

# ---- contracts: the AsyncAPI document of the event bus (also served at /schema/asyncapi.json)
.PHONY: asyncapi

asyncapi: venv
	$(PY) -m contracts.asyncapi -o $(or $(OUT),var/asyncapi.json)

# ---- deployment (Docker, compose, Kubernetes) -------------------------------------------
.PHONY: up down validate-deploy

up:
	docker compose up -d --build

down:
	docker compose down

validate-deploy: venv
	$(PY) -m tools.deploycheck

bench-analyzer: venv
	$(PY) tools/bench/analyzer.py

bench-validator: venv
	$(PY) tools/bench/validator.py

run: venv ensure-rabbitmq
	$(PY) -m k1.run

eval-deps: venv
	$(STEP) "install the eval extra" $(PY) -m pip install -e ".[eval]"
	@if ! command -v fluidsynth >/dev/null 2>&1 || [ ! -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then \
		bash tools/install_step.sh $(INSTALL_LOG) "apt-get install fluidsynth fluid-soundfont-gm" \
		  sh -c 'apt-get update -q && apt-get install -y -q fluidsynth fluid-soundfont-gm'; fi

# VARIANTS=n scores n re-seeded renditions of every song (other compositions, tempo x0.93/1.07/1.0)
eval: eval-deps
	$(PY) -m tools.eval.run $(if $(VARIANTS),--variants $(VARIANTS),)

# real, human-annotated recordings: ../shared/realeval unless DATA=dir (exits 2 if missing);
# CROP_S=20 scores 20 s excerpts of each (up to six, every 2 s) instead of whole recordings;
# CROP_STEP=s, CROP_START=s and MAX_CROPS=n choose other excerpts
eval-real: venv
	$(PY) -m tools.eval.real $(if $(DATA),--data $(DATA),) $(if $(CROP_S),--crop-s $(CROP_S),) \
	  $(if $(CROP_STEP),--crop-step-s $(CROP_STEP),) \
	  $(if $(CROP_START),--crop-start-s $(CROP_START),) $(if $(MAX_CROPS),--max-crops $(MAX_CROPS),)

bench-pipeline: venv ensure-rabbitmq
	$(PY) tools/bench/pipeline.py

# ---- gateway: API load benchmark, browser test dependencies ------------------------------
.PHONY: bench-api e2e-deps

bench-api: venv ensure-rabbitmq
	$(PY) tools/bench/api.py

e2e-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  bash tools/install_step.sh $(INSTALL_LOG) "apt-get install chromium chromium-driver" \
	    sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver'

# ---- load test with Locust: the seeds' profile (tools/bench/locustfile.py) -----------------
# Against a running stack (`make run` in another terminal); bounded by LOCUST_TIME.
.PHONY: bench-locust load-deps
LOCUST_USERS ?= 1000
LOCUST_TIME  ?= 60s
LOAD_STAMP   := $(VENV)/.load-installed

load-deps: $(LOAD_STAMP)

$(LOAD_STAMP): $(STAMP)
	$(STEP) "install the load extra (locust)" $(PY) -m pip install -e ".[load]"
	@$(PY) -c "import importlib.util as u, sys; sys.exit(u.find_spec('locust') is None)" || \
	  { echo "  locust is not installed: is the load extra in pyproject.toml?"; exit 1; }
	@touch $@

bench-locust: load-deps
	$(VENV)/bin/locust -f tools/bench/locustfile.py --headless --only-summary \
	  --users $(LOCUST_USERS) --spawn-rate 50 --run-time $(LOCUST_TIME) --stop-timeout 5

# ---- devices: WebSocket benchmark (gateway vs a bare Litestar echo) -----------------------
.PHONY: bench-ws

bench-ws: venv ensure-rabbitmq
	$(PY) tools/bench/ws.py

# ---- telemetry: the service alone through RabbitMQ, 1, 2 and 4 processes ------------------
.PHONY: bench-telemetry

bench-telemetry: venv ensure-rabbitmq
	$(PY) tools/bench/telemetry.py $(if $(DEVICES),--devices $(DEVICES),) $(if $(RATE_HZ),--rate-hz $(RATE_HZ),)

# ---- reliability: fault injection on the real stack, bounded soak -------------------------
# tests/faults is also part of `make test` (pytest's testpaths), so CI runs it.
.PHONY: test-faults soak

test-faults: venv ensure-rabbitmq
	$(PY) -m pytest -q -p no:cacheprovider tests/faults

soak: venv ensure-rabbitmq
	$(PY) tools/soak.py $(if $(MINUTES),--minutes $(MINUTES),)
