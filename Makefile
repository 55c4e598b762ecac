# Two commands do everything on a fresh Debian bookworm machine: `make demo` and `make test`.
# Each installs what is missing first (system packages, pgvector, the venv, the extension); fast when present.
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PY := .venv/bin/python

.PHONY: setup system venv extension db demo test bench lint clean-cluster

setup: system venv extension db

system:
	@bash scripts/install_system.sh

venv: system
	@bash scripts/install_venv.sh

extension: system
	@$(MAKE) -s -C sql PG_CONFIG=$(PG_CONFIG) install >/dev/null

db: venv extension
	@$(PY) -m mediatag.cli db start

demo: setup
	@$(PY) -m mediatag.cli demo

test: setup
	@$(PY) -m ruff check embedder plpython tests bench
	@$(PY) -m pytest -q

bench: setup
	@$(PY) bench/run_all.py

lint: venv
	@$(PY) -m ruff check embedder plpython tests bench
	@$(PY) -m ruff format --check embedder plpython tests bench

clean-cluster:
	-@$(PY) -m mediatag.cli db stop
	rm -rf .mediatag
