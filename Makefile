# Two commands do everything on a fresh Debian bookworm machine: `make demo` and `make test`.
# Each installs what is missing first (system packages, pgvector, the venv, the extension); fast when present.
PY := .venv/bin/python
# The extension goes into this checkout's private copy of PostgreSQL (see embedder/mediatag/cluster.py), so
# checkouts never overwrite each other's install. For a server of your own: make -C sql install PG_CONFIG=...
PG_CONFIG ?= .mediatag/pg/lib/postgresql/15/bin/pg_config

.PHONY: setup system venv extension db demo test bench lint stubs clean-cluster

setup: system venv extension db

system:
	@bash scripts/install_system.sh

venv: system
	@bash scripts/install_venv.sh

extension: system venv
	@$(PY) -m mediatag.cli db prepare
	@$(MAKE) -s -C sql PG_CONFIG=$(abspath $(PG_CONFIG)) install >/dev/null

db: venv extension
	@$(PY) -m mediatag.cli db start

demo: setup
	@$(PY) -m mediatag.cli demo

test: setup
	@$(PY) -m ruff check embedder plpython tests bench datasette_plugins
	@# pg_regress against the embedded cluster, at the socket and port the cluster itself reports
	@eval "$$($(PY) -c 'from mediatag.cluster import default_cluster as d; c = d(); print(f"export PGHOST={c.socket_dir} PGPORT={c.port}")')"; \
	  PGUSER=postgres $(MAKE) -s -C sql PG_CONFIG=$(abspath $(PG_CONFIG)) installcheck
	@$(PY) -m pytest -q

# SCALE_SIZES: the keyframe counts bench/bench_scale.py measures (default 1000000,2000000; e.g. SCALE_SIZES=20000)
bench: setup
	@SCALE_SIZES=$(SCALE_SIZES) $(PY) bench/run_all.py

# The SDK's typed stub, from the catalog of a fresh install in a scratch database (tests/test_sdk_catalog.py checks it).
stubs: extension db
	@$(PY) -m mediatag.stubgen

lint: venv
	@$(PY) -m ruff check embedder plpython tests bench datasette_plugins
	@$(PY) -m ruff format --check embedder plpython tests bench datasette_plugins

clean-cluster:
	-@$(PY) -m mediatag.cli db remove || rm -rf .mediatag
